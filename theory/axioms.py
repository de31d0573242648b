r"""The axioms A1-A9 as objects, and the machine-checked derivation of (CD) from them.

The derivation (docs/theory.md section 2) starts from a generator F(X, p, c, x, t) on 2-jets and
applies the chosen axioms one at a time. Every step carries a sympy identity (a :class:`Check`)
and names the axiom it used; dropping an axiom leaves the corresponding freedom in F, and the
output shows a witness of it (an indefinite A without A4, a nonlinear F without A5, a zeroth-order
term without A6).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import sympy as sp

from .checks import (
    Check,
    decide_nonnegative,
    decide_psd,
    decision_check,
    is_nonnegative,
    is_zero,
    principal_minors,
    reduced,
)
from .errors import TheoryError
from .generator import Block, GeneratorResult, extract_generator
from .noise import gaussian
from .steps import (
    Jet,
    Step,
    coefficients,
    comparison_conditions,
    equation_text,
    linear_generator,
    make_jet,
    step_comparison,
    step_constants,
    step_jet,
    step_linearity,
    step_rotation,
    step_scale,
    step_semigroup,
    step_translation,
    witness_dispersive,
)


@dataclass(frozen=True)
class Axiom:
    """One axiom on the one-step operators T_{t+h,t}."""

    key: str
    name: str
    statement: str
    optional: bool = False


AXIOMS: dict[str, Axiom] = {
    a.key: a
    for a in [
        Axiom("A1", "Markov / semigroup", "T_{t,t} = Id and T_{t+h,s} = T_{t+h,t} T_{t,s}."),
        Axiom("A2", "Regularity", "(T_{t+h,t} q - q)/h -> F(Hess q, grad q, q, x, t) as h -> 0+ "
              "for every quadratic q, with F continuous."),
        Axiom("A3", "Locality", "f = g near x implies (T f - T g)(x) = o(h)."),
        Axiom("A4", "Comparison principle", "f <= g implies T f <= T g."),
        Axiom("A5", "Linearity", "T(a f + b g) = a T f + b T g."),
        Axiom("A6", "Constant preservation", "T c = c for constants c."),
        Axiom("A7", "Translation invariance", "T commutes with translations x -> x + z.", True),
        Axiom("A8", "Euclidean invariance", "T commutes with rotations x -> R x.", True),
        Axiom("A9", "Scale invariance", "T commutes with x -> mu x after a time rescaling.", True),
    ]
}

DEFAULT_AXIOMS = ("A1", "A2", "A3", "A4", "A5", "A6")


def parse_axioms(spec: str | list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """'A1,A2,...' -> ('A1', 'A2', ...), validated; unknown names list the valid ones."""
    items = [s.strip().upper() for s in (spec.split(",") if isinstance(spec, str) else spec)]
    items = [s for s in items if s]
    bad = [s for s in items if s not in AXIOMS]
    if bad:
        raise TheoryError(f"unknown axiom(s) {bad}; valid: {', '.join(AXIOMS)}")
    return tuple(sorted(set(items), key=lambda k: int(k[1:])))


@dataclass
class Derivation:
    """The derivation for a set of assumed axioms in dimension d."""

    assumed: tuple[str, ...]
    dim: int
    steps: list[Step] = field(default_factory=list)
    generator: sp.Expr | None = None  # final F(X, p, c, x, t)
    equation: str = ""
    notes: list[str] = field(default_factory=list)
    #: conditions derived from A4 on the final generator's coefficients, each expression >= 0
    constraints: list[sp.Expr] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(s.passed for s in self.steps)


def psd_certificate(A: sp.Matrix, block: Block | None = None) -> Check:
    """Prove A >= 0: a Gram factorisation from the block's noise, else every principal minor
    >= 0 (all of them: the leading ones decide definiteness only). Undecided minors fail the
    check with 'undecided' in its detail."""
    name = "A symmetric positive semi-definite"
    if not is_zero(A - A.T):
        return Check(name, False, f"A = {A} is not symmetric", "A4", expected="A = A^T",
                     computed=str((A - A.T).tolist()))
    if block is not None and block.noises:
        r = sp.Symbol("r_h", positive=True)
        inc = block.increment.subs(block.h, r**2)
        linear = all(sp.Poly(sp.expand(e), *block.noises).total_degree() <= 1 for e in inc)
        if linear:
            gram = sp.zeros(*A.shape)
            for xi, law in block.noises.items():
                col = sp.Matrix([sp.limit(sp.diff(e, xi) / r, r, 0) for e in inc])
                if is_zero(col):
                    continue
                if not is_nonnegative(law.variance):
                    break
                gram += law.variance * col * col.T / 2
            else:
                if is_zero(A - gram):
                    return Check(name, True,
                                 "A = (1/2) sum_j Var(xi_j) G_j G_j^T (Gram form of the noise "
                                 "coefficients), checked by substitution", "A4",
                                 expected=str(gram.tolist()), computed=str(A.tolist()))
    minors = principal_minors(A)
    answer = decide_psd(A, minors)
    return decision_check(name, answer, f"principal minors {minors}", "A4",
                          expected="every principal minor >= 0", computed=str(minors))


def one_step(block: Block):
    """The block's one-step operator on polynomials: T q(x) = E[w q(x + Delta)]."""
    from .generator import expectation

    shift = {xi: xi + di for xi, di in zip(block.x, block.increment, strict=True)}
    return lambda q: expectation(block.weight * q.subs(shift, simultaneous=True), block.noises)


