"""A verified statement (:class:`Check`) and the sympy zero test every module uses."""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp


@dataclass(frozen=True)
class Check:
    """One verified statement: what, whether it held, and the sympy evidence (the expected and
    the computed expression, as strings, where the check compares two)."""

    name: str
    passed: bool
    detail: str = ""
    axiom: str = ""
    expected: str = ""
    computed: str = ""


def is_zero(expr: sp.Expr | sp.MatrixBase) -> bool:
    """True when expr simplifies to 0 (entrywise for matrices)."""
    if isinstance(expr, sp.MatrixBase):
        return all(sp.simplify(e) == 0 for e in expr)
    return sp.simplify(expr) == 0
