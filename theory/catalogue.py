r"""Network techniques as one-step blocks, with the generator docs/theory.md section 3 expects.

Each :class:`Technique` builds its block in dimension d (1, 2, 3, ...) with generic symbolic
functions g_i(x) and S_ij(x), and states the expected velocity v, diffusion A, zeroth-order term,
divergence rate and (where docs/theory.md states one) the second-order part of the O(h) correction.
:func:`check_technique` computes the generator and compares, each comparison a sympy identity.
Graph diffusion is not a map on feature space; it has its own checks in :mod:`theory.graph`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import sympy as sp

from .axioms import converse_checks
from .checks import Check, is_zero, simplified
from .errors import TheoryError
from .generator import (
    Block,
    GeneratorResult,
    additive_noise_block,
    extract_generator,
    second_order_part,
)
from .noise import NoiseLaw, bernoulli, gaussian, rademacher, uniform


@dataclass(frozen=True)
class Symbols:
    """The symbols of a catalogue block in dimension d."""

    x: tuple[sp.Symbol, ...]
    h: sp.Symbol
    g: sp.Matrix  # residual branch g(x), d x 1
    S: sp.Matrix  # noise matrix S(x), d x d
    sigma: sp.Symbol
    s: sp.Symbol  # fixed (unscaled) noise level
    p: sp.Symbol  # dropout probability


def symbols_for(d: int) -> Symbols:
    """Coordinates x1..xd, step h, generic real functions g_i(x), S_ij(x), parameters."""
    if d < 1:
        raise TheoryError(f"dimension must be >= 1, got {d}")
    x = sp.symbols(f"x1:{d + 1}", real=True)
    g = sp.Matrix([sp.Function(f"g{i + 1}", real=True)(*x) for i in range(d)])
    S = sp.Matrix(d, d, lambda i, j: sp.Function(f"S{i + 1}{j + 1}", real=True)(*x))
    return Symbols(
        x=x,
        h=sp.Symbol("h", positive=True),
        g=g,
        S=S,
        sigma=sp.Symbol("sigma", positive=True),
        s=sp.Symbol("s", positive=True),
        p=sp.Symbol("p", positive=True),
    )


def _noise(d: int, law: Callable[[], NoiseLaw], stem: str = "xi") -> tuple[sp.Matrix, dict]:
    xs = sp.symbols(f"{stem}1:{d + 1}", real=True)
    return sp.Matrix(xs), {v: law() for v in xs}


@dataclass(frozen=True)
class Expected:
    """What docs/theory.md says the generator is (None: not stated)."""

    velocity: sp.Matrix | None = None
    diffusion: sp.Matrix | None = None
    zeroth_order: sp.Expr | None = sp.Integer(0)
    divergence_rate: sp.Expr | None = None  # e.g. s**2/(2h): A diverges like this times I
    correction_second_order: sp.Matrix | None = None  # B with O(h) term h tr(B Hess q) + ...


@dataclass(frozen=True)
class Technique:
    """A network technique: how to build its block and what generator to expect."""

    name: str
    title: str
    summary: str
    build: Callable[[Symbols], Block]
    expect: Callable[[Symbols], Expected]
    should_have_limit: bool = True


def _plain(S: Symbols) -> Block:
    return Block(name="plain", x=S.x, h=S.h, increment=S.h * S.g,
                 description="x + h g(x)")


def _additive(law: Callable[[], NoiseLaw], name: str) -> Callable[[Symbols], Block]:
    def build(S: Symbols) -> Block:
        return additive_noise_block(name, S.x, S.h, S.g, S.S, law(),
                                    f"x + h g(x) + sqrt(h) S(x) xi, xi {law().name}")
    return build


def _unscaled(S: Symbols) -> Block:
    xi, noises = _noise(len(S.x), gaussian)
    return Block(name="unscaled-noise", x=S.x, h=S.h, increment=S.h * S.g + S.s * xi,
                 noises=noises, description="x + h g(x) + s xi, s fixed (not scaled by sqrt(h))")


def _dropout(S: Symbols) -> Block:
    d = len(S.x)
    ms = sp.symbols(f"m1:{d + 1}", real=True)
    keep = 1 - S.p
    noises = {m: bernoulli(keep) for m in ms}
    inc = sp.Matrix([S.h * ms[i] * S.g[i] / keep for i in range(d)])
    return Block(name="dropout", x=S.x, h=S.h, increment=inc, noises=noises,
                 description="x + h m*g(x)/(1-p), m_i Bernoulli(1-p)")


def _multiplicative(S: Symbols) -> Block:
    xi, noises = _noise(len(S.x), gaussian)
    inc = S.h * S.g + sp.sqrt(S.h) * S.sigma * sp.Matrix(
        [S.x[i] * xi[i] for i in range(len(S.x))])
    return Block(name="multiplicative-noise", x=S.x, h=S.h, increment=inc, noises=noises,
                 description="x + h g(x) + sqrt(h) sigma (x * xi)")


def _smoothing(S: Symbols) -> Block:
    xi, noises = _noise(len(S.x), gaussian)
    return Block(name="randomized-smoothing", x=S.x, h=S.h, increment=sp.sqrt(S.h) * S.sigma * xi,
                 noises=noises, description="x + sqrt(h) sigma xi (Gaussian data augmentation)")


def _gauss_expected(S: Symbols) -> Expected:
    return Expected(velocity=S.g, diffusion=S.S * S.S.T / 2)


TECHNIQUES: dict[str, Technique] = {
    t.name: t
    for t in [
        Technique("plain", "Plain residual block", "x + h g(x): transport, no diffusion",
                  _plain,
                  lambda S: Expected(velocity=S.g, diffusion=sp.zeros(len(S.x)),
                                     correction_second_order=S.g * S.g.T / 2)),
        Technique("gaussian", "Gaussian noise injection",
                  "x + h g + sqrt(h) S xi, xi ~ N(0, I)", _additive(gaussian, "gaussian"),
                  _gauss_expected),
        Technique("rademacher", "Rademacher noise", "xi uniform on {-1, +1}^d",
                  _additive(rademacher, "rademacher"), _gauss_expected),
        Technique("uniform", "Uniform noise", "xi uniform on [-sqrt 3, sqrt 3]^d",
                  _additive(uniform, "uniform"), _gauss_expected),
        Technique("unscaled-noise", "Noise not scaled by sqrt(h)",
                  "x + h g + s xi: no limit, diverges like s^2/(2h)", _unscaled,
                  lambda S: Expected(divergence_rate=S.s**2 / (2 * S.h)),
                  should_have_limit=False),
        Technique("dropout", "Dropout on the residual branch",
                  "x + h m*g/(1-p): v = g, diffusion only at order h", _dropout,
                  lambda S: Expected(
                      velocity=S.g, diffusion=sp.zeros(len(S.x)),
                      correction_second_order=S.g * S.g.T / 2 + sp.diag(
                          *[S.p / (2 * (1 - S.p)) * gi**2 for gi in S.g]))),
        Technique("multiplicative-noise", "Multiplicative noise",
                  "x + h g + sqrt(h) sigma x*xi: A = sigma^2 diag(x^2)/2", _multiplicative,
                  lambda S: Expected(velocity=S.g,
                                     diffusion=sp.diag(*[S.sigma**2 * xi**2 / 2 for xi in S.x]))),
        Technique("randomized-smoothing", "Randomized smoothing / Gaussian augmentation",
                  "x + sqrt(h) sigma xi: v = 0, A = sigma^2 I/2 (heat semigroup)", _smoothing,
                  lambda S: Expected(velocity=sp.zeros(len(S.x), 1),
                                     diffusion=sp.eye(len(S.x)) * S.sigma**2 / 2)),
    ]
}


def technique(name: str) -> Technique:
    """Look up a catalogue entry; unknown names list the valid ones (and 'graph-diffusion')."""
    try:
        return TECHNIQUES[name]
    except KeyError:
        valid = ", ".join([*TECHNIQUES, "graph-diffusion"])
        raise TheoryError(f"unknown technique {name!r}; valid names: {valid}") from None


@dataclass(frozen=True)
class TechniqueReport:
    """Computed generator of a technique and the checks against docs/theory.md."""

    technique: Technique
    dim: int
    result: GeneratorResult
    checks: list[Check] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)


def expansion_check(res: GeneratorResult, x: tuple) -> Check:
    """The whole expansion of (T q - q)/h up to O(h) (every derivative order, every power of
    sqrt h) against the independent cumulant route (theory.cumulants)."""
    from .cumulants import expansion, operator_difference
    from .generator import format_operator

    want = expansion(res.block, top=2)
    powers = sorted(set(want) | set(res.terms))
    gaps = {k: operator_difference(res.terms.get(k, {}), want.get(k, {})) for k in powers}
    text = "; ".join(f"r^{k}: {format_operator(want.get(k, {}), x)}" for k in powers)
    got = "; ".join(f"r^{k}: {format_operator(res.terms.get(k, {}), x)}" for k in powers)
    return Check("expansion of (T q - q)/h up to O(h), every order of derivative, equals the "
                 "cumulant route exp(K(theta)) - 1", all(not g for g in gaps.values()),
                 f"r = sqrt(h); differences {({k: len(g) for k, g in gaps.items() if g})}",
                 "A2", expected=text, computed=got)


def _show(e) -> str:
    return str(simplified(e).tolist()) if isinstance(e, sp.MatrixBase) else str(simplified(e))


def check_technique(name: str, d: int = 2, generator: GeneratorResult | None = None
                    ) -> TechniqueReport:
    """Compute the generator of technique ``name`` in dimension d and check it against
    docs/theory.md.

    ``generator`` may be given to check a precomputed (or deliberately wrong) result.
    """
    tech = technique(name)
    S = symbols_for(d)
    exp = tech.expect(S)
    res = generator if generator is not None else extract_generator(tech.build(S))
    checks: list[Check] = []
    if not tech.should_have_limit:
        lead = res.leading_divergence
        ok = lead is not None
        detail = "no divergence found"
        if lead is not None:
            rate, op = lead
            B = second_order_part(op, d) * rate
            ok = is_zero(B - exp.divergence_rate * sp.eye(d))
            detail = f"(T q - q)/h has the term tr(({exp.divergence_rate}) I Hess q), rate {rate}"
        checks.append(Check("diverges with the expected rate", ok, detail, "A2",
                            expected=f"tr(({exp.divergence_rate}) I Hess q)",
                            computed=f"tr({simplified(B).tolist()} Hess q)" if lead else "none"))
    else:
        powers = sorted(res.terms)
        checks.append(Check("limit h -> 0 exists", not res.divergent,
                            "no negative powers of h" if not res.divergent else "diverges", "A2",
                            expected="powers of sqrt(h) >= 0 in (T q - q)/h",
                            computed=f"powers {powers}"))
        if not res.divergent:
            for label, got, want in [("velocity", res.velocity, exp.velocity),
                                     ("diffusion", res.diffusion, exp.diffusion),
                                     ("zeroth-order term", res.zeroth_order, exp.zeroth_order)]:
                if want is not None:
                    checks.append(Check(f"{label} = {simplified(want)}", is_zero(got - want),
                                        "docs/theory.md's entry against the moment expansion",
                                        expected=_show(want), computed=_show(got)))
            if exp.correction_second_order is not None:
                corr = res.correction
                got = (second_order_part(corr[1], d) if corr is not None
                       and corr[0] == S.h else sp.zeros(d))
                checks.append(Check(
                    f"O(h) correction, second-order part h tr(B Hess q), B = "
                    f"{simplified(exp.correction_second_order)}",
                    is_zero(got - exp.correction_second_order), "from the r^2 term",
                    expected=str(simplified(exp.correction_second_order).tolist()),
                    computed=str(simplified(got).tolist())))
            checks.append(expansion_check(res, S.x))
            from .generator import polynomial_test_functions, verify_generator

            tests = polynomial_test_functions(S.x, 3 if d <= 2 else 2)
            residuals = verify_generator(res, tests)
            checks.append(Check(
                "substitution: lim (E q(x + Delta) - q(x))/h = L q for polynomial test functions",
                all(r == 0 for r in residuals), f"{len(tests)} test functions", "A2",
                expected=f"L q for each of {[str(q) for q in tests[:3]]}... ({len(tests)})",
                computed="lim - L q = " + str([str(r) for r in residuals])))
            checks.extend(converse_checks(res))
    return TechniqueReport(tech, d, res, checks)

