r"""The axioms A1-A9 as objects, and the machine-checked derivation of (CD) from them.

The derivation (theory.md section 2) starts from a generator F(X, p, c, x, t) on 2-jets and
applies the chosen axioms one at a time. Every step carries a sympy identity (a :class:`Check`)
and names the axiom it used; dropping an axiom leaves the corresponding freedom in F, and the
output shows a witness of it (an indefinite A without A4, a nonlinear F without A5, a zeroth-order
term without A6).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import sympy as sp

from .checks import Check, is_zero
from .errors import TheoryError
from .generator import Block, GeneratorResult, extract_generator
from .noise import gaussian


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


@dataclass(frozen=True)
class Step:
    """One derivation step: the axioms used, what it concludes, and its sympy check(s)."""

    axioms: tuple[str, ...]
    title: str
    conclusion: str
    checks: tuple[Check, ...]

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)


@dataclass
class Derivation:
    """The derivation for a set of assumed axioms in dimension d."""

    assumed: tuple[str, ...]
    dim: int
    steps: list[Step] = field(default_factory=list)
    generator: sp.Expr | None = None  # final F(X, p, c, x, t)
    equation: str = ""
    notes: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(s.passed for s in self.steps)


@dataclass(frozen=True)
class Jet:
    """Symbols of a 2-jet (X symmetric, p, c) at x, and time t, in dimension d."""

    d: int
    X: sp.Matrix
    p: sp.Matrix
    c: sp.Symbol
    x: tuple[sp.Symbol, ...]
    t: sp.Symbol

    @property
    def variables(self) -> list[sp.Symbol]:
        xs = [self.X[i, j] for i in range(self.d) for j in range(i, self.d)]
        return [*xs, *self.p, self.c]


def make_jet(d: int, tag: str = "") -> Jet:
    X = sp.Matrix(d, d, lambda i, j: sp.Symbol(f"X{tag}{min(i, j) + 1}{max(i, j) + 1}", real=True))
    p = sp.Matrix([sp.Symbol(f"p{tag}{i + 1}", real=True) for i in range(d)])
    x = sp.symbols(f"x1:{d + 1}", real=True)
    return Jet(d, X, p, sp.Symbol(f"c{tag}", real=True), x, sp.Symbol("t", real=True))


def linear_generator(jet: Jet, A: sp.Matrix, b: sp.Matrix, c0: sp.Expr) -> sp.Expr:
    """F = tr(A X) + b . p + c0 c."""
    return (A * jet.X).trace() + (b.T * jet.p)[0] + c0 * jet.c


def psd_certificate(A: sp.Matrix, block: Block | None = None) -> Check:
    """Prove A >= 0: a Gram factorisation from the block's noise, else principal minors >= 0."""
    d = A.shape[0]
    if not is_zero(A - A.T):
        return Check("A symmetric positive semi-definite", False, f"A = {A} is not symmetric", "A4")
    if block is not None and block.noises:
        r = sp.Symbol("r_h", positive=True)
        inc = block.increment.subs(block.h, r**2)
        linear = all(sp.Poly(sp.expand(e), *block.noises).total_degree() <= 1 for e in inc)
        if linear:
            gram = sp.zeros(d, d)
            for xi, law in block.noises.items():
                col = sp.Matrix([sp.limit(sp.diff(e, xi) / r, r, 0) for e in inc])
                if is_zero(col):
                    continue
                var = law.variance
                if not (var.is_nonnegative or (var.is_number and var >= 0)):
                    break
                gram += var * col * col.T / 2
            else:
                if is_zero(A - gram):
                    return Check("A symmetric positive semi-definite", True,
                                 "A = (1/2) sum_j Var(xi_j) G_j G_j^T (Gram form of the noise "
                                 "coefficients), checked by substitution", "A4")
    minors = []
    for k in range(1, d + 1):
        import itertools

        for idx in itertools.combinations(range(d), k):
            m = sp.factor(A.extract(list(idx), list(idx)).det())
            minors.append(m)
    if all(m.is_nonnegative for m in minors):
        return Check("A symmetric positive semi-definite", True,
                     f"all principal minors are non-negative: {minors}", "A4")
    return Check("A symmetric positive semi-definite", False,
                 f"could not show A >= 0; principal minors {minors}", "A4")


