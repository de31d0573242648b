r"""An independent numeric check of each technique's generator and its O(h) correction.

The symbolic expansion (theory.generator) and the cumulant route (theory.cumulants) share their
truncation order, so a truncated series could pass both. Here the one-step operator is computed
without any series: for concrete smooth g(x), S(x) and a smooth test function phi,

    T_h phi(x0) = E[w phi(x0 + Delta(x0, h, xi))]

is evaluated by Gauss quadrature over the noise law (Gauss-Hermite for the Gaussian, Gauss-
Legendre for the uniform law, the exact atoms for Rademacher and Bernoulli noise: exact to
rounding for these smooth integrands) at several small h. The difference quotient
D(h) = (T_h phi - phi)(x0) / h is fitted by least squares to a0 + a1 h + a2 h^2 + a3 h^3 (in
powers of sqrt(h) when the expansion has odd powers), and a0, a1 are compared with the symbolic
L phi(x0) and the symbolic O(h) term, within the fit's own error (the change of the fitted
values when one more power is fitted, plus rounding).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import sympy as sp

from .checks import Check
from .errors import TheoryError
from .generator import GeneratorResult, apply_operator

#: quadrature nodes per noise variable for the continuous laws
NODES = 40
#: the step sizes h = 2^-k of the fit
STEPS = tuple(2.0 ** -k for k in range(6, 13))


@dataclass(frozen=True)
class NumericComparison:
    """Symbolic against numeric for one technique: the limit L phi(x0) and the O(h) term."""

    technique: str
    limit_symbolic: float
    limit_numeric: float
    limit_error: float
    correction_symbolic: float
    correction_numeric: float
    correction_error: float

    @property
    def passed(self) -> bool:
        return (abs(self.limit_symbolic - self.limit_numeric) <= self.limit_error
                and abs(self.correction_symbolic - self.correction_numeric)
                <= self.correction_error)

    def check(self) -> Check:
        return Check(f"{self.technique}: quadrature of T_h phi at {len(STEPS)} steps h fits "
                     "L phi + h (O(h) term) of the symbolic expansion", self.passed,
                     f"L phi: {self.limit_numeric:.10g} +- {self.limit_error:.1e}; O(h): "
                     f"{self.correction_numeric:.10g} +- {self.correction_error:.1e}", "A2",
                     expected=f"L phi = {self.limit_symbolic:.10g}, O(h) = "
                              f"{self.correction_symbolic:.10g}",
                     computed=f"L phi = {self.limit_numeric:.10g}, O(h) = "
                              f"{self.correction_numeric:.10g}")


def _nodes(law, concrete: dict) -> tuple[np.ndarray, np.ndarray]:
    """Nodes and weights of a quadrature exact for the law (atoms where it is discrete)."""
    name = law.name
    if name == "gaussian":
        z, w = np.polynomial.hermite_e.hermegauss(NODES)
        return z, w / w.sum()
    if name == "uniform":
        z, w = np.polynomial.legendre.leggauss(NODES)
        return np.sqrt(3.0) * z, w / 2
    if name == "rademacher":
        return np.array([-1.0, 1.0]), np.array([0.5, 0.5])
    if name == "bernoulli":
        q = float(sp.sympify(law.moment(1)).subs(concrete))
        return np.array([0.0, 1.0]), np.array([1 - q, q])
    raise TheoryError(f"no quadrature for the noise law {name!r}; known: gaussian, uniform, "
                      "rademacher, bernoulli")


def one_step_quadrature(res: GeneratorResult, phi: sp.Expr, x0: tuple[float, ...],
                        steps, concrete: dict) -> np.ndarray:
    """T_h phi(x0) = E[w phi(x0 + Delta)] by tensor quadrature over the block's noises, for
    each h in ``steps`` (the integrand is compiled once, with h an argument)."""
    block = res.block
    noise = list(block.noises)
    shifted = phi.subs({xi: xi + di for xi, di in zip(block.x, block.increment, strict=True)},
                       simultaneous=True) * block.weight
    expr = sp.sympify(shifted).subs(concrete).doit()
    expr = expr.subs(dict(zip(block.x, x0, strict=True)))
    f = sp.lambdify([*noise, block.h], expr, "numpy")
    hs = np.atleast_1d(np.asarray(steps, dtype=float))
    if not noise:
        return np.array([float(f(h)) for h in hs])
    grids = [_nodes(block.noises[n], concrete) for n in noise]
    mesh = np.meshgrid(*[g[0] for g in grids], indexing="ij")
    weight = np.ones_like(mesh[0])
    for i, g in enumerate(grids):
        shape = [1] * len(grids)
        shape[i] = -1
        weight = weight * g[1].reshape(shape)
    return np.array([float((np.broadcast_to(np.asarray(f(*mesh, h), dtype=float), weight.shape)
                            * weight).sum()) for h in hs])


@lru_cache(maxsize=512)
def _derivative_at(phi: sp.Expr, x: tuple[sp.Symbol, ...], alpha: tuple[int, ...],
                   point: tuple) -> float:
    """d^alpha phi at the point (cached: every technique's comparison evaluates the same
    derivatives of the same phi, 1.4 of the derivation's 17 s when each computed its own)."""
    return float(sp.N(apply_operator({alpha: sp.Integer(1)}, phi, x).subs(dict(point)), 20))


def _fit(steps: np.ndarray, values: np.ndarray, degree: int) -> np.ndarray:
    V = np.vander(steps, degree + 1, increasing=True)
    return np.linalg.lstsq(V, values, rcond=None)[0]


def compare(res: GeneratorResult, phi: sp.Expr, x0: tuple[float, ...], concrete: dict,
            name: str) -> NumericComparison:
    """Fit D(h) = (T_h phi - phi)(x0)/h over STEPS and compare with the symbolic terms."""
    block = res.block
    at = dict(zip(block.x, x0, strict=True))

    point = tuple(at.items())

    def value(op) -> float:
        # sum_alpha c_alpha(x0) d^alpha phi(x0), each factor evaluated at x0 on its own (the
        # same sum as apply_operator's expression, without substituting into its product)
        total = 0.0
        for alpha, coef in op.items():
            total += float(sp.N(sp.sympify(coef).subs(concrete).doit().subs(at), 20)) \
                * _derivative_at(phi, block.x, alpha, point)
        return total

    lim = value(res.limit)
    corr = value(res.terms.get(2, {}))
    odd = any(k % 2 for k in res.terms)
    phi0 = float(phi.subs(at))
    hs = np.array(STEPS)
    D = (one_step_quadrature(res, phi, x0, hs, concrete) - phi0) / hs
    if odd:  # powers of r = sqrt(h): a0 + a1 r + a2 r^2 + ...
        var, deg, k_corr = np.sqrt(hs), 6, 2
    else:
        var, deg, k_corr = hs, 3, 1
    fit, more = _fit(var, D, deg), _fit(var, D, deg + 1)
    rounding = 1e-14 * max(1.0, abs(phi0)) / hs.min()
    err0 = 10 * (abs(fit[0] - more[0]) + rounding) + 1e-10
    err1 = 10 * (abs(fit[k_corr] - more[k_corr]) + rounding / hs.min()) + 1e-8
    return NumericComparison(name, lim, float(fit[0]), float(err0), corr,
                             float(fit[k_corr]), float(err1))


def concrete_functions(x: tuple[sp.Symbol, ...]) -> dict:
    """Smooth concrete g(x), S(x) and parameters for the catalogue's d = 2 symbols."""
    from .catalogue import symbols_for

    S = symbols_for(len(x))
    x1, x2 = S.x
    g = [sp.sin(x2) + sp.Rational(3, 10), x1 / 2 - x2**2 / 4]
    M = [[1 + x1**2 / 5, sp.Rational(3, 10)], [x2 / 5, sp.Rational(4, 5)]]
    out = {S.g[i]: g[i] for i in range(2)}
    out |= {S.S[i, j]: M[i][j] for i in range(2) for j in range(2)}
    out |= {S.sigma: sp.Rational(7, 10), S.p: sp.Rational(3, 10), S.s: sp.Rational(1, 2)}
    return out


def technique_comparisons(names: list[str] | None = None,
                          generators: Mapping[str, GeneratorResult] | None = None
                          ) -> list[NumericComparison]:
    """The comparison for every catalogue technique with a limit, in d = 2. ``generators``:
    techniques' d = 2 generators computed already (the report's catalogue section computes
    each one; extract_generator is deterministic, so reusing it saves a second derivation of
    the same expansion); the others are computed here."""
    from .catalogue import TECHNIQUES, symbols_for
    from .generator import extract_generator

    S = symbols_for(2)
    x1, x2 = S.x
    phi = sp.exp(-((x1 - sp.Rational(1, 5)) ** 2 + (x2 + sp.Rational(1, 10)) ** 2) / 2) \
        * sp.cos(x1 + x2 / 2)
    x0 = (0.3, -0.2)
    out = []
    for name, tech in TECHNIQUES.items():
        if not tech.should_have_limit or (names is not None and name not in names):
            continue
        res = (generators or {}).get(name) or extract_generator(tech.build(S))
        out.append(compare(res, phi, x0, concrete_functions(S.x), name))
    return out


__all__ = ["NODES", "STEPS", "NumericComparison", "compare", "one_step_quadrature",
           "technique_comparisons"]
