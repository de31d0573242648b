r"""Robustness and Rademacher-complexity bounds (docs/theory.md sections 4, 5), as formulas.

Symbolic derivations carry their checks; the numeric functions are what validation code calls.
Each bound states its assumptions in ``ASSUMPTIONS``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache

import numpy as np
import sympy as sp

from .checks import Check, decide_nonnegative, decision_check, is_zero
from .errors import TheoryError

ASSUMPTIONS: dict[str, str] = {
    "heat_lipschitz": "pure diffusion v = 0, A = sigma^2 I / 2 over time T (heat semigroup, "
    "randomized smoothing); |f| <= M (or f in [0, 1]); any dimension (the bound is along the "
    "gradient direction, a 1-D Gaussian convolution).",
    "maximum_principle": "(CD) with A >= 0 and no zeroth-order term (axioms A4, A6): "
    "min f <= u(., t) <= max f and sup|u - u~| <= sup|f - f~|.",
    "transport_lipschitz": "A = 0: Lip(u(., T)) <= exp(L_v T) Lip(f), L_v the Lipschitz constant "
    "of v in x; unbounded when f is a hard (discontinuous) classifier.",
    "linear_rademacher": "class {x -> w.x : |w|_2 <= B}; exact supremum by Cauchy-Schwarz.",
    "golowich_rakhlin_shamir": "Golowich-Rakhlin-Shamir 2018, Thm 1: depth-D network "
    "x -> W_D s(W_{D-1} ... s(W_1 x)), s 1-Lipschitz, positive-homogeneous, elementwise (ReLU), "
    "no biases, scalar output, |x_i|_2 <= B, |W_j|_F <= M_F(j).",
    "bartlett_foster_telgarsky": "Bartlett-Foster-Telgarsky 2017 spectral complexity R_A = "
    "(prod_i rho_i |A_i|_sigma) (sum_i |A_i^T|_{2,1}^{2/3} / |A_i|_sigma^{2/3})^{3/2} (reference "
    "matrices M_i = 0); rho_i-Lipschitz activations, no biases; the margin bound's constants "
    "(Lemma A.8: 4/m^{3/2} + 18 ln(m) sqrt(ln(2 W^2)) |X|_F R_A / (gamma m)) are as recalled from "
    "the paper and were not re-derived here.",
    "path_norm": "l2 path norm of a bias-free ReLU network: sqrt(sum over input-output paths of "
    "prod of squared weights) = sqrt(1^T |W_D|^2 ... |W_1|^2 1) with entrywise squares.",
    "jensen_diffused": "U_sigma = {x -> E f(X_T^x)}: R_S(U_sigma) <= E_omega R_{S_omega}(F) "
    "(sup of an expectation <= expectation of the sup).",
}


@dataclass(frozen=True)
class HeatLipschitz:
    """Derived heat-semigroup Lipschitz constants and their checks."""

    bounded: sp.Expr  # for |f| <= M
    unit_interval: sp.Expr  # for f in [0, 1]
    checks: tuple[Check, ...]
    symbols: tuple[sp.Symbol, sp.Symbol, sp.Symbol] = ()  # (sigma, T, M)


def changes_sign_at_zero(f: sp.Expr, x: sp.Symbol) -> bool:
    """f >= 0 for every x < 0 and f <= 0 for every x > 0, decided with a positive symbol y at
    x = -y and x = y (not at two chosen points): then int |f| = int_{<0} f - int_{>0} f."""
    y = sp.Symbol("y_sign", positive=True)
    return decide_nonnegative(f.subs(x, -y)) is True and decide_nonnegative(-f.subs(x, y)) is True


@cache
def derive_heat_lipschitz() -> HeatLipschitz:
    """Lip(G_tau * f) <= sup|f| int |G_tau'| = 2 G_tau(0) sup|f|, tau = sigma sqrt(T).

    Cached: :func:`heat_lipschitz_bound` evaluates these derived expressions."""
    x = sp.Symbol("x", real=True)
    sigma, T, M = sp.symbols("sigma T M", positive=True)
    tau = sigma * sp.sqrt(T)
    G = sp.exp(-(x**2) / (2 * tau**2)) / (tau * sp.sqrt(2 * sp.pi))
    dG = sp.diff(G, x)
    left = sp.integrate(dG, (x, -sp.oo, 0))  # G' >= 0 on x < 0
    right = sp.integrate(-dG, (x, 0, sp.oo))
    l1 = sp.simplify(left + right)
    bounded = sp.simplify(M * l1)
    unit = sp.simplify(l1 / 2)  # f - 1/2 has |.| <= 1/2 and the same gradient
    want_b = M * sp.sqrt(2 / sp.pi) / (sigma * sp.sqrt(T))
    want_u = 1 / (sigma * sp.sqrt(2 * sp.pi * T))
    sign_ok = changes_sign_at_zero(dG, x)
    step = (1 + sp.erf(x / (tau * sp.sqrt(2)))) / 2  # G_tau * 1{x > 0}
    attained = is_zero(sp.diff(step, x).subs(x, 0) - unit)
    checks = (
        Check("int |G'| = 2 G(0): G' > 0 left of 0, < 0 right of 0", sign_ok
              and is_zero(l1 - 2 * G.subs(x, 0)), f"{l1}",
              expected=str(sp.simplify(2 * G.subs(x, 0))), computed=str(l1)),
        Check("|f| <= M: Lip <= M sqrt(2/pi) / (sigma sqrt T)", is_zero(bounded - want_b),
              "", expected=str(want_b), computed=str(bounded)),
        Check("f in [0,1]: Lip <= 1 / (sigma sqrt(2 pi T))", is_zero(unit - want_u),
              "", expected=str(want_u), computed=str(unit)),
        Check("attained by the step f = 1{x > 0}: u'(0) equals the [0,1] bound", attained,
              "u = Phi(x / (sigma sqrt T))", expected=str(unit),
              computed=str(sp.simplify(sp.diff(step, x).subs(x, 0)))),
    )
    return HeatLipschitz(bounded, unit, checks, (sigma, T, M))


def heat_lipschitz_bound(sigma: float, t_end: float, sup_abs: float | None = None) -> float:
    """Lip(u(., T)) for the heat semigroup: 1/(sigma sqrt(2 pi T)) for f in [0, 1], or
    sup_abs sqrt(2/pi)/(sigma sqrt T) for |f| <= sup_abs. Infinite when sigma = 0."""
    if sigma < 0 or t_end < 0:
        raise TheoryError(f"sigma and T must be >= 0, got sigma={sigma}, T={t_end}")
    if sigma == 0 or t_end == 0:
        return math.inf
    # one code path with the derivation: the derived expressions, evaluated
    hl = derive_heat_lipschitz()
    s, T, M = hl.symbols
    expr = hl.unit_interval if sup_abs is None else hl.bounded
    return float(expr.subs({s: sigma, T: t_end, M: 0.0 if sup_abs is None else sup_abs}))


@cache
def derive_linear_rademacher(d: int = 2) -> tuple[sp.Expr, Check]:
    """sup_{|w| <= B} w.s = B |s| for s = sum eps_i x_i, attained at w = B s/|s| (checked)."""
    s = sp.Matrix(sp.symbols(f"s1:{d + 1}", real=True))
    B = sp.Symbol("B", positive=True)
    norm = sp.sqrt((s.T * s)[0])
    w = B * s / norm
    attained = is_zero((w.T * s)[0] - B * norm)
    on_ball = is_zero((w.T * w)[0] - B**2)
    return B * norm, Check("w = B s/|s| is on the ball and attains B |s| (Cauchy-Schwarz: "
                           "no w on the ball does better)", attained and on_ball, "",
                           expected=f"w.s = {B * norm}, |w|^2 = {B**2}",
                           computed=f"w.s = {sp.simplify((w.T * s)[0])}, |w|^2 = "
                                    f"{sp.simplify((w.T * w)[0])}")


def linear_rademacher_exact(x: np.ndarray, eps: np.ndarray, radius: float) -> np.ndarray:
    """(1/m) sup_{|w| <= B} w . sum_i eps_i x_i for each row of eps (shape (K, m)); x shape
    (m, d). Evaluates the derived supremum B |s| (derive_linear_rademacher) at s = eps @ x."""
    x = np.asarray(x, dtype=float)
    eps = np.atleast_2d(np.asarray(eps, dtype=float))
    if eps.shape[1] != x.shape[0]:
        raise TheoryError(
            f"eps has {eps.shape[1]} signs per draw but there are {x.shape[0]} points")
    sup = _linear_supremum(x.shape[1])
    return np.array([sup(radius, *row) for row in eps @ x]) / x.shape[0]


@cache
def _linear_supremum(d: int):
    from .codegen import expression_function

    expr, _ = derive_linear_rademacher(d)
    B = sp.Symbol("B", positive=True)
    s = sp.symbols(f"s1:{d + 1}", real=True)
    return expression_function(expr, (B, *s))


def linear_rademacher_upper(x: np.ndarray, radius: float) -> float:
    """Jensen: R_S <= B sqrt(sum |x_i|^2) / m."""
    x = np.asarray(x, dtype=float)
    return radius * float(np.sqrt((x**2).sum())) / x.shape[0]


def golowich_rakhlin_shamir(frobenius_norms: Sequence[float], input_bound: float, m: int
                            ) -> float:
    """B (sqrt(2 ln(2) D) + 1) prod_j M_F(j) / sqrt(m) (assumptions in ASSUMPTIONS)."""
    D = len(frobenius_norms)
    if D == 0 or m <= 0:
        raise TheoryError(f"need at least one layer and m > 0, got D={D}, m={m}")
    return input_bound * (math.sqrt(2 * math.log(2) * D) + 1) * math.prod(frobenius_norms) \
        / math.sqrt(m)


def spectral_complexity(weights: Sequence[np.ndarray], lipschitz: Sequence[float] | None = None
                        ) -> float:
    """BFT R_A = (prod rho_i |A_i|_sigma) (sum (|A_i^T|_{2,1} / |A_i|_sigma)^{2/3})^{3/2}."""
    rho = [1.0] * len(weights) if lipschitz is None else list(lipschitz)
    spec = [float(np.linalg.norm(W, 2)) for W in weights]
    # |A^T|_{2,1}: the sum over the columns of A^T (the rows of A) of their 2-norms
    l21 = [float(np.linalg.norm(np.asarray(W), axis=1).sum()) for W in weights]
    return math.prod(r * s for r, s in zip(rho, spec, strict=True)) * sum(
        (b / s) ** (2 / 3) for b, s in zip(l21, spec, strict=True)) ** 1.5


def bartlett_foster_telgarsky(weights: Sequence[np.ndarray], x: np.ndarray, margin: float,
                              lipschitz: Sequence[float] | None = None) -> float:
    """Margin-loss Rademacher bound (Lemma A.8 form, see ASSUMPTIONS)."""
    x = np.asarray(x, dtype=float)
    m = x.shape[0]
    W = max(max(np.asarray(w).shape) for w in weights)
    RA = spectral_complexity(weights, lipschitz)
    return 4 / m**1.5 + 18 * math.log(m) * math.sqrt(math.log(2 * W**2)) \
        * float(np.linalg.norm(x)) * RA / (margin * m)


def path_norm(weights: Sequence[np.ndarray]) -> float:
    """l2 path norm sqrt(1^T (W_D^2) ... (W_1^2) 1), entrywise squares."""
    v = np.ones(np.asarray(weights[0]).shape[1])
    for W in weights:
        v = (np.asarray(W) ** 2) @ v
    return float(np.sqrt(v.sum()))


@cache
def derive_maximum_principle(zeroth_order: sp.Expr | int = 0) -> tuple[Check, ...]:
    """The maximum principle where it can be checked in closed form: d = 1, constant b, a > 0.
    u(x, t) = int k(x, y, t) f(y) dy with k = exp(c t) G(y - x - b t; 2 a t) solves
    u_t = b u_x + a u_xx + c u; k >= 0 and int k dy = 1 (this needs c = 0, axiom A6) give
    min f <= u <= max f and sup|u - u~| <= sup|f - f~|. Variable coefficients and degenerate
    A >= 0 are cited (ASSUMPTIONS['maximum_principle']), not checked. ``zeroth_order`` is c (a
    non-zero c is the negative control: the mass is exp(c t), not 1)."""
    x, y, b = sp.symbols("x y b", real=True)
    a, t = sp.symbols("a t", positive=True)
    c = sp.sympify(zeroth_order)
    var = 2 * a * t
    k = sp.exp(c * t) * sp.exp(-((y - x - b * t) ** 2) / (2 * var)) / sp.sqrt(2 * sp.pi * var)
    res = sp.simplify(sp.diff(k, t) - b * sp.diff(k, x) - a * sp.diff(k, x, 2) - c * k)
    mass = sp.simplify(sp.integrate(k, (y, -sp.oo, sp.oo)))
    return (
        Check("the kernel k = exp(c t) G(y - x - b t; 2 a t) solves u_t = b u_x + a u_xx + c u",
              is_zero(res), "", "A4", expected="0", computed=str(res)),
        decision_check("k >= 0 (a > 0, t > 0)", decide_nonnegative(k), "", "A4",
                       expected=">= 0", computed=str(k)),
        Check("int k dy = 1, so u is an average of f: min f <= u <= max f (needs c = 0, A6)",
              is_zero(mass - 1), "", "A6", expected="1", computed=str(mass)),
    )


#: statements used by the studies that are cited, not machine-checked here
ASSUMED_RESULTS: dict[str, str] = {
    "jensen_diffused": "R_S(U_sigma) <= E_omega R_{S_omega}(F): the supremum of an "
    "expectation is at most the expectation of the supremum (assumed, not machine-checked)",
    "maximum_principle_general": "the maximum principle for variable coefficients and "
    "degenerate A >= 0 (assumed, cited; checked in closed form for d = 1, constant b, a > 0)",
}


def bound_checks() -> list[Check]:
    """All symbolic checks of this module."""
    return [*derive_heat_lipschitz().checks, derive_linear_rademacher()[1],
            *derive_maximum_principle()]