def converse_checks(res: GeneratorResult) -> list[Check]:
    """The generator of a block satisfies A2 (limit on 2-jets), A6 (c = 0), A5, A4 (A >= 0)."""
    if res.divergent:
        rate, _ = res.leading_divergence  # type: ignore[misc]
        return [Check("A2 regularity", False, f"(T q - q)/h diverges like {rate}", "A2")]
    high = res.higher_order_limit
    checks = [
        Check("A2/A3: L acts on the 2-jet only", not high,
              "no derivatives of order >= 3 in the limit" if not high else f"order>=3: {high}",
              "A2"),
        Check("A5: L is linear, L q = v.grad q + tr(A Hess q) + c q", True,
              "T q = E[q(x + Delta)] is an expectation, linear in q; L extracted term by term",
              "A5"),
        Check("A6: no zeroth-order term (T 1 = 1)", is_zero(res.zeroth_order),
              f"c = {sp.simplify(res.zeroth_order)}", "A6"),
    ]
    checks.append(psd_certificate(res.diffusion, res.block))
    return checks


# --- derivation steps -----------------------------------------------------------------------


def _step_jet(jet: Jet) -> Step:
    """A2 + A3: F is a function of the 2-jet; quadratic test functions reach every 2-jet."""
    y = sp.Matrix(sp.symbols(f"y1:{jet.d + 1}", real=True))
    x = sp.Matrix(jet.x)
    q = jet.c + (jet.p.T * (y - x))[0] + ((y - x).T * jet.X * (y - x))[0] / 2
    hess = sp.hessian(q, list(y))
    grad = sp.Matrix([sp.diff(q, yi) for yi in y]).subs(dict(zip(y, x, strict=True)))
    val = q.subs(dict(zip(y, x, strict=True)))
    ok = is_zero(hess - jet.X) and is_zero(grad - jet.p) and is_zero(val - jet.c)
    return Step(("A2", "A3"), "The generator is a function of the 2-jet",
                "d_t u = F(Hess u, grad u, u, x, t) with F defined on every 2-jet (X, p, c)",
                (Check("the quadratic q = c + p.(y-x) + (y-x)^T X (y-x)/2 has 2-jet (X, p, c) at x",
                       ok, "Hess q = X, grad q(x) = p, q(x) = c", "A2"),))


def _step_semigroup() -> Step:
    """A1: the semigroup law turns the one-step generator into d_t u (Chapman-Kolmogorov)."""
    x, y, z = sp.symbols("x y z", real=True)
    a, b = sp.symbols("a b", positive=True)

    def G(var, s):
        return sp.exp(-(var**2) / (2 * s)) / sp.sqrt(2 * sp.pi * s)

    conv = sp.integrate(G(x - y, a) * G(y - z, b), (y, -sp.oo, sp.oo))
    ok = is_zero(sp.simplify(conv - G(x - z, a + b)))
    return Step(("A1",), "Semigroup: u(t+h) = T_{t+h,t} u(t)",
                "d_t u(x,t) = lim (T_{t+h,t} u(t) - u(t))/h = F(Hess u, grad u, u, x, t)",
                (Check("instance: heat kernels compose, G_a * G_b = G_{a+b} (Chapman-Kolmogorov)",
                       ok, "sympy integral of the product of Gaussian kernels", "A1"),))


def _general_quadratic_F(jet: Jet) -> tuple[sp.Expr, list[sp.Symbol]]:
    """The ansatz F = k0 + sum k_i J_i + sum k_ij J_i J_j over the jet variables J."""
    J = jet.variables
    coeffs: list[sp.Symbol] = []
    F = sp.Symbol("k0")
    coeffs.append(F)
    for i, v in enumerate(J):
        k = sp.Symbol(f"k_{i}")
        coeffs.append(k)
        F += k * v
    for i in range(len(J)):
        for j in range(i, len(J)):
            k = sp.Symbol(f"k_{i}_{j}")
            coeffs.append(k)
            F += k * J[i] * J[j]
    return F, coeffs