def linearity_check(block: Block, T=None) -> Check:
    """A5 for a block: T(l q1 + m q2) - l T q1 - m T q2 = 0 for two independent dense cubic
    polynomials and symbolic l, m (additivity and homogeneity at once: a homogeneous operator
    that is not additive fails it), expanded from the noise law (``T`` replaces the block's
    operator: for a block, T q = E[w q(x + Delta)] is linear by construction, so the check
    tests the operator it is given, a user's or a negative control)."""
    from .generator import multi_indices

    T = T or one_step(block)
    mons = [sp.Mul(*[xi**a for xi, a in zip(block.x, alpha, strict=True)])
            for alpha in multi_indices(len(block.x), 3)]
    q1 = sp.expand(sum((i + 2) * m for i, m in enumerate(mons)) + 7)
    q2 = sp.expand(sum((-1) ** i * (i + 3) ** 2 * m for i, m in enumerate(mons)) - 5)
    lam, mu = sp.symbols("lambda mu", real=True)
    gap = reduced(T(lam * q1 + mu * q2) - lam * T(q1) - mu * T(q2))
    return Check("A5: T is linear, T(l q1 + m q2) = l T q1 + m T q2 (two independent dense "
                 "cubics q1, q2)", gap == 0, "expanded with the noise moments; for a block "
                 "T = E[w q(x + Delta)] is linear by construction", "A5", expected="0",
                 computed=str(gap))


def converse_checks(res: GeneratorResult, T=None) -> list[Check]:
    """The block satisfies A2 (limit on 2-jets), A5 (T linear), A6 (c = 0), A4 (A >= 0)."""
    if res.divergent:
        rate, _ = res.leading_divergence  # type: ignore[misc]
        return [Check("A2 regularity", False, f"(T q - q)/h diverges like {rate}", "A2")]
    high = res.higher_order_limit
    checks = [
        Check("A2/A3: L acts on the 2-jet only", not high,
              "no derivatives of order 3 or 4 in the limit (multi-indices up to order 4)"
              if not high else f"order>=3: {high}", "A2", expected="{}",
              computed=str({k: str(v) for k, v in high.items()})),
        linearity_check(res.block, T),
        Check("A6: no zeroth-order term (T 1 = 1)", is_zero(res.zeroth_order),
              f"c = {sp.simplify(res.zeroth_order)}", "A6", expected="0",
              computed=str(sp.simplify(res.zeroth_order))),
    ]
    checks.append(psd_certificate(res.diffusion, res.block))
    return checks


#: the largest feature dimension the symbolic derivation is run in: its cost grows 3-4x per
#: dimension (`cdverify derive --no-exact`: 16 s, 49 s, 204 s at d = 2, 3, 4 on one core of the
#: slower 2-core machine, 2026-12-08; d = 3 34 s once checks.simplified remembers simplify's
#: results; d = 5 is the extrapolated quarter of an hour), so d = 6
#: would take about an hour and a large d would not end: refused up front rather than accepted
#: silently
MAX_DIM = 5


