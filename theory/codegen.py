r"""The only place where sympy becomes numpy: vectorised callables for numerics.

Conventions match numerics: a scalar field is ``f(coords, t) -> array`` broadcast to the shape of
the coordinate arrays; a vector field returns shape (d, ...); a matrix field (d, d, ...). Constant
expressions are broadcast, so every callable returns a full array.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import sympy as sp

from .exact import ExactSolution

Field = Callable[[Sequence[np.ndarray], float], np.ndarray]


def scalar_field(expr: sp.Expr, x: Sequence[sp.Symbol], t: sp.Symbol) -> Field:
    """numpy callable (coords, t) -> expr evaluated, broadcast to the coordinates' shape."""
    f = sp.lambdify([*x, t], expr, modules=["numpy", {"erf": _erf}])

    def field(coords: Sequence[np.ndarray], time: float) -> np.ndarray:
        coords = [np.asarray(c, dtype=float) for c in coords]
        shape = np.broadcast_shapes(*[c.shape for c in coords])
        return np.broadcast_to(np.asarray(f(*coords, float(time)), dtype=float), shape).copy()

    return field


def vector_field(exprs: sp.Matrix, x: Sequence[sp.Symbol], t: sp.Symbol) -> Field:
    """numpy callable (coords, t) -> array of shape (k, ...) for a k-vector of expressions."""
    parts = [scalar_field(e, x, t) for e in sp.Matrix(exprs)]
    return lambda coords, time: np.stack([p(coords, time) for p in parts])


def matrix_field(M: sp.Matrix, x: Sequence[sp.Symbol], t: sp.Symbol) -> Field:
    """numpy callable (coords, t) -> array of shape (d, d, ...)."""
    M = sp.Matrix(M)
    parts = [[scalar_field(M[i, j], x, t) for j in range(M.shape[1])] for i in range(M.shape[0])]
    return lambda coords, time: np.stack(
        [np.stack([p(coords, time) for p in row]) for row in parts])


def _erf(z):
    from scipy.special import erf

    return erf(z)


def solution_callables(sol: ExactSolution) -> dict[str, Field]:
    """u, velocity, diffusion, source and initial condition of an exact solution as callables."""
    init = sol.initial if sol.initial is not None else sol.u
    return {
        "u": scalar_field(sol.u, sol.x, sol.t),
        "velocity": vector_field(sol.velocity, sol.x, sol.t),
        "diffusion": matrix_field(sol.diffusion, sol.x, sol.t),
        "source": scalar_field(sol.source, sol.x, sol.t),
        "initial": scalar_field(init, sol.x, sol.t),
    }