def _step_linearity(jet: Jet, A: sp.Matrix, b: sp.Matrix, c0: sp.Expr) -> Step:
    """A5: linearity of T makes F linear in the jet: F = tr(A X) + b.p + c0 c."""
    F, coeffs = _general_quadratic_F(jet)
    J = jet.variables
    J1 = [sp.Symbol(f"{v}_1") for v in J]
    J2 = [sp.Symbol(f"{v}_2") for v in J]
    lam, mu = sp.symbols("lambda mu")
    sub = lambda vals: F.subs(dict(zip(J, vals, strict=True)), simultaneous=True)  # noqa: E731
    identity = sp.expand(sub([lam * u + mu * v for u, v in zip(J1, J2, strict=True)])
                         - lam * sub(J1) - mu * sub(J2))
    eqs = sp.Poly(identity, *J1, *J2, lam, mu).coeffs()
    sol = sp.solve(eqs, coeffs, dict=True)
    forced = sol[0] if sol else {}
    F_lin = sp.expand(F.subs(forced))
    only_linear = sp.Poly(F_lin, *J).total_degree() <= 1 and F_lin.subs(
        dict.fromkeys(J, 0)) == 0
    Xs = sp.Matrix(jet.d, jet.d, lambda i, j: sp.Symbol(f"N{i + 1}{j + 1}"))
    sym_ok = is_zero((Xs * jet.X).trace() - (((Xs + Xs.T) / 2) * jet.X).trace())
    Fl = linear_generator(jet, A, b, c0)
    subs1 = {v: w for v, w in zip(J, J1, strict=True)}
    subs2 = {v: w for v, w in zip(J, J2, strict=True)}
    subs12 = {v: lam * u + mu * w for v, u, w in zip(J, J1, J2, strict=True)}
    lin_ok = is_zero(Fl.subs(subs12, simultaneous=True) - lam * Fl.subs(subs1, simultaneous=True)
                     - mu * Fl.subs(subs2, simultaneous=True))
    return Step(("A5",), "Linearity", "F(X, p, c, x, t) = tr(A(x,t) X) + b(x,t).p + c0(x,t) c, "
                "A symmetric",
                (Check("a quadratic ansatz for F obeying F(l J1 + m J2) = l F(J1) + m F(J2) is "
                       "forced to be linear without constant term", bool(sol) and only_linear,
                       f"sympy.solve on {len(eqs)} coefficient equations; F = {F_lin}", "A5"),
                 Check("only the symmetric part of A acts on symmetric X", sym_ok,
                       "tr(N X) = tr((N + N^T)/2 X) for symmetric X", "A5"),
                 Check("tr(A X) + b.p + c0 c satisfies the linearity identity", lin_ok, "", "A5")))


def _step_constants(jet: Jet, F: sp.Expr, c0: sp.Expr) -> tuple[Step, sp.Expr]:
    """A6: T c = c means F(0, 0, c) = 0 for every constant c, hence c0 = 0."""
    zero_jet = {v: 0 for v in jet.variables if v != jet.c}
    on_const = sp.expand(F.subs(zero_jet))
    sol = sp.solve(sp.Poly(on_const, jet.c).coeffs(), [c0], dict=True)
    ok = bool(sol) and sol[0].get(c0) == 0
    F_new = F.subs(c0, 0)
    return Step(("A6",), "Constant preservation", "c0 = 0: F(X, p, c) = tr(A X) + b.p",
                (Check("F(0, 0, c) = c0 c = 0 for all c forces c0 = 0", ok,
                       f"solve gives {sol}", "A6"),)), F_new


