r"""Manufactured solutions: pick u*, v, A; the source s = d_t u* - v.grad u* - tr(A Hess u*)
makes u* an exact solution of d_t u = v.grad u + tr(A Hess u) + s."""

from __future__ import annotations

import sympy as sp

from .checks import decide_nonnegative, decide_psd, principal_minors
from .errors import TheoryError
from .exact import ExactSolution


def manufacture(u_star: sp.Expr, velocity: sp.Matrix | list, diffusion: sp.Matrix | list,
                x: tuple[sp.Symbol, ...], t: sp.Symbol, name: str = "manufactured"
                ) -> ExactSolution:
    """The solution u* with the source term that makes it exact (verify() checks it).

    A diffusion shown not positive semi-definite (a negative principal minor, which sympy
    decides for numbers and for symbols with their assumptions) is refused: (CD) with it is
    backward diffusion, ill-posed, outside axiom A4; an undecided symbolic A is accepted."""
    v = sp.Matrix(velocity)
    A = sp.Matrix(diffusion)
    d = len(x)
    if v.shape != (d, 1):
        raise TheoryError(f"velocity has shape {v.shape}, expected ({d}, 1) for x = {x}")
    if A.shape != (d, d):
        raise TheoryError(f"diffusion has shape {A.shape}, expected ({d}, {d})")
    if sp.simplify(A - A.T) != sp.zeros(d, d):
        raise TheoryError(f"diffusion {A.tolist()} is not symmetric; pass (A + A^T)/2")
    if decide_psd(A) is False:
        bad = next(m for m in principal_minors(A) if decide_nonnegative(m) is False)
        raise TheoryError(f"diffusion {A.tolist()} is not positive semi-definite (principal "
                          f"minor {bad} < 0): backward diffusion, ill-posed (axiom A4)")
    grad = sp.Matrix([sp.diff(u_star, xi) for xi in x])
    source = sp.diff(u_star, t) - (v.T * grad)[0] - (A * sp.hessian(u_star, x)).trace()
    return ExactSolution(name, tuple(x), t, u_star, v, A, source=sp.simplify(source),
                         initial=u_star.subs(t, 0), description=f"u* = {u_star}")