def derive(assume: str | list[str] | tuple[str, ...] = DEFAULT_AXIOMS, dim: int = 2) -> Derivation:
    """Apply the assumed axioms one by one to a general generator F(X, p, c, x, t).

    Each step maps F to a new F (steps.py) and refuses to run without its axioms; the equation
    printed at the end is F read as a PDE with the conditions derived from A4, and it is printed
    only when every check passed. Combinations the derivation does not cover are refused (A8
    needs d >= 2 and A7; A9 needs A7); an assumed axiom that has no effect is named in a note.
    """
    keys = parse_axioms(assume)
    if dim < 1:
        raise TheoryError(f"dimension must be >= 1, got {dim}")
    if dim > MAX_DIM:
        raise TheoryError(f"dim = {dim} (--dim): at most {MAX_DIM}; the symbolic derivation's "
                          "cost grows 3-4x per dimension (204 s at d = 4 on one core), so "
                          f"d = {dim} would run for hours; give 1 .. {MAX_DIM}")
    if "A8" in keys and dim < 2:
        raise TheoryError(f"A8 (rotations) needs dim >= 2 (SO(1) is trivial); got dim = {dim}")
    for k in ("A8", "A9"):
        if k in keys and "A7" not in keys:
            raise TheoryError(f"{k} is derived for generators whose coefficients do not depend on"
                              f" x; assume A7 (translation invariance) with {k}")
    der = Derivation(keys, dim)
    jet = make_jet(dim)
    missing = [k for k in ("A2", "A3") if k not in keys]
    if missing:
        gone = " and ".join(missing)
        der.notes.append(f"Without {gone} the generator need not be a local function of the "
                         "2-jet: no PDE follows. The derivation stops here.")
        der.equation = f"no local PDE ({gone} not assumed)"
        _note_unused(der)
        return der
    der.steps.append(step_jet(jet, keys))
    if "A1" in keys:
        der.steps.append(step_semigroup(keys))
    else:
        der.notes.append("Without A1 the one-step operators need not compose: the generator "
                         "describes one step, not an evolution d_t u.")
    if "A4" not in keys:
        der.steps.append(witness_dispersive(dim))
    if "A5" not in keys:
        der.steps.append(_witness_nonlinear(jet, "A4" in keys))
        names = [*(f"u_x{i + 1}x{j + 1}" for i in range(dim) for j in range(i, dim)),
                 *(f"u_x{i + 1}" for i in range(dim)), "u", *map(str, jet.x), "t"]
        der.generator = sp.Function("F")(*jet.variables, *jet.x, jet.t)
        der.equation = (f"d_t u = F({', '.join(names)}), F nonlinear in general"
                        + (", non-decreasing in the Hessian (degenerate elliptic)"
                           if "A4" in keys else ", on quadratic u only"))
        _note_unused(der, "without A5 the generator stays nonlinear and the steps that act on "
                          "its coefficients do not apply")
        return der
    step, F = step_linearity(jet, (*jet.x, jet.t), keys)
    der.steps.append(step)
    if "A6" in keys:
        step, F = step_constants(jet, F, keys)
        der.steps.append(step)
    else:
        der.steps.append(_witness_zeroth_order())
    if "A4" in keys:
        step, _ = step_comparison(jet, F, keys)
        der.steps.append(step)
    else:
        der.steps.append(_witness_indefinite(jet, dim))
    if "A7" in keys:
        step, F = step_translation(jet, F, keys)
        der.steps.append(step)
    if "A8" in keys:
        step, F = step_rotation(jet, F, keys)
        der.steps.append(step)
    if "A9" in keys:
        step, F = step_scale(jet, F, keys)
        der.steps.append(step)
    der.generator = F
    failed = [s.title for s in der.steps if not s.passed]
    if failed:
        der.equation = f"not derived: the step(s) {', '.join(failed)} failed their checks"
    else:
        A, _, _ = coefficients(F, jet)
        if "A4" in keys:
            # A4's conditions, derived on the final F (the later steps substituted into A)
            _, _, der.constraints = comparison_conditions(F, jet)
            cond = ", ".join(f"{sp.sstr(c)} >= 0" for c in der.constraints) or "no condition left"
            der.equation = equation_text(F, jet) + (
                f",  A = {A.tolist()} positive semi-definite: {cond} (derived from A4)")
        else:
            der.equation = equation_text(F, jet) + (
                f",  A = {A.tolist()} of any sign, on quadratic u (without A4 higher-order "
                "terms such as u_x1x1x1 are not excluded)")
    if "A1" not in keys and der.equation.startswith("d_t u = "):
        # without A1 the generator describes one step, not an evolution
        der.equation = "lim (T_{t+h,t} u - u)/h = " + der.equation[len("d_t u = "):]
    _note_unused(der)
    return der


def _note_unused(der: Derivation, why: str = "") -> None:
    """Name the assumed axioms that no step used (they had no effect in this combination)."""
    used = {a for s in der.steps for a in s.axioms}
    unused = [k for k in der.assumed if k not in used]
    if unused:
        der.notes.append(f"assumed but without effect here: {', '.join(unused)}"
                         + (f" ({why})" if why else ""))