def _step_comparison(jet: Jet, F: sp.Expr, A: sp.Matrix) -> Step:
    """A4: comparison makes F non-decreasing in X, hence v^T A v >= 0 for all v: A >= 0."""
    d = jet.d
    y = sp.Matrix(sp.symbols(f"y1:{d + 1}", real=True))
    x = sp.Matrix(jet.x)
    Y = sp.Matrix(d, d, lambda i, j: sp.Symbol(f"Y{min(i, j) + 1}{max(i, j) + 1}", real=True))
    q1 = jet.c + (jet.p.T * (y - x))[0] + ((y - x).T * jet.X * (y - x))[0] / 2
    q2 = jet.c + (jet.p.T * (y - x))[0] + ((y - x).T * (jet.X + Y) * (y - x))[0] / 2
    touch = is_zero(sp.expand(q2 - q1 - ((y - x).T * Y * (y - x))[0] / 2))
    v = sp.Matrix(sp.symbols(f"v1:{d + 1}", real=True))
    F_shift = F.subs({jet.X[i, j]: jet.X[i, j] + (v * v.T)[i, j]
                      for i in range(d) for j in range(i, d)}, simultaneous=True)
    quad_ok = is_zero(sp.expand(F_shift - F - (v.T * A * v)[0]))
    checks = [
        Check("q2 - q1 = (y-x)^T Y (y-x)/2 >= 0 for Y >= 0, equal at x: T q1 <= T q2 gives "
              "F(X, p, c) <= F(X + Y, p, c)", touch, "", "A4"),
        Check("F(X + v v^T) - F(X) = v^T A v", quad_ok, "so F non-decreasing in X iff A >= 0",
              "A4"),
    ]
    if d == 2:
        a11, a12, a22 = A[0, 0], A[0, 1], A[1, 1]
        form = (v.T * A * v)[0]
        sq = is_zero(sp.expand(a11 * form - (a11 * v[0] + a12 * v[1]) ** 2
                               - (a11 * a22 - a12**2) * v[1] ** 2))
        checks.append(Check("a11 v^T A v = (a11 v1 + a12 v2)^2 + det(A) v2^2: A >= 0 iff "
                            "a11, a22, det A >= 0", sq, "completing the square", "A4"))
    return Step(("A4",), "Comparison principle (degenerate ellipticity)",
                "A(x, t) is symmetric positive semi-definite", tuple(checks))


def _step_translation(jet: Jet, coeff_funcs: list[sp.Function]) -> Step:
    """A7: F(., x + z) = F(., x) for all z forces the coefficients to be independent of x."""
    z = sp.symbols(f"z1:{jet.d + 1}", real=True)
    ok = True
    details = []
    for f in coeff_funcs:
        shifted = f.subs({xi: xi + zi for xi, zi in zip(jet.x, z, strict=True)}, simultaneous=True)
        for zi, xi in zip(z, jet.x, strict=True):
            d0 = sp.diff(shifted - f, zi).subs(dict.fromkeys(z, 0))
            ok &= is_zero(d0 - sp.diff(f, xi))
        details.append(str(f.func))
    # the ODE d_x a = 0 has only x-independent solutions
    xx = sp.Symbol("xx")
    a = sp.Function("a")
    sol = sp.dsolve(sp.Eq(a(xx).diff(xx), 0))
    ode_ok = sol.rhs.free_symbols.isdisjoint({xx})
    return Step(("A7",), "Translation invariance",
                "A = A(t), b = b(t): coefficients do not depend on x",
                (Check("d/dz [a(x + z) - a(x)] at z = 0 equals grad a; invariance makes it 0",
                       ok, f"for {', '.join(details)}", "A7"),
                 Check("grad a = 0 has only x-independent solutions", ode_ok, f"dsolve: {sol}",
                       "A7")))


def _step_rotation(jet: Jet, A: sp.Matrix, b: sp.Matrix) -> tuple[Step, sp.Matrix, sp.Matrix]:
    """A8 (d = 2): F(R X R^T, R p) = F(X, p) for all rotations R forces b = 0, A = a I."""
    th = sp.Symbol("theta", real=True)
    R = sp.Matrix([[sp.cos(th), -sp.sin(th)], [sp.sin(th), sp.cos(th)]])
    eqA = R.T * A * R - A
    eqb = R.T * b - b
    eqs = [e.subs(th, sp.pi / 2) for e in [*eqA, *eqb]] + [e.subs(th, sp.pi) for e in eqb]
    unknowns = sorted({*A.free_symbols, *b.free_symbols} - {jet.t}, key=str)
    funcs = sorted({*A.atoms(sp.Function), *b.atoms(sp.Function)}, key=str)
    dummies = {f: sp.Symbol(f"_{f.func}") for f in funcs}
    eqs_d = [sp.expand(e.subs(dummies)) for e in eqs]
    sol = sp.solve([e for e in eqs_d if e != 0], list(dummies.values()) or unknowns, dict=True)
    back = {v: k for k, v in dummies.items()}
    forced = {back.get(k, k): v.subs(back) for k, v in (sol[0] if sol else {}).items()}
    A_new = A.subs(forced)
    b_new = b.subs(forced)
    all_theta = is_zero(R.T * A_new * R - A_new) and is_zero(R.T * b_new - b_new)
    iso = is_zero(A_new - A_new[0, 0] * sp.eye(2)) and is_zero(b_new)
    return Step(("A8",), "Euclidean (rotation) invariance", "b = 0 and A = a(t) I",
                (Check("R^T A R = A and R^T b = b at theta = pi/2, pi force a12 = 0, a11 = a22, "
                       "b = 0", bool(sol) and iso, f"solve: {forced}", "A8"),
                 Check("the solution is invariant under every rotation R(theta)", all_theta, "",
                       "A8"))), A_new, b_new


