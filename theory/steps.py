r"""The steps of the derivation of (CD), each a map from the previous generator F to the next.

F(X, p, c, x, t) is the generator on 2-jets (X symmetric, p, c) at x, time t. Every step
derives its conclusion from F with sympy: it turns the axiom into an identity in the jet
variables, collects the coefficient equations, solves them (``solve``, or ``dsolve`` where an
ODE appears) and substitutes the solution into F. Its checks verify the new F by substitution
(the identity holds for it), so a step that concluded the wrong thing fails its own check.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import sympy as sp

from .checks import Check, decide_nonnegative, is_zero, principal_minors
from .errors import TheoryError


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


def require(assumed: tuple[str, ...], keys: tuple[str, ...], title: str) -> None:
    """A step acts only under its axioms: refuse to run it when one of them is not assumed."""
    missing = [k for k in keys if k not in assumed]
    if missing:
        raise TheoryError(f"the step {title!r} uses {', '.join(missing)}, which is not assumed "
                          f"(assumed: {', '.join(assumed) or 'none'})")


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


def coefficients(F: sp.Expr, jet: Jet) -> tuple[sp.Matrix, sp.Matrix, sp.Expr]:
    """(A, b, c0) of a generator linear in the jet: A_ii = dF/dX_ii, A_ij = (dF/dX_ij)/2 (X_ij
    stands for both X_ij and X_ji), b_i = dF/dp_i, c0 = dF/dc."""
    d = jet.d
    A = sp.Matrix(d, d, lambda i, j: sp.diff(F, jet.X[i, j]) * (1 if i == j else sp.Rational(1, 2)))
    b = sp.Matrix([sp.diff(F, pi) for pi in jet.p])
    return A, b, sp.diff(F, jet.c)


def jet_equations(identity: sp.Expr, jet: Jet) -> list[sp.Expr]:
    """The coefficient equations of an identity that must hold for every jet (X, p, c)."""
    expr = sp.expand(identity)
    if expr == 0:
        return []
    return [e for e in sp.Poly(expr, *jet.variables).coeffs() if sp.simplify(e) != 0]


def unknown_functions(F: sp.Expr) -> list[sp.Expr]:
    """The coefficient functions (applied undefined functions) of F, sorted by name."""
    undefined = sp.core.function.UndefinedFunction
    return sorted((f for f in F.atoms(sp.Function) if isinstance(f.func, undefined)), key=str)


def solve_for_functions(eqs: list[sp.Expr], funcs: list[sp.Expr]) -> dict:
    """``sympy.solve`` for applied functions (through dummy symbols); {} when none is forced."""
    dummies = {f: sp.Dummy(str(f.func)) for f in funcs}
    back = {v: k for k, v in dummies.items()}
    eqs_d = [sp.expand(e.subs(dummies)) for e in eqs]
    eqs_d = [e for e in eqs_d if e != 0]
    if not eqs_d:
        return {}
    sol = sp.solve(eqs_d, list(dummies.values()), dict=True)
    return {back[k]: sp.sympify(v).subs(back) for k, v in (sol[0] if sol else {}).items()}


def equation_text(F: sp.Expr, jet: Jet) -> str:
    """'d_t u = ...' with the jet read as derivatives of u: X_ij -> u_xixj, p_i -> u_xi, c -> u."""
    names = {jet.X[i, j]: sp.Symbol(f"u_x{i + 1}x{j + 1}") for i in range(jet.d)
             for j in range(i, jet.d)}
    names |= {pi: sp.Symbol(f"u_x{i + 1}") for i, pi in enumerate(jet.p)}
    names[jet.c] = sp.Symbol("u")
    return f"d_t u = {sp.sstr(sp.expand(F.subs(names, simultaneous=True)))}"


# --- A2/A3, A1 ----------------------------------------------------------------------------------


def step_jet(jet: Jet, assumed: tuple[str, ...]) -> Step:
    """A2 + A3 (+ A4): the generator on the 2-jets of quadratics; with A4 it is a function of the
    2-jet for every smooth u (the sandwich argument of Alvarez-Guichard-Lions-Morel: u lies
    between two quadratics with the same 2-jet up to eps |y - x|^2, and comparison pins the
    generator between theirs). Without A4, A2 constrains F on quadratics only."""
    require(assumed, ("A2", "A3"), "The generator is a function of the 2-jet")
    y = sp.Matrix(sp.symbols(f"y1:{jet.d + 1}", real=True))
    x = sp.Matrix(jet.x)
    q = jet.c + (jet.p.T * (y - x))[0] + ((y - x).T * jet.X * (y - x))[0] / 2
    hess = sp.hessian(q, list(y))
    grad = sp.Matrix([sp.diff(q, yi) for yi in y]).subs(dict(zip(y, x, strict=True)))
    val = q.subs(dict(zip(y, x, strict=True)))
    ok = is_zero(hess - jet.X) and is_zero(grad - jet.p) and is_zero(val - jet.c)
    checks = [Check("the quadratic q = c + p.(y-x) + (y-x)^T X (y-x)/2 has 2-jet (X, p, c) at x",
                    ok, "Hess q = X, grad q(x) = p, q(x) = c", "A2",
                    expected="(X, p, c)", computed=f"({hess.tolist()}, {list(grad)}, {val})")]
    if "A4" not in assumed:
        return Step(("A2", "A3"), "The generator on quadratics (2-jets)",
                    "d_t q = F(Hess q, grad q, q, x, t) for quadratic q; without A4 nothing ties "
                    "F on other u to their 2-jet (higher-order terms are possible)", tuple(checks))
    eps = sp.Symbol("epsilon", positive=True)
    I = sp.eye(jet.d)
    lower = jet.c + (jet.p.T * (y - x))[0] + ((y - x).T * (jet.X - eps * I) * (y - x))[0] / 2
    upper = jet.c + (jet.p.T * (y - x))[0] + ((y - x).T * (jet.X + eps * I) * (y - x))[0] / 2
    gap = sp.expand(upper - lower)
    r2 = ((y - x).T * (y - x))[0]
    checks.append(Check("sandwich: q_eps+ - q_eps- = eps |y - x|^2 >= 0, both with the 2-jet "
                        "(X +- eps I, p, c) at x; u = q + o(|y - x|^2) lies between them near x, "
                        "so by A3 and A4 F(u) is pinned between F(X - eps I) and F(X + eps I)",
                        is_zero(gap - eps * r2), "", "A4", expected=str(sp.expand(eps * r2)),
                        computed=str(gap)))
    return Step(("A2", "A3", "A4"), "The generator is a function of the 2-jet",
                "d_t u = F(Hess u, grad u, u, x, t) with F defined on every 2-jet (X, p, c)",
                tuple(checks))


def witness_dispersive(d: int) -> Step:
    """Without A4: L u = d^3 u / d y1^3 is linear, kills constants, vanishes on every quadratic
    (so it agrees with F = 0 on 2-jets and passes A1-A3, A5, A6 there) and is not a function of
    the 2-jet: u_t = u_x1x1x1 (dispersive, no comparison principle) is not excluded."""
    jet = make_jet(d)
    y = sp.Matrix(sp.symbols(f"y1:{d + 1}", real=True))
    x0 = sp.Matrix(jet.x)
    q = jet.c + (jet.p.T * (y - x0))[0] + ((y - x0).T * jet.X * (y - x0))[0] / 2
    on_quadratics = sp.expand(sp.diff(q, y[0], 3))
    cubic = y[0] ** 3
    on_cubic = sp.diff(cubic, y[0], 3)
    same_jet = [sp.diff(cubic, y[0], k).subs(y[0], 0) for k in range(3)]
    return Step((), "A4 not assumed: the generator need not be a function of the 2-jet",
                "witness L u = u_x1x1x1: linear, L 1 = 0, L q = 0 for every quadratic q, but "
                "L(x1^3) = 6 while x1^3 has the 2-jet of 0 at x = 0",
                (Check("L = d^3/dx1^3 vanishes on the general quadratic (F = 0 on 2-jets)",
                       is_zero(on_quadratics), "", "", expected="0", computed=str(on_quadratics)),
                 Check("L(x1^3) = 6 != 0 although x1^3 and 0 have the same 2-jet at 0: L is not "
                       "a function of the 2-jet", all(v == 0 for v in same_jet)
                       and not is_zero(on_cubic), "", "", expected="not 0 (a 2-jet function "
                       "would give 0)", computed=str(on_cubic))))


def step_semigroup(assumed: tuple[str, ...]) -> Step:
    """A1: the semigroup law makes d_t u = lim (T_{t+h,t} u(t) - u(t))/h an evolution. This is
    the definition of the evolution, used as assumed: no identity is checked for it."""
    require(assumed, ("A1",), "Semigroup")
    return Step(("A1",), "Semigroup: u(t+h) = T_{t+h,t} u(t)",
                "assumed, not machine-checked: u(t+h) = T_{t+h,t} u(t) composes the steps, so "
                "d_t u(x,t) = lim (T_{t+h,t} u(t) - u(t))/h = F(Hess u, grad u, u, x, t)", ())


# --- A5: linearity ------------------------------------------------------------------------------


def general_quadratic_F(jet: Jet) -> tuple[sp.Expr, list[sp.Symbol]]:
    """The ansatz F = k0 + sum k_i J_i + sum k_ij J_i J_j over the jet variables J."""
    J = jet.variables
    coeffs = [sp.Symbol("k0")]
    F = coeffs[0]
    for i, v in enumerate(J):
        coeffs.append(sp.Symbol(f"k_{i}"))
        F += coeffs[-1] * v
    for i, j in itertools.combinations_with_replacement(range(len(J)), 2):
        coeffs.append(sp.Symbol(f"k_{i}_{j}"))
        F += coeffs[-1] * J[i] * J[j]
    return F, coeffs


def step_linearity(jet: Jet, coefficient_args: tuple, assumed: tuple[str, ...]
                   ) -> tuple[Step, sp.Expr]:
    """A5: F(l J1 + m J2) = l F(J1) + m F(J2) forces a quadratic ansatz to be linear without a
    constant; its free coefficients become the functions A(x,t), b(x,t), c0(x,t)."""
    require(assumed, ("A5",), "Linearity")
    F, ks = general_quadratic_F(jet)
    J = jet.variables
    J1 = [sp.Symbol(f"{v}_1") for v in J]
    J2 = [sp.Symbol(f"{v}_2") for v in J]
    lam, mu = sp.symbols("lambda mu")

    def at(vals):
        return F.subs(dict(zip(J, vals, strict=True)), simultaneous=True)

    identity = sp.expand(at([lam * u + mu * v for u, v in zip(J1, J2, strict=True)])
                         - lam * at(J1) - mu * at(J2))
    eqs = sp.Poly(identity, *J1, *J2, lam, mu).coeffs()
    sol = sp.solve(eqs, ks, dict=True)
    F_lin = sp.expand(F.subs(sol[0] if sol else {}))
    # name the surviving coefficients: X_ii -> a_ii, X_ij -> 2 a_ij (X_ij stands for X_ji too),
    # p_i -> b_i, c -> c0; all functions of (x, t) until A7 says otherwise
    d = jet.d
    names = {}
    for v in J:
        k = sp.diff(F_lin, v)
        if not isinstance(k, sp.Symbol):
            continue  # a forced value (0): nothing to name
        s = str(v)
        if s.startswith("X"):
            i, j = int(s[1]) - 1, int(s[2]) - 1
            f = sp.Function(f"a{i + 1}{j + 1}", real=True)(*coefficient_args)
            names[k] = f if i == j else 2 * f
        elif s.startswith("p"):
            names[k] = sp.Function(f"b{s[1:]}", real=True)(*coefficient_args)
        else:
            names[k] = sp.Function("c0", real=True)(*coefficient_args)
    F_new = sp.expand(F_lin.subs(names, simultaneous=True))
    linear = is_linear_without_constant(F_new, jet, ks)
    A, b, c0 = coefficients(F_new, jet)
    rebuilt = linear_generator(jet, A, b, c0)
    Xs = sp.Matrix(d, d, lambda i, j: sp.Symbol(f"N{i + 1}{j + 1}"))
    sym_ok = is_zero((Xs * jet.X).trace() - (((Xs + Xs.T) / 2) * jet.X).trace())
    return Step(("A5",), "Linearity",
                f"F = {equation_text(F_new, jet)[8:]}: linear in (X, p, c), A symmetric",
                (Check("a quadratic ansatz for F obeying F(l J1 + m J2) = l F(J1) + m F(J2) is "
                       "forced to be linear without constant term", bool(sol) and linear,
                       f"sympy.solve on {len(eqs)} coefficient equations", "A5",
                       expected="tr(A X) + b.p + c0 c", computed=str(F_new)),
                 Check("only the symmetric part of A acts on symmetric X", sym_ok,
                       "tr(N X) = tr((N + N^T)/2 X) for symmetric X", "A5",
                       expected=str(sp.expand((((Xs + Xs.T) / 2) * jet.X).trace())),
                       computed=str(sp.expand((Xs * jet.X).trace()))),
                 Check("F = tr(A X) + b.p + c0 c with (A, b, c0) read off F", is_zero(
                     F_new - rebuilt), "", "A5", expected=str(rebuilt), computed=str(F_new)))), \
        F_new


def is_linear_without_constant(F: sp.Expr, jet: Jet, free: list | tuple = ()) -> bool:
    """F is of degree <= 1 in the jet, has no constant term and no unsolved ansatz symbol."""
    J = jet.variables
    return (not (F.free_symbols & set(free)) and sp.Poly(F, *J).total_degree() <= 1
            and sp.expand(F.subs(dict.fromkeys(J, 0))) == 0)


# --- A6: constants ------------------------------------------------------------------------------


def step_constants(jet: Jet, F: sp.Expr, assumed: tuple[str, ...]) -> tuple[Step, sp.Expr]:
    """A6: T c = c, i.e. F(0, 0, c) = 0 for every constant c: solve for the zeroth-order term."""
    require(assumed, ("A6",), "Constant preservation")
    on_const = sp.expand(F.subs({v: 0 for v in jet.variables if v != jet.c}))
    eqs = jet_equations(on_const, jet)
    sol = solve_for_functions(eqs, unknown_functions(on_const))
    F_new = sp.expand(F.subs(sol))
    after = sp.expand(F_new.subs({v: 0 for v in jet.variables if v != jet.c}))
    _, _, c0 = coefficients(F_new, jet)
    return Step(("A6",), "Constant preservation",
                f"zeroth-order term c0 = {c0}: F = {equation_text(F_new, jet)[8:]}",
                (Check("F(0, 0, c) = 0 for all c: solved for the zeroth-order coefficient",
                       bool(sol) and after == 0, f"solve: {sol}", "A6", expected="0",
                       computed=str(after)),)), F_new


# --- A4: comparison -----------------------------------------------------------------------------


def comparison_conditions(F: sp.Expr, jet: Jet) -> tuple[sp.Matrix, sp.Expr, list[sp.Expr]]:
    """What A4 requires of F: F(X + v v^T) - F(X) >= 0 for every v (Y = v v^T spans the cone of
    Y >= 0). The increment is a quadratic form v^T Q v read from F; it is >= 0 for every v iff
    Q >= 0 iff every principal minor of Q is >= 0. Returns (Q, increment, conditions), the
    conditions being the minors (each >= 0), without repeats and without those sympy proves
    non-negative for every value (a square, a positive constant)."""
    d = jet.d
    v = sp.Matrix(sp.symbols(f"v1:{d + 1}", real=True))
    F_shift = F.subs({jet.X[i, j]: jet.X[i, j] + (v * v.T)[i, j]
                      for i in range(d) for j in range(i, d)}, simultaneous=True)
    increment = sp.expand(F_shift - F)
    Q = sp.hessian(increment, list(v)) / 2
    conditions: list[sp.Expr] = []
    for m in principal_minors(Q):
        m = sp.factor(m)
        if decide_nonnegative(m) is True or _implied(m, conditions):
            continue
        conditions.append(m)
    return Q, increment, conditions


def _implied(m: sp.Expr, conditions: list[sp.Expr]) -> bool:
    """m >= 0 follows from the conditions: m = k prod f_i^e_i with k > 0 and each factor a
    square (e even) or a condition already kept (a33^3 >= 0 from a33 >= 0)."""
    if any(sp.simplify(m - c) == 0 for c in conditions):
        return True
    k, factors = sp.factor_list(m)
    if not (k.is_number and k > 0) or not factors:
        return False
    return all(e % 2 == 0 or any(sp.simplify(f - c) == 0 for c in conditions)
               for f, e in factors)


def step_comparison(jet: Jet, F: sp.Expr, assumed: tuple[str, ...]
                    ) -> tuple[Step, list[sp.Expr]]:
    """A4: comparison makes F non-decreasing in X; imposed on F for every Y = v v^T >= 0, it is
    solved for the condition on the coefficients: every principal minor of A >= 0 (A >= 0),
    returned as the derived constraints (each expression >= 0). A condition that is shown
    negative (an F no comparison principle allows) fails the step."""
    require(assumed, ("A4",), "Comparison principle")
    d = jet.d
    y = sp.Matrix(sp.symbols(f"y1:{d + 1}", real=True))
    x = sp.Matrix(jet.x)
    Y = sp.Matrix(d, d, lambda i, j: sp.Symbol(f"Y{min(i, j) + 1}{max(i, j) + 1}", real=True))
    q1 = jet.c + (jet.p.T * (y - x))[0] + ((y - x).T * jet.X * (y - x))[0] / 2
    q2 = jet.c + (jet.p.T * (y - x))[0] + ((y - x).T * (jet.X + Y) * (y - x))[0] / 2
    touch_gap = sp.expand(q2 - q1)
    touch = is_zero(touch_gap - ((y - x).T * Y * (y - x))[0] / 2)
    v = sp.Matrix(sp.symbols(f"v1:{d + 1}", real=True))
    Q, increment, conditions = comparison_conditions(F, jet)
    form = sp.expand((v.T * Q * v)[0])
    jet_free = not (increment.free_symbols & set(jet.variables))
    refuted = [c for c in conditions if decide_nonnegative(c) is False]
    A, _, _ = coefficients(F, jet)
    checks = [
        Check("q2 - q1 = (y-x)^T Y (y-x)/2 >= 0 for Y >= 0, equal at x: T q1 <= T q2 gives "
              "F(X, p, c) <= F(X + Y, p, c)", touch, "", "A4",
              expected=str(sp.expand(((y - x).T * Y * (y - x))[0] / 2)), computed=str(touch_gap)),
        Check("F(X + v v^T) - F(X) is a quadratic form v^T Q v in v alone (Q read from F)",
              jet_free and is_zero(increment - form), "", "A4", expected=str(form),
              computed=str(increment)),
        Check("solved: v^T Q v >= 0 for every v iff every principal minor of Q is >= 0; the "
              "derived conditions are consistent (none is shown negative)", not refuted,
              f"shown negative: {refuted}" if refuted else "", "A4",
              expected="conditions that can hold",
              computed=", ".join(f"{c} >= 0" for c in conditions) or "none left (Q >= 0 shown)"),
        Check("Q is the diffusion A read off F", is_zero(Q - A), "", "A4", expected=str(A.tolist()),
              computed=str(Q.tolist())),
    ]
    if d == 2:
        a11, a12, a22 = Q[0, 0], Q[0, 1], Q[1, 1]
        square = sp.expand((a11 * v[0] + a12 * v[1]) ** 2 + (a11 * a22 - a12**2) * v[1] ** 2)
        checks.append(Check("a11 v^T Q v = (a11 v1 + a12 v2)^2 + det(Q) v2^2: the minors suffice",
                            is_zero(sp.expand(a11 * form) - square), "completing the square",
                            "A4", expected=str(square), computed=str(sp.expand(a11 * form))))
    text = ", ".join(f"{c} >= 0" for c in conditions) or "no condition left"
    return Step(("A4",), "Comparison principle (degenerate ellipticity)",
                f"derived: A = {A.tolist()} positive semi-definite, i.e. {text}",
                tuple(checks)), conditions


# --- A7: translations ---------------------------------------------------------------------------


def step_translation(jet: Jet, F: sp.Expr, assumed: tuple[str, ...]) -> tuple[Step, sp.Expr]:
    """A7: F(., x + z) = F(., x) for all z. d/dz at z = 0 gives grad_x f = 0 for each coefficient
    f; each ODE d f/d x_i = 0 is solved by dsolve, and F is rewritten with f = f(t)."""
    require(assumed, ("A7",), "Translation invariance")
    z = sp.symbols(f"z1:{jet.d + 1}", real=True)
    shift = {xi: xi + zi for xi, zi in zip(jet.x, z, strict=True)}
    eqs = []
    for zi in z:
        ident = sp.diff(F.subs(shift, simultaneous=True) - F, zi).subs(dict.fromkeys(z, 0))
        eqs += jet_equations(ident.doit(), jet)
    funcs = [f for f in unknown_functions(F) if set(f.args) & set(jet.x)]
    replace, solved = {}, []
    for f in funcs:
        rest = list(f.args)
        for xi in jet.x:
            if xi not in f.args:
                continue
            grad_eq = [e for e in eqs if e.has(sp.Derivative(f, xi))]
            # the equation is (const) * d f/d x_i = 0; solve it for the derivative, then the ODE
            deriv = sp.solve(grad_eq[0], sp.Derivative(f, xi)) if grad_eq else None
            g = sp.Function("g")
            ode = sp.dsolve(sp.Eq(g(xi).diff(xi), deriv[0] if deriv else sp.nan), g(xi))
            solved.append(f"d{f.func}/d{xi} = {deriv[0] if deriv else '?'}: {ode}")
            if deriv == [0] and not ode.rhs.has(xi):
                rest.remove(xi)
        replace[f] = sp.Function(str(f.func), real=True)(*rest)
    F_new = sp.expand(F.subs(replace, simultaneous=True))
    invariant = sp.expand(F_new.subs(shift, simultaneous=True) - F_new)
    left = [str(f) for f in unknown_functions(F_new) if set(f.args) & set(jet.x)]
    return Step(("A7",), "Translation invariance",
                "coefficients independent of x: " + (", ".join(str(f) for f in replace.values())
                                                     or "none depended on x"),
                (Check("d/dz [F(., x + z) - F(., x)] at z = 0 gives d f / d x_i = 0 for every "
                       "coefficient, and dsolve gives x-independent solutions",
                       len(solved) == sum(len(set(f.args) & set(jet.x)) for f in funcs)
                       and not left, "; ".join(solved), "A7",
                       expected="coefficients of t only", computed=str(F_new)),
                 Check("the new F is invariant: F(., x + z) - F(., x) = 0", invariant == 0, "",
                       "A7", expected="0", computed=str(invariant)))), F_new


# --- A8: rotations (d = 2) ----------------------------------------------------------------------


def _rotated(F: sp.Expr, jet: Jet, R: sp.Matrix) -> sp.Expr:
    X = R * jet.X * R.T
    p = R * jet.p
    subs = {jet.X[i, j]: X[i, j] for i in range(jet.d) for j in range(i, jet.d)}
    subs |= {jet.p[i]: p[i] for i in range(jet.d)}
    return F.subs(subs, simultaneous=True)


def plane_rotation(d: int, i: int, j: int, angle: sp.Expr) -> sp.Matrix:
    """The rotation by ``angle`` in the (x_i, x_j) plane of R^d."""
    R = sp.eye(d)
    R[i, i], R[i, j], R[j, i], R[j, j] = sp.cos(angle), -sp.sin(angle), sp.sin(angle), sp.cos(angle)
    return R


def step_rotation(jet: Jet, F: sp.Expr, assumed: tuple[str, ...]) -> tuple[Step, sp.Expr]:
    """A8 (d >= 2): F(R X R^T, R p, c) = F(X, p, c) for the quarter and half turns in every
    coordinate plane; the coefficient equations are solved for the coefficients and F rewritten;
    the result is then checked for every angle theta in every coordinate plane (the plane
    rotations generate SO(d))."""
    require(assumed, ("A8", "A7"), "Euclidean (rotation) invariance")
    d = jet.d
    if d < 2:
        raise TheoryError(f"A8 (rotations) needs d >= 2 (SO(1) is trivial); got d = {d}")
    planes = list(itertools.combinations(range(d), 2))
    eqs = []
    for i, j in planes:
        for angle in (sp.pi / 2, sp.pi):
            eqs += jet_equations(_rotated(F, jet, plane_rotation(d, i, j, angle)) - F, jet)
    sol = solve_for_functions(eqs, unknown_functions(F))
    F_new = sp.expand(F.subs(sol))
    A, b, _ = coefficients(F_new, jet)
    return Step(("A8",), "Euclidean (rotation) invariance",
                f"b = {list(b)} and A = {A.tolist()}: F = {equation_text(F_new, jet)[8:]}",
                (Check("F(R X R^T, R p) = F(X, p) at theta = pi/2, pi in every coordinate plane, "
                       "solved for the coefficients", bool(sol), f"solve: {sol}", "A8",
                       expected="A isotropic, b = 0", computed=f"A = {A.tolist()}, b = {list(b)}"),
                 rotation_invariance_check(F_new, jet))), F_new


def rotation_invariance_check(F: sp.Expr, jet: Jet) -> Check:
    """F(R X R^T, R p) - F(X, p) = 0 for R(theta) in every coordinate plane, theta a symbol
    (not a chosen angle: at theta = pi, R = -I on the plane and every quadratic F passes)."""
    th = sp.Symbol("theta", real=True)
    every = [sp.simplify(sp.expand(_rotated(F, jet, plane_rotation(jet.d, i, j, th)) - F))
             for i, j in itertools.combinations(range(jet.d), 2)]
    return Check("the new F is invariant under every rotation R(theta) of every coordinate "
                 "plane", all(e == 0 for e in every), "theta symbolic", "A8", expected="0",
                 computed=str(every))


# --- A9: scaling --------------------------------------------------------------------------------

#: A9's time rescaling: x -> mu x goes with t -> mu^TIME_EXPONENT t (parabolic scaling)
TIME_EXPONENT = 2


def scaling_identity(F: sp.Expr, jet: Jet, mu: sp.Symbol) -> sp.Expr:
    """T_{mu^2(t+h), mu^2 t} S_mu = S_mu T_{t+h,t} with S_mu f = f(mu .), at generator level:
    F(mu^2 X, mu p, c, x, t) - mu^2 F(X, p, c, mu x, mu^2 t) (the jet of f(mu .) at x is
    (mu^2 X, mu p, c) when (X, p, c) is the jet of f at mu x)."""
    k = TIME_EXPONENT
    left = F.subs({**{jet.X[i, j]: mu**2 * jet.X[i, j] for i in range(jet.d)
                      for j in range(i, jet.d)}, **{pi: mu * pi for pi in jet.p}},
                  simultaneous=True)
    right = mu**k * F.subs({**{xi: mu * xi for xi in jet.x}, jet.t: mu**k * jet.t},
                           simultaneous=True)
    return left - right


def step_scale(jet: Jet, F: sp.Expr, assumed: tuple[str, ...]) -> tuple[Step, sp.Expr]:
    """A9: the scaling identity for all mu > 0; d/dmu at mu = 1 gives an ODE in t for each
    coefficient (t a'(t) = 0 for the diffusion), solved by dsolve and substituted into F."""
    require(assumed, ("A9", "A7"), "Scale invariance")
    mu = sp.Symbol("mu", positive=True)
    eqs = jet_equations(scaling_identity(F, jet, mu), jet)
    replace, odes = {}, []
    for f in unknown_functions(F):
        mine = [e for e in eqs if e.has(f.func)]
        if not mine:
            continue
        ode = sp.Eq(sp.diff(mine[0], mu).subs(mu, 1).doit(), 0)
        sol = sp.dsolve(ode, f)
        consts = sorted(sol.rhs.free_symbols - {jet.t}, key=str)
        named = sol.rhs.subs({c: sp.Symbol(f"{f.func}_{i}", real=True)
                              for i, c in enumerate(consts)})
        replace[f] = named
        odes.append(f"{sp.simplify(ode.lhs)} = 0 => {f} = {named}")
    F_new = sp.expand(F.subs(replace))
    return Step(("A9",), "Scale invariance",
                "; ".join(f"{k} = {v}" for k, v in replace.items())
                + f": F = {equation_text(F_new, jet)[8:]}",
                (Check("d/dmu at mu = 1 of the scaling identity gives an ODE per coefficient, "
                       "solved by dsolve", bool(replace), "; ".join(odes), "A9",
                       expected="an ODE and its solution for each coefficient",
                       computed="; ".join(odes) or "none"),
                 scale_invariance_check(F_new, jet))), F_new


def scale_invariance_check(F: sp.Expr, jet: Jet) -> Check:
    """The scaling identity for every mu > 0, mu a symbol (at mu = 1 it holds for every F)."""
    mu = sp.Symbol("mu", positive=True)
    residual = sp.simplify(scaling_identity(F, jet, mu))
    return Check("the new F satisfies the scaling identity for every mu > 0", residual == 0,
                 "mu symbolic", "A9", expected="0", computed=str(residual))
