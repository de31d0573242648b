r"""The only place where sympy becomes numpy: vectorised callables for numerics.

Conventions match numerics: a scalar field is ``f(coords, t) -> array`` broadcast to the shape of
the coordinate arrays; a vector field returns shape (d, ...); a matrix field (d, d, ...). Constant
expressions are broadcast, so every callable returns a full array.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import lru_cache

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


def expression_function(expr: sp.Expr, args: Sequence[sp.Symbol]) -> Callable[..., float]:
    """numpy callable f(*values) -> float of a closed-form expression (bounds, constants)."""
    f = sp.lambdify(list(args), expr, modules=["numpy", {"erf": _erf}])
    return lambda *values: float(f(*values))


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


def flow_matrices(B: np.ndarray, A: np.ndarray, t: float) -> tuple[np.ndarray, np.ndarray]:
    """Phi(t) = exp(B t) and Sigma(t) = int_0^t exp(B s) 2A exp(B^T s) ds (Van Loan: the
    exponential of [[-B, 2A], [0, B^T]] t has blocks [[., G], [0, exp(B^T t)]] and
    Sigma = exp(B^T t)^T G)."""
    from scipy.linalg import expm

    d = B.shape[0]
    M = np.zeros((2 * d, 2 * d))
    M[:d, :d], M[:d, d:], M[d:, d:] = -B, 2 * A, B.T
    E = expm(M * t)
    Sigma = E[d:, d:].T @ E[:d, d:]
    return expm(B * t), (Sigma + Sigma.T) / 2


def linear_drift_callables(form) -> dict[str, Field]:
    """u, grad u (shape (d, ...)), velocity and diffusion of a theory.linear_family form.

    The closed form F(x, Phi, Sigma) is lambdified once; Phi(t), Sigma(t) come from
    :func:`flow_matrices` at each call.
    """
    d = form.dim
    phi = [form.Phi[i, j] for i in range(d) for j in range(d)]
    upper = np.triu_indices(d)
    sig = [form.Sigma[i, j] for i, j in zip(*upper, strict=True)]
    args = [*form.x, *phi, *sig]
    u = sp.lambdify(args, form.expr, modules="numpy")
    grads = [sp.lambdify(args, sp.diff(form.expr, xi), modules="numpy") for xi in form.x]
    B = np.array(form.B.tolist(), dtype=float)
    A = np.array(form.A.tolist(), dtype=float)

    @lru_cache(maxsize=8)  # the fields at one t share one matrix exponential
    def matrices(time: float) -> tuple[np.ndarray, np.ndarray]:
        return flow_matrices(B, A, time)

    def call(f):
        def field(coords: Sequence[np.ndarray], time: float) -> np.ndarray:
            coords = [np.asarray(c, dtype=float) for c in coords]
            shape = np.broadcast_shapes(*[c.shape for c in coords])
            P, S = matrices(float(time))
            out = f(*coords, *P.ravel(), *S[upper])
            return np.broadcast_to(np.asarray(out, dtype=float), shape).copy()
        return field

    grad_fields = [call(g) for g in grads]
    return {
        "u": call(u),
        "grad": lambda coords, time: np.stack([g(coords, time) for g in grad_fields]),
        "velocity": lambda coords, time: np.einsum("ij,j...->i...", B, np.stack(
            np.broadcast_arrays(*[np.asarray(c, dtype=float) for c in coords]))),
        "diffusion": lambda coords, time: A,
    }
