r"""The expansion of (T q - q)/h by cumulants: an independent route to the generator and its
O(h) correction.

For a block x -> x + Delta with Delta = c_0 + sum_j c_j xi_j linear in independent noises xi_j
(coefficients frozen at x), T q = E[q(x + Delta)] = sum_alpha E[Delta^alpha]/alpha! d^alpha q, so
T - I has the symbol E[exp(theta . Delta)] - 1 = exp(K(theta)) - 1 with the cumulant generating
function K(theta) = theta . c_0 + sum_j K_j(theta . c_j), K_j(s) = sum_n kappa_n(xi_j) s^n / n!.
The cumulants kappa_n come from the law's sympy.stats moment generating function (log M, series),
not from the moment tables the generator uses; the coefficient of theta^alpha r^k in
(exp K - 1)/r^2 (r = sqrt h) is the coefficient of d^alpha in the r^k term of the expansion.
"""

from __future__ import annotations

from functools import cache

import sympy as sp

from .checks import simplified
from .errors import TheoryError
from .generator import ROOT_H, Block, Operator
from .noise import NoiseLaw

#: cumulant order kept: terms of order r^4 (the O(h) correction) need kappa_1..kappa_4
MAX_CUMULANT = 4


@cache
def _law_cumulants(law: NoiseLaw) -> tuple[sp.Expr, ...]:
    if law.stats is None:
        raise TheoryError(f"noise law {law.name!r} has no sympy.stats form: no cumulants")
    from sympy import stats

    s = sp.Symbol("s")
    K = sp.series(sp.log(stats.moment_generating_function(law.stats("xi_law"))(s)), s, 0,
                  MAX_CUMULANT + 1).removeO()
    return tuple(simplified(K.coeff(s, n) * sp.factorial(n)) for n in range(1, MAX_CUMULANT + 1))


def cumulants(law: NoiseLaw) -> tuple[sp.Expr, ...]:
    """(kappa_1, ..., kappa_4) of ``law`` from the log of its moment generating function."""
    return _law_cumulants(law)


def expansion(block: Block, top: int = 2) -> dict[int, Operator]:
    """{k: operator of r^k} in (T q - q)/h up to r^top, from the cumulants (w = 1 blocks)."""
    if sp.sympify(block.weight) != 1:
        raise TheoryError("the cumulant route covers unweighted blocks (w = 1)")
    d = block.dim
    theta = sp.symbols(f"theta1:{d + 1}")
    inc = sp.Matrix(block.increment).subs(block.h, ROOT_H**2)
    noise = list(block.noises)
    for e in inc:
        if noise and sp.Poly(sp.expand(e), *noise).total_degree() > 1:
            raise TheoryError(f"the increment {list(inc)} is not linear in the noise")
    c0 = inc.subs(dict.fromkeys(noise, 0))
    K = sum(t * c for t, c in zip(theta, c0, strict=True))
    for xi in noise:
        s = sum(t * sp.diff(c, xi) for t, c in zip(theta, inc, strict=True))
        K += sum(k * s**n / sp.factorial(n) for n, k in enumerate(cumulants(block.noises[xi]), 1))
    n = top + 2  # r^n over r^2 = h gives r^top
    Kc = _coefficients_in_r(K, n)
    if Kc[0] != 0:
        raise TheoryError("(T q - q)/h diverges: the cumulant route is for blocks with a limit")
    # exp(K) - 1 = sum_{m>=1} K^m / m!, truncated at r^n (K has no r^0 term)
    symbol = [sp.Integer(0)] * (n + 1)
    power = [sp.Integer(1)] + [sp.Integer(0)] * n
    for m in range(1, n + 1):
        power = _truncated_product(power, Kc, n)
        symbol = [a + b / sp.factorial(m) for a, b in zip(symbol, power, strict=True)]
    if any(sp.expand(symbol[k]) != 0 for k in (0, 1)):
        raise TheoryError("(T q - q)/h diverges: the cumulant route is for blocks with a limit")
    out: dict[int, Operator] = {}
    for k in range(0, top + 1):
        part = sp.expand(symbol[k + 2])
        if part == 0:
            continue
        poly = sp.Poly(part, *theta)
        pairs = ((alpha, simplified(c)) for alpha, c in poly.terms())
        op = {alpha: c for alpha, c in pairs if c != 0}  # each coefficient simplified once
        if op:
            out[k] = op
    return out


def _coefficients_in_r(expr: sp.Expr, n: int) -> list[sp.Expr]:
    e = sp.expand(expr)
    return [e.coeff(ROOT_H, k) for k in range(n + 1)]


def _truncated_product(a: list[sp.Expr], b: list[sp.Expr], n: int) -> list[sp.Expr]:
    return [sp.expand(sum(a[i] * b[k - i] for i in range(k + 1))) for k in range(n + 1)]


def operator_difference(a: Operator, b: Operator) -> Operator:
    """a - b, coefficientwise, without the zero entries."""
    keys = set(a) | set(b)
    diff = {k: simplified(a.get(k, 0) - b.get(k, 0)) for k in keys}
    return {k: v for k, v in diff.items() if v != 0}