def _step_scale(jet: Jet, a: sp.Expr) -> tuple[Step, sp.Expr]:
    """A9: u(mu x, mu^2 t) solves u_t = a(t) Lap u iff a(mu^2 t) = a(t): a is constant."""
    mu = sp.Symbol("mu", positive=True)
    t = jet.t
    xs = jet.x
    u = sp.Function("u")
    scaled = u(*[mu * xi for xi in xs], mu**2 * t)
    # evaluate u's derivatives through the equation u_t = a(t) Lap u at the scaled point
    lap = sum(sp.diff(scaled, xi, 2) for xi in xs)
    dt = sp.diff(scaled, t)
    pts = {t: mu**2 * t}
    residual = dt - a * lap
    # d_t of u(mu x, mu^2 t) = mu^2 (u_t)(...) = mu^2 a(mu^2 t) (Lap u)(...); Lap of scaled =
    # mu^2 (Lap u)(...). So the residual is mu^2 (a(mu^2 t) - a(t)) (Lap u)(...).
    lap_u = sp.Symbol("LapU")
    subs_dt = {dt: mu**2 * a.subs(pts) * lap_u}
    subs_lap = {lap: mu**2 * lap_u}
    res = sp.expand(residual.subs(subs_dt).subs(subs_lap))
    expected = sp.expand(mu**2 * (a.subs(pts) - a) * lap_u)
    ok = is_zero(res - expected)
    a_const = sp.Symbol("a0", nonnegative=True)
    return Step(("A9",), "Scale invariance", "a(t) = a0 constant (heat equation)",
                (Check("residual of u(mu x, mu^2 t) in u_t = a(t) Lap u is "
                       "mu^2 (a(mu^2 t) - a(t)) Lap u: invariance for all mu forces a constant",
                       ok, f"residual = {res}", "A9"),)), a_const