def _witness_indefinite(jet: Jet, d: int) -> Step:
    """Without A4: an indefinite A passes every other step and breaks the comparison principle
    (the conditions A4 would derive for it are shown false)."""
    A = sp.diag(*([1] + [-1] * (d - 1))) if d > 1 else sp.Matrix([[-1]])
    v = sp.Matrix([0] * (d - 1) + [1])
    form = (v.T * A * v)[0]
    cert = psd_certificate(A)
    F = linear_generator(jet, A, sp.zeros(d, 1), sp.Integer(0))
    _, _, conditions = comparison_conditions(F, jet)
    violated = [c for c in conditions if decide_nonnegative(c) is False]
    return Step((), "A4 not assumed: A is unconstrained",
                f"an indefinite (backward-diffusion) A such as {list(A)} is allowed",
                (Check(f"witness: A = {A.tolist()} is linear, has no zeroth-order term, and "
                       f"v^T A v = {form} < 0 for v = {list(v)} (comparison fails)",
                       bool(form < 0) and not cert.passed and bool(violated), cert.detail, "",
                       expected="a condition of A4 shown false",
                       computed=", ".join(f"{c} >= 0" for c in violated)),))


def _witness_nonlinear(jet: Jet, with_a4: bool) -> Step:
    """Without A5: the mean-curvature operator is degenerate elliptic, conserves constants, and
    is not linear."""
    d = jet.d
    if d < 2:
        F = sp.Max(jet.X[0, 0], 2 * jet.X[0, 0])  # = X for X >= 0, 2X otherwise: monotone
        J1 = {jet.X[0, 0]: 1}
        J2 = {jet.X[0, 0]: -1}
        nonlin = F.subs(J1) + F.subs(J2) != F.subs({jet.X[0, 0]: 0})
        return Step((), "A5 not assumed: F may be nonlinear",
                    "witness F = max(X, 2X): non-decreasing in X, no c, not additive",
                    (Check("F(J1) + F(J2) != F(J1 + J2) for X = 1, -1", bool(nonlin), "", ""),))
    p = jet.p
    P = sp.eye(d) - p * p.T / (p.T * p)[0]
    F = (P * jet.X).trace()
    v = sp.Matrix(sp.symbols(f"v1:{d + 1}", real=True))
    incr = sp.simplify((P * v * v.T).trace())
    cs = is_zero(sp.simplify(incr * (p.T * p)[0]) - (v.T * v)[0] * (p.T * p)[0]
                 + ((v.T * p)[0]) ** 2)
    J1 = {jet.X[0, 0]: 1, p[0]: 1, **{p[i]: 0 for i in range(1, d)}}
    J2 = {jet.X[0, 0]: 0, p[0]: 0, p[1]: 1, **{p[i]: 0 for i in range(2, d)}}
    Jsum = {jet.X[0, 0]: 1, p[0]: 1, p[1]: 1, **{p[i]: 0 for i in range(2, d)}}
    zeroX = {jet.X[i, j]: 0 for i in range(d) for j in range(d) if (i, j) != (0, 0)}
    f1, f2, f12 = (F.subs({**zeroX, **J}) for J in (J1, J2, Jsum))
    nonlin = sp.simplify(f12 - f1 - f2) != 0
    checks = [Check("mean curvature F = tr((I - p p^T/|p|^2) X) is not additive: "
                    f"F(J1 + J2) - F(J1) - F(J2) = {sp.simplify(f12 - f1 - f2)}", nonlin, "", "")]
    if with_a4:
        checks.append(Check("it is degenerate elliptic (A4): |p|^2 (F(X + vv^T) - F(X)) = "
                            "|v|^2 |p|^2 - (v.p)^2 >= 0 (Cauchy-Schwarz)", cs, "", "A4"))
    return Step(("A4",) if with_a4 else (), "A5 not assumed: F may be nonlinear",
                "a nonlinear F survives, e.g. the mean-curvature operator", tuple(checks))


def _witness_zeroth_order(extract=extract_generator) -> Step:
    """Without A6: a killed (discounted) block has a zeroth-order term -lambda."""
    x = (sp.Symbol("x1", real=True),)
    h = sp.Symbol("h", positive=True)
    lam = sp.Symbol("lambda", positive=True)
    xi = sp.Symbol("xi1", real=True)
    g = sp.Function("g1", real=True)(*x)
    blk = Block(name="discounted", x=x, h=h, increment=sp.Matrix([h * g + sp.sqrt(h) * xi]),
                noises={xi: gaussian()}, weight=sp.exp(-lam * h),
                description="T q = exp(-lambda h) E q(x + h g + sqrt(h) xi)")
    res = extract(blk)
    ok = is_zero(res.zeroth_order + lam)
    return Step((), "A6 not assumed: a zeroth-order term c0(x,t) u remains",
                "witness: the discounted block exp(-lambda h) E q(x + h g + sqrt(h) xi) has "
                "c0 = -lambda",
                (Check("generator of the discounted block has zeroth-order term -lambda", ok,
                       f"computed c = {res.zeroth_order}", ""),))
