"""A verified statement (:class:`Check`) and the decision helpers every module uses.

sympy answers a question about an expression in three ways: True, False, or None (it cannot
decide). The helpers here keep the three apart (``decide_*`` return True / False / None) and the
two-valued forms (``is_zero``, ``is_nonnegative``, ``is_psd``) say True only when sympy proved it:
an undecided question never passes a check.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from functools import lru_cache

import sympy as sp

#: the word a check's detail starts with when sympy could not decide it
UNDECIDED = "undecided"


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

    @property
    def undecided(self) -> bool:
        """True when the check failed because sympy could not decide it (not a refutation)."""
        return not self.passed and self.detail.startswith(UNDECIDED)


@lru_cache(maxsize=4096)
def _simplified(expr: sp.Basic) -> sp.Basic:
    return sp.simplify(expr)


def simplified(expr: sp.Basic | sp.MatrixBase) -> sp.Basic | sp.MatrixBase:
    """sp.simplify(expr) (entrywise for a matrix), remembered per expression: a pure function
    of it, and the catalogue's techniques share most of their coefficients and check and show
    the same expressions again (463 calls on 69 distinct expressions at d = 2, 823 on 131 at
    d = 3)."""
    if isinstance(expr, sp.MatrixBase):
        return expr.applyfunc(simplified)
    return _simplified(sp.sympify(expr))


def reduced(expr: sp.Expr) -> sp.Expr:
    """expr in a form that is 0 exactly when sympy shows expr identically 0: 0 when its
    expansion cancels; a rational function's cancelled quotient p/q (canonical: 0 iff p = 0,
    where sp.simplify took 9 s on a rational gap of degree 6 in 4 symbols); anything else
    sp.simplify's form."""
    e = sp.sympify(expr)
    ex = sp.expand(e)
    if ex == 0:
        return sp.Integer(0)
    if ex.is_rational_function() is True:
        return sp.cancel(ex)
    return simplified(e)


def decide_zero(expr: sp.Expr) -> bool | None:
    """True: expr is identically 0 (it simplifies to 0); False: it is shown non-zero (sympy's
    own ``is_zero`` says False, a constant evaluates away from 0, or an expression of plain
    symbols is non-zero at a rational point); None: sympy cannot tell (undefined functions)."""
    e = reduced(expr)
    if e == 0:
        return True
    if e.is_zero is False:
        return False
    if e.is_number:  # a constant sympy cannot reduce: evaluate it to 30 digits
        value = sp.N(e, 30)
        return False if value.is_number and abs(value) > sp.Float("1e-25") else None
    if e.atoms(sp.core.function.AppliedUndef, sp.Derivative):
        return None  # nothing can be substituted for g(x): leave it undecided
    for shift in (0, 1):
        point = {s: sp.Rational(3 + 2 * i + shift, 7 + i) for i, s in
                 enumerate(sorted(e.free_symbols, key=str))}
        v = e.subs(point)
        if v.is_number and v.is_finite and abs(sp.N(v, 30)) > sp.Float("1e-25"):
            return False
    return None


def is_zero(expr: sp.Expr | sp.MatrixBase) -> bool:
    """True only when expr reduces to 0 (:func:`reduced`, entrywise for matrices): not shown
    zero -> False (undecided never passes)."""
    if isinstance(expr, sp.MatrixBase):
        return all(reduced(e) == 0 for e in expr)
    return reduced(expr) == 0


def decide_nonnegative(expr: sp.Expr) -> bool | None:
    """True: expr >= 0 for every value of its symbols (as sympy's assumptions show); False: it
    is shown negative somewhere (a negative number, or sympy says so); None: undecided."""
    e = simplified(expr)
    if e.is_nonnegative:
        return True
    if e.is_negative or (e.is_nonnegative is False and e.is_real):
        return False
    if e.is_number:
        value = sp.N(e, 30)
        if value.is_real:
            return bool(value >= 0)
    return None


def is_nonnegative(expr: sp.Expr) -> bool:
    """True only when expr is shown >= 0; undecided -> False."""
    return decide_nonnegative(expr) is True


def principal_minors(A: sp.MatrixBase) -> list[sp.Expr]:
    """Every principal minor of A (all index subsets, not only the leading ones: Sylvester's
    leading minors decide definiteness, not semi-definiteness; diag(0, -1) passes them)."""
    d = A.shape[0]
    return [sp.factor(A.extract(list(idx), list(idx)).det())
            for k in range(1, d + 1) for idx in itertools.combinations(range(d), k)]


def decide_psd(A: sp.MatrixBase, minors: list[sp.Expr] | None = None) -> bool | None:
    """A symmetric matrix is positive semi-definite iff all its principal minors are >= 0.
    True / False as shown (a non-symmetric A is False), None when a minor is undecided.
    ``minors``: A's principal minors, when the caller has them already."""
    if not is_zero(A - A.T):
        return False
    answers = [decide_nonnegative(m) for m in (principal_minors(A) if minors is None
                                               else minors)]
    if any(a is False for a in answers):
        return False
    return True if all(a is True for a in answers) else None


def decision_check(name: str, answer: bool | None, detail: str = "", axiom: str = "",
                   expected: str = "", computed: str = "") -> Check:
    """A check from a three-valued answer: None fails with the detail 'undecided: ...'."""
    if answer is None:
        detail = f"{UNDECIDED}: sympy could not decide" + (f" ({detail})" if detail else "")
    return Check(name, answer is True, detail, axiom, expected, computed)
