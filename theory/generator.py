r"""Infinitesimal generator of a one-step block by moment expansion.

A block is the random map ``x -> x + Delta(x, h, xi)`` (optionally with a weight ``w(x, h)``,
``T q(x) = E[w q(x + Delta)]``; w = 1 for a network block). For a polynomial test function the
Taylor expansion is exact:

    T q(x) - q(x) = (E[w] - 1) q(x) + sum_{alpha != 0} E[w Delta^alpha] / alpha! * d^alpha q(x),

and E[w Delta^alpha] follows from the noise moments alone. Writing r = sqrt(h) and expanding each
coefficient E[w Delta^alpha] / (alpha! h) in powers of r gives

    (T q - q) / h = L q + r^k L_k q + ...,   L q = v . grad q + tr(A Hess q) + c q,

where L is the generator (power r^0), negative powers mean the limit does not exist (the block
diverges, e.g. noise not scaled by sqrt(h)), and the first positive power k is the leading
correction (the modified-equation term; k = 2 is O(h)). Multi-indices up to order 4 suffice for
the O(h) term when Delta = O(sqrt(h)).

Every extracted generator can be re-verified by substitution: ``verify_generator`` expands
E[w q(x + Delta)] directly for a polynomial q, takes the limit h -> 0 and compares with L q.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from functools import cached_property

import sympy as sp

from .checks import reduced, simplified
from .errors import TheoryError
from .noise import MAX_MOMENT, NoiseLaw

MultiIndex = tuple[int, ...]
Operator = dict[MultiIndex, sp.Expr]  # sum_alpha coef_alpha * d^alpha

#: Highest derivative order kept in the expansion (order 4 is what the O(h) correction needs).
MAX_ORDER = 4

ROOT_H = sp.Symbol("r_h", positive=True)  # r = sqrt(h), internal expansion variable


def multi_indices(d: int, max_order: int = MAX_ORDER) -> list[MultiIndex]:
    """All multi-indices alpha in N^d with 1 <= |alpha| <= max_order, by increasing order."""
    out: list[MultiIndex] = []
    for order in range(1, max_order + 1):
        for combo in itertools.combinations_with_replacement(range(d), order):
            out.append(tuple(combo.count(i) for i in range(d)))
    return out


def expectation(expr: sp.Expr, noises: dict[sp.Symbol, NoiseLaw]) -> sp.Expr:
    """E[expr] for expr polynomial in independent noise symbols, from their moments:
    E[c(x, h) prod_i xi_i^k_i] = c(x, h) prod_i E[xi_i^k_i], term by term of the expansion."""
    expr = sp.expand(expr)
    if not noises:
        return expr
    syms = list(noises)
    total = []
    # term by term rather than sp.Poly over the expression domain, whose coefficient
    # arithmetic took 4 of the derivation's 15 s (the same sums, 3x faster)
    for term in sp.Add.make_args(expr):
        coeff, noisy = term.as_independent(*syms, as_Add=False)
        for base, k in ({} if noisy == 1 else noisy.as_powers_dict()).items():
            if base not in noises or not (k.is_Integer and k >= 0):
                raise TheoryError(
                    f"the block's increment is not polynomial in its noise variables {syms}: "
                    f"it holds {base**k}; write the noise as a polynomial (e.g. S(x) * xi, or "
                    "x * xi for multiplicative noise)")
            if k > MAX_MOMENT:
                raise TheoryError(
                    f"E[{base}^{k}] is needed but only moments up to {MAX_MOMENT} are known; "
                    "use test functions of degree <= 4"
                )
            coeff *= noises[base].moment(int(k))
        total.append(coeff)
    return sp.expand(sp.Add(*total))


@dataclass(frozen=True, kw_only=True)
class Block:
    """A one-step random map x -> x + increment, optionally weighted.

    ``increment`` is a d-vector of sympy expressions in the coordinates ``x``, the step ``h``
    and the noise symbols (keys of ``noises``, independent, each with its law). ``weight`` is a
    deterministic factor w(x, h) (1 for network blocks; exp(-lambda h) models killing).
    """

    name: str
    x: tuple[sp.Symbol, ...]
    h: sp.Symbol
    increment: sp.Matrix
    noises: dict[sp.Symbol, NoiseLaw] = field(default_factory=dict)
    weight: sp.Expr = sp.Integer(1)
    description: str = ""

    def __post_init__(self) -> None:
        d = len(self.x)
        if d < 1:
            raise TheoryError("a block needs at least one coordinate")
        inc = sp.Matrix(self.increment)
        if inc.shape != (d, 1):
            raise TheoryError(
                f"block {self.name!r}: increment has shape {inc.shape}, expected ({d}, 1) "
                f"for coordinates {self.x}"
            )
        object.__setattr__(self, "increment", inc)
        if set(self.noises) & set(self.x):
            raise TheoryError(f"block {self.name!r}: a noise symbol is also a coordinate")
        if sp.sympify(self.weight).free_symbols & set(self.noises):
            raise TheoryError(f"block {self.name!r}: the weight must not depend on the noise")

    @property
    def dim(self) -> int:
        return len(self.x)


def additive_noise_block(name: str, x: tuple[sp.Symbol, ...], h: sp.Symbol, drift: sp.Matrix,
                         S: sp.Matrix, law: NoiseLaw,
                         description: str = "x + h b(x) + sqrt(h) S(x) xi") -> Block:
    """The block x -> x + h b(x) + sqrt(h) S(x) xi with i.i.d. xi_j of the given law.

    S must be square (d x d), as in docs/theory.md section 1."""
    d = len(x)
    S = sp.Matrix(S)
    drift = sp.Matrix(drift)
    if S.shape != (d, d):
        raise TheoryError(f"S has shape {S.shape}; it must be square ({d}, {d}) for d = {d} "
                          "coordinates (pad with zero columns for fewer noise sources)")
    if drift.shape != (d, 1):
        raise TheoryError(f"drift has shape {drift.shape}, expected ({d}, 1)")
    xi = sp.symbols(f"xi1:{d + 1}", real=True)
    return Block(name=name, x=x, h=h, increment=h * drift + sp.sqrt(h) * S * sp.Matrix(xi),
                 noises={v: law for v in xi}, description=description)


@dataclass(frozen=True)
class GeneratorResult:
    """The expansion of (T q - q)/h for a block.

    ``terms`` maps a power k of r = sqrt(h) to the operator multiplying r^k:
    {alpha: coefficient of d^alpha}, with alpha = (0,...,0) for the zeroth-order term.
    """

    block: Block
    terms: dict[int, Operator]

    @property
    def x(self) -> tuple[sp.Symbol, ...]:
        return self.block.x

    @property
    def divergent(self) -> bool:
        """True when (T q - q)/h has negative powers of h: the limit h -> 0 does not exist."""
        return any(k < 0 for k in self.terms)

    @property
    def leading_divergence(self) -> tuple[sp.Expr, Operator] | None:
        """(rate, operator) of the most singular term, rate a power of h (e.g. 1/h), or None."""
        ks = [k for k in self.terms if k < 0]
        if not ks:
            return None
        k = min(ks)
        return self.block.h ** sp.Rational(k, 2), self.terms[k]

    @property
    def limit(self) -> Operator:
        """The generator L (the r^0 term), {alpha: coefficient}."""
        return self.terms.get(0, {})

    def _require_limit(self) -> None:
        if self.divergent:
            rate, op = self.leading_divergence  # type: ignore[misc]
            raise TheoryError(
                f"block {self.block.name!r} has no generator: (T q - q)/h diverges like {rate} "
                f"(leading operator {format_operator(op, self.x)}); scale the noise by sqrt(h)"
            )

    @property
    def higher_order_limit(self) -> Operator:
        """Limit coefficients of derivatives of order >= 3 (zero for a diffusion generator)."""
        return {a: c for a, c in self.limit.items() if sum(a) >= 3}

    @cached_property
    def velocity(self) -> sp.Matrix:
        """v with L q = v . grad q + ...: the coefficients of the first derivatives."""
        self._require_limit()
        d = self.block.dim
        return sp.Matrix([self.limit.get(_unit(d, i), sp.Integer(0)) for i in range(d)])

    @cached_property
    def diffusion(self) -> sp.Matrix:
        """A with L q = ... + tr(A Hess q): A_ii = coef of d_ii, A_ij = coef of d_ij / 2."""
        self._require_limit()
        return second_order_part(self.limit, self.block.dim)

    @cached_property
    def zeroth_order(self) -> sp.Expr:
        """c with L q = ... + c q."""
        self._require_limit()
        return self.limit.get((0,) * self.block.dim, sp.Integer(0))

    @property
    def correction(self) -> tuple[sp.Expr, Operator] | None:
        """(power of h, operator) of the leading term beyond the limit, e.g. (h, {...})."""
        ks = sorted(k for k in self.terms if k > 0)
        if not ks:
            return None
        k = ks[0]
        return self.block.h ** sp.Rational(k, 2), self.terms[k]

    def apply(self, q: sp.Expr) -> sp.Expr:
        """L q = v . grad q + tr(A Hess q) + c q (plus higher-order limit terms, if any)."""
        self._require_limit()
        return apply_operator(self.limit, q, self.x)


def _unit(d: int, i: int) -> MultiIndex:
    return tuple(1 if j == i else 0 for j in range(d))


def _add(a: MultiIndex, b: MultiIndex) -> MultiIndex:
    return tuple(p + q for p, q in zip(a, b, strict=True))


def second_order_part(op: Operator, d: int) -> sp.Matrix:
    """Symmetric B with sum_{|alpha| = 2} op[alpha] d^alpha = tr(B Hess)."""
    B = sp.zeros(d, d)
    for i in range(d):
        for j in range(d):
            c = op.get(_add(_unit(d, i), _unit(d, j)), sp.Integer(0))
            B[i, j] = c if i == j else c / 2
    return B


def apply_operator(op: Operator, q: sp.Expr, x: tuple[sp.Symbol, ...]) -> sp.Expr:
    """sum_alpha op[alpha] * d^alpha q."""
    total = sp.Integer(0)
    for alpha, coef in op.items():
        dq = q
        for xi, k in zip(x, alpha, strict=True):
            if k:
                dq = sp.diff(dq, xi, k)
        total += coef * dq
    return total


def _powers_of_root_h(expr: sp.Expr, block: Block, top: int) -> dict[int, sp.Expr]:
    """Coefficients of r^k (k >= -2) of expr(r) / r^2, up to r^top, with r = sqrt(h)."""
    e = sp.expand(expr.subs(block.h, ROOT_H**2))
    try:
        poly = sp.Poly(e, ROOT_H)
        coeffs = {m[0]: c for m, c in poly.terms()}
    except sp.PolynomialError:  # weight such as exp(-lambda h): expand as a series
        ser = sp.series(e, ROOT_H, 0, top + 3).removeO()
        poly = sp.Poly(sp.expand(ser), ROOT_H)
        coeffs = {m[0]: c for m, c in poly.terms()}
    return {k - 2: simplified(c) for k, c in coeffs.items() if k - 2 <= top and c != 0}


def extract_generator(block: Block, correction_order: int = 2) -> GeneratorResult:
    """Expand (T q - q)/h of ``block`` in powers of sqrt(h) up to h^(correction_order/2).

    The r^0 term is the generator; negative powers mean divergence; positive powers are the
    correction (the modified-equation term).
    """
    d = block.dim
    w = sp.sympify(block.weight)
    terms: dict[int, Operator] = {}

    def put(k: int, alpha: MultiIndex, c: sp.Expr) -> None:
        if c != 0:
            terms.setdefault(k, {})[alpha] = c

    for k, c in _powers_of_root_h(w - 1, block, correction_order).items():
        put(k, (0,) * d, c)
    for alpha in multi_indices(d):
        prod = w
        for i, a in enumerate(alpha):
            prod *= block.increment[i] ** a
        moment = expectation(prod, block.noises)
        fact = math.prod(math.factorial(a) for a in alpha)
        for k, c in _powers_of_root_h(moment / fact, block, correction_order).items():
            put(k, alpha, c)
    return GeneratorResult(block, {k: terms[k] for k in sorted(terms)})


def verify_generator(result: GeneratorResult, test_functions: list[sp.Expr]) -> list[sp.Expr]:
    """Residuals lim_{h->0} (E[w q(x + Delta)] - q(x))/h - L q for each polynomial test function.

    An independent path to the same limit: q(x + Delta) is expanded directly (no multi-index
    bookkeeping). Every residual is 0 when the extracted generator is right.
    """
    block = result.block
    residuals = []
    for q in test_functions:
        shifted = q.subs({xi: xi + di for xi, di in zip(block.x, block.increment, strict=True)},
                         simultaneous=True)
        e = expectation(block.weight * shifted, block.noises) - q
        e = sp.expand(e.subs(block.h, ROOT_H**2))
        lim = _limit_over_h(e)
        residuals.append(reduced(lim - result.apply(q)))
    return residuals


def _limit_over_h(e: sp.Expr) -> sp.Expr:
    """lim_{r -> 0+} e / r^2 for e expanded in r = sqrt(h): the r^2 coefficient where e is a
    polynomial in r without r^0 and r^1 terms (the limit of a polynomial over r^2, read off
    its coefficients; sp.limit took 1.4 of the derivation's 17 s), else sympy's limit (a
    weight such as exp(-lambda h), or a divergent quotient, whose infinite limit it gives)."""
    try:
        coeffs = sp.Poly(e, ROOT_H).all_coeffs()[::-1]  # c_0, c_1, c_2, ...
    except sp.PolynomialError:
        coeffs = None
    if coeffs is not None and all(sp.expand(c) == 0 for c in coeffs[:2]):
        return coeffs[2] if len(coeffs) > 2 else sp.Integer(0)
    return sp.limit(e / ROOT_H**2, ROOT_H, 0, "+")


def polynomial_test_functions(x: tuple[sp.Symbol, ...], degree: int = 3) -> list[sp.Expr]:
    """Monomials of degree 1..degree in x plus one dense polynomial mixing them."""
    mons = [sp.Mul(*[xi**a for xi, a in zip(x, alpha, strict=True)])
            for alpha in multi_indices(len(x), degree)]
    dense = sum((i + 2) * m for i, m in enumerate(mons)) + 7
    return [*mons, sp.expand(dense)]


def format_operator(op: Operator, x: tuple[sp.Symbol, ...]) -> str:
    """Human-readable 'c1 d_x1 + c2 d_x1x2 + ...'."""
    if not op:
        return "0"
    parts = []
    for alpha, c in op.items():
        if sum(alpha) == 0:
            parts.append(f"({c})")
        else:
            name = "".join(str(xi) * a for xi, a in zip(x, alpha, strict=True))
            parts.append(f"({c}) d_{name}")
    return " + ".join(parts)