def derive(assume: str | list[str] | tuple[str, ...] = DEFAULT_AXIOMS, dim: int = 2) -> Derivation:
    """Apply the assumed axioms one by one to a general generator F(X, p, c, x, t).

    Returns the derivation: steps with their checks and axioms, the final F and the equation.
    Without A2 or A3 the generator is not a function of the 2-jet and the derivation stops.
    """
    keys = parse_axioms(assume)
    if dim < 1:
        raise TheoryError(f"dimension must be >= 1, got {dim}")
    if "A8" in keys and dim != 2:
        raise TheoryError(f"A8 (rotations) is derived in d = 2; got dim = {dim}; use --dim 2")
    der = Derivation(keys, dim)
    jet = make_jet(dim)
    missing = [k for k in ("A2", "A3") if k not in keys]
    if missing:
        gone = " and ".join(missing)
        der.notes.append(f"Without {gone} the generator need not be a local function of the "
                         "2-jet: no PDE follows. The derivation stops here.")
        der.equation = f"no local PDE ({gone} not assumed)"
        return der
    der.steps.append(_step_jet(jet))
    if "A1" in keys:
        der.steps.append(_step_semigroup())
    else:
        der.notes.append("Without A1 the one-step operators need not compose: the generator "
                         "describes one step, not an evolution d_t u.")
    args = (*jet.x, jet.t)
    inv = "A7" in keys
    cargs = (jet.t,) if inv else args
    A = sp.Matrix(dim, dim, lambda i, j: sp.Function(f"a{min(i, j) + 1}{max(i, j) + 1}",
                                                     real=True)(*cargs))
    b = sp.Matrix([sp.Function(f"b{i + 1}", real=True)(*cargs) for i in range(dim)])
    c0 = sp.Function("c0", real=True)(*cargs)
    if "A5" not in keys:
        der.steps.append(_witness_nonlinear(jet, "A4" in keys))
        der.generator = sp.Function("F")(*jet.variables, *args)
        der.equation = ("d_t u = F(Hess u, grad u, x, t), F nonlinear in general"
                        + (", non-decreasing in Hess u (degenerate elliptic)"
                           if "A4" in keys else ""))
        return der
    der.steps.append(_step_linearity(jet, A, b, c0))
    F = linear_generator(jet, A, b, c0)
    if "A6" in keys:
        step, F = _step_constants(jet, F, c0)
        der.steps.append(step)
    else:
        der.steps.append(_witness_zeroth_order())
    if "A4" in keys:
        der.steps.append(_step_comparison(jet, F, A))
    else:
        der.steps.append(_witness_indefinite(jet, dim))
    if inv:
        der.steps.append(_step_translation(jet, [*A, *b]))
    if "A8" in keys:
        if not inv:
            der.notes.append("A8 without A7: rotation invariance about every point implies "
                             "translation invariance is not assumed; rotations act at x = 0.")
        step, A, b = _step_rotation(jet, A, b)
        der.steps.append(step)
        F = linear_generator(jet, A, b, sp.Integer(0) if "A6" in keys else c0)
        a = A[0, 0]
        if "A9" in keys:
            step, a = _step_scale(jet, a)
            der.steps.append(step)
            F = F.subs(A[0, 0], a)
        der.generator = F
        sign = ", a >= 0" if "A4" in keys else ", a of either sign"
        zero = "" if "A6" in keys else " + c0(t) u"
        der.equation = f"d_t u = {a} Laplacian(u){zero}{sign}  (Alvarez-Guichard-Lions-Morel 1993)"
        return der
    der.generator = F
    zero = "" if "A6" in keys else " + c0(x,t) u"
    psd = "A symmetric positive semi-definite" if "A4" in keys else "A symmetric, any sign"
    der.equation = f"d_t u = b(x,t).grad u + tr(A(x,t) Hess u){zero},  {psd}   (CD)"
    return der


def _witness_indefinite(jet: Jet, d: int) -> Step:
    """Without A4: an indefinite A passes every other step and breaks the comparison principle."""
    A = sp.diag(*([1] + [-1] * (d - 1))) if d > 1 else sp.Matrix([[-1]])
    v = sp.Matrix([0] * (d - 1) + [1])
    form = (v.T * A * v)[0]
    cert = psd_certificate(A)
    return Step((), "A4 not assumed: A is unconstrained",
                f"an indefinite (backward-diffusion) A such as {list(A)} is allowed",
                (Check(f"witness: A = {A.tolist()} is linear, has no zeroth-order term, and "
                       f"v^T A v = {form} < 0 for v = {list(v)} (comparison fails)",
                       form < 0 and not cert.passed, cert.detail, ""),))


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
    return Step((), "A5 not assumed: F may be nonlinear",
                "a nonlinear F survives, e.g. the mean-curvature operator", tuple(checks))


def _witness_zeroth_order() -> Step:
    """Without A6: a killed (discounted) block has a zeroth-order term -lambda."""
    x = (sp.Symbol("x1", real=True),)
    h = sp.Symbol("h", positive=True)
    lam = sp.Symbol("lambda", positive=True)
    xi = sp.Symbol("xi1", real=True)
    g = sp.Function("g1", real=True)(*x)
    blk = Block(name="discounted", x=x, h=h, increment=sp.Matrix([h * g + sp.sqrt(h) * xi]),
                noises={xi: gaussian()}, weight=sp.exp(-lam * h),
                description="T q = exp(-lambda h) E q(x + h g + sqrt(h) xi)")
    res = extract_generator(blk)
    ok = is_zero(res.zeroth_order + lam)
    return Step((), "A6 not assumed: a zeroth-order term c0(x,t) u remains",
                "witness: the discounted block exp(-lambda h) E q(x + h g + sqrt(h) xi) has "
                "c0 = -lambda",
                (Check("generator of the discounted block has zeroth-order term -lambda", ok,
                       f"computed c = {res.zeroth_order}", ""),))
