r"""Noise laws given by their moments.

Only moments enter the generator of a block: the expectation of a polynomial in independent
noise variables is the product of their moments. A law is therefore a name plus a moment function
``k -> E[xi^k]``; every law used for a diffusion needs finite moments up to order 4 (order 2 for
the limit, order 4 for the O(h) correction).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import sympy as sp

from .checks import decide_psd
from .errors import TheoryError

MAX_MOMENT = 4  # highest moment the generator and its O(h) correction need


def hankel_violation(moments: tuple) -> str:
    """'' when m_0..m_4 can be the moments of a real law, else why not. (Hamburger: a sequence
    is a moment sequence iff its Hankel matrices H = (m_{i+j}) are positive semi-definite; with
    five moments, H = [[m0, m1, m2], [m1, m2, m3], [m2, m3, m4]] and its principal minors. A
    symbolic moment whose sign sympy cannot decide is not refused.)"""
    m = [sp.sympify(v) for v in moments]
    H = sp.Matrix(3, 3, lambda i, j: m[i + j])
    if all(v.is_number for v in m) and any(v.is_Float for v in m):
        # floats (a keep-probability 0.3): eigenvalues with a rounding tolerance, since the
        # Hankel matrix of a two-point law is singular and its float minors land near 0
        import numpy as np

        eig = np.linalg.eigvalsh(np.array(H.tolist(), dtype=float))
        negative = eig.min() < -1e-12 * max(1.0, float(np.abs(eig).max()))
    else:
        negative = decide_psd(H) is False
    if negative:
        return (f"its Hankel matrix {H.tolist()} is not positive semi-definite, e.g. "
                "E[xi^4] >= E[xi^2]^2 fails or a variance is negative")
    return ""


@dataclass(frozen=True)
class NoiseLaw:
    """A scalar noise law, known through its moments E[xi^k], k = 0..MAX_MOMENT."""

    name: str
    moments: tuple[sp.Expr, ...]
    description: str = ""
    parameters: tuple[sp.Symbol, ...] = field(default=())
    # the same law as a sympy.stats random variable, for an independent route to its cumulants
    # (theory.cumulants); not used by the generator, which needs only the moments above
    stats: Callable[[str], sp.Expr] | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if len(self.moments) <= MAX_MOMENT:
            raise TheoryError(
                f"noise law {self.name!r} gives {len(self.moments)} moments; "
                f"moments E[xi^k] for k = 0..{MAX_MOMENT} are needed"
            )
        for k, m in enumerate(self.moments[: MAX_MOMENT + 1]):
            m = sp.sympify(m)
            if m.has(sp.oo, -sp.oo, sp.zoo, sp.nan) or not m.is_finite:
                raise TheoryError(
                    f"noise law {self.name!r} has E[xi^{k}] = {m}: the generator needs finite "
                    f"moments up to order {MAX_MOMENT} (order 2 at least for the limit); "
                    "use a law with finite variance, e.g. 'gaussian' or 'rademacher'"
                )
        if sp.simplify(self.moments[0] - 1) != 0:
            raise TheoryError(f"noise law {self.name!r}: E[xi^0] must be 1, got {self.moments[0]}")
        bad = hankel_violation(self.moments[: MAX_MOMENT + 1])
        if bad:
            raise TheoryError(f"noise law {self.name!r}: the moments {tuple(self.moments)} are "
                              f"not those of any distribution ({bad}); give moments of a real "
                              "law, e.g. (1, 0, 1, 0, 3) for N(0, 1)")

    def moment(self, k: int) -> sp.Expr:
        """E[xi^k]."""
        if k > MAX_MOMENT:
            raise TheoryError(f"moment of order {k} requested; only 0..{MAX_MOMENT} are stored")
        return sp.sympify(self.moments[k])

    @property
    def mean(self) -> sp.Expr:
        return self.moment(1)

    @property
    def variance(self) -> sp.Expr:
        return sp.simplify(self.moment(2) - self.moment(1) ** 2)


def gaussian() -> NoiseLaw:
    """Standard normal: E xi^k = (k-1)!! for even k, 0 for odd k."""
    from sympy import stats

    return NoiseLaw("gaussian", (1, 0, 1, 0, 3), "standard normal N(0, 1)",
                    stats=lambda n: stats.Normal(n, 0, 1))


def rademacher() -> NoiseLaw:
    """Uniform on {-1, +1}: all even moments 1."""
    from sympy import stats

    return NoiseLaw("rademacher", (1, 0, 1, 0, 1), "uniform on {-1, +1}",
                    stats=lambda n: stats.Rademacher(n))


def uniform() -> NoiseLaw:
    """Uniform on [-sqrt(3), sqrt(3)] (variance 1): E xi^k = 3^(k/2)/(k+1) for even k."""
    return NoiseLaw(
        "uniform",
        (1, 0, 1, 0, sp.Rational(9, 5)),
        "uniform on [-sqrt(3), sqrt(3)], variance 1",
        stats=lambda n: __import__("sympy.stats").stats.Uniform(n, -sp.sqrt(3), sp.sqrt(3)),
    )


def bernoulli(keep: sp.Expr | float | None = None) -> NoiseLaw:
    """Bernoulli mask m in {0, 1} with P(m = 1) = keep: E m^k = keep for k >= 1."""
    q = sp.Symbol("q", positive=True) if keep is None else sp.sympify(keep)
    params = (q,) if keep is None else ()
    from sympy import stats

    return NoiseLaw("bernoulli", (1, q, q, q, q), f"Bernoulli mask, keep-probability {q}", params,
                    stats=lambda n: stats.Bernoulli(n, q))


def from_sympy_stats(rv: sp.Expr, name: str | None = None) -> NoiseLaw:
    """A law from a ``sympy.stats`` random variable; raises if a needed moment is not finite."""
    from sympy import stats

    moments = []
    for k in range(MAX_MOMENT + 1):
        try:
            m = sp.simplify(stats.E(rv**k))
        except (ValueError, NotImplementedError) as exc:  # sympy cannot integrate: not finite
            raise TheoryError(
                f"E[xi^{k}] of {rv} could not be computed ({exc}); the generator needs finite "
                f"moments up to order {MAX_MOMENT}"
            ) from exc
        moments.append(m)
    return NoiseLaw(name or str(rv), tuple(moments), f"sympy.stats law of {rv}",
                    stats=lambda n: rv)


LAWS: dict[str, Callable[[], NoiseLaw]] = {
    "gaussian": gaussian,
    "rademacher": rademacher,
    "uniform": uniform,
    "bernoulli": bernoulli,
}


def noise_law(name: str) -> NoiseLaw:
    """A named law; unknown names list the valid ones."""
    try:
        return LAWS[name]()
    except KeyError:
        raise TheoryError(
            f"unknown noise law {name!r}; valid names: {', '.join(sorted(LAWS))}"
        ) from None
