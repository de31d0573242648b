r"""Closed-form solutions of (CD), each verified by substitution.

Convention (docs/theory.md section 1): d_t u = v(x,t).grad u + tr(A(x,t) Hess u) + s(x,t), u(., 0)
= f.
For constant v the solution moves as u(x, t) = f(x + v t) (transport towards -v); Feynman-Kac:
u(x, t) = E f(X_t), dX = v ds + S dW, A = S S^T / 2.
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from .checks import reduced
from .errors import TheoryError


@dataclass(frozen=True)
class ExactSolution:
    """u(x, t) solving d_t u = v.grad u + tr(A Hess u) + source, u(., 0) = initial."""

    name: str
    x: tuple[sp.Symbol, ...]
    t: sp.Symbol
    u: sp.Expr
    velocity: sp.Matrix
    diffusion: sp.Matrix
    source: sp.Expr = sp.Integer(0)
    initial: sp.Expr | None = None  # f, checked at t = 0
    # (point, value) pairs where lim_{t -> 0+} u is checked when f is not smooth (a step)
    initial_limits: tuple[tuple[tuple[float, ...], sp.Expr], ...] = ()
    description: str = ""

    @property
    def dim(self) -> int:
        return len(self.x)


def residual(sol: ExactSolution, u: sp.Expr | None = None) -> sp.Expr:
    """d_t u - v.grad u - tr(A Hess u) - source (0 for a solution)."""
    u = sol.u if u is None else u
    grad = sp.Matrix([sp.diff(u, xi) for xi in sol.x])
    hess = sp.hessian(u, sol.x)
    return sp.diff(u, sol.t) - (sol.velocity.T * grad)[0] - (sol.diffusion * hess).trace() \
        - sol.source


def verify(sol: ExactSolution, u: sp.Expr | None = None) -> bool:
    """True when u satisfies the PDE (residual simplifies to 0) and the initial condition
    (u(., 0) = initial, or the limits t -> 0+ at the given points). A solution without initial
    data is refused: the PDE alone has many solutions (u + 1 solves the heat equation too)."""
    u = sol.u if u is None else u
    if sol.initial is None and not sol.initial_limits:
        raise TheoryError(f"{sol.name!r} has no initial condition to verify against; give "
                          "initial= (or initial_limits= for non-smooth data), or use residual() "
                          "for the PDE alone")
    if reduced(residual(sol, u)) != 0:  # (the rotation's residual expands to 0: 1.3 s -> 0.01 s)
        return False
    if sol.initial is not None and reduced(u.subs(sol.t, 0) - sol.initial) != 0:
        return False
    for point, value in sol.initial_limits:
        at = u.subs(dict(zip(sol.x, point, strict=True)))
        if sp.simplify(sp.limit(at, sol.t, 0, "+") - value) != 0:
            return False
    return True


def refuted(sol: ExactSolution, u: sp.Expr, points: int = 3, seed: int = 0,
            digits: int = 50) -> bool:
    """True when u is shown NOT to solve the problem: its residual (or its deviation from the
    initial condition) is non-zero at a random rational point, evaluated with ``digits``
    significant digits and required to exceed 10^(-digits/2) in magnitude. Cheaper than
    simplifying a non-zero residual, and a proof when it says True."""
    import random
    from dataclasses import replace

    # an arbitrary function f in the closed form: refute for one concrete smooth f
    def concrete(expr):
        return expr.replace(
            lambda e: isinstance(getattr(e, "func", None), sp.core.function.UndefinedFunction),
            lambda e: sp.exp(sum((i + 1) * a for i, a in enumerate(e.args)) / 3) + e.args[0] ** 2)

    rng = random.Random(seed)
    u = concrete(u)
    sol = replace(sol, initial=None if sol.initial is None else concrete(sol.initial),
                  velocity=sol.velocity.applyfunc(concrete),
                  diffusion=sol.diffusion.applyfunc(concrete), source=concrete(sol.source))
    res = residual(sol, u)
    free = sorted((res.free_symbols | u.free_symbols) - set(sol.x) - {sol.t}, key=str)
    start = None if sol.initial is None else u.subs(sol.t, 0) - sol.initial
    tiny = sp.Float(10) ** (-digits // 2)
    for _ in range(points):
        at = {xi: sp.Rational(rng.randint(-9, 9), rng.randint(2, 9)) for xi in sol.x}
        at[sol.t] = sp.Rational(rng.randint(1, 9), rng.randint(2, 9))
        at |= {p: sp.Rational(rng.randint(1, 9), rng.randint(2, 9)) for p in free}
        for expr in (res, start):
            if expr is None:
                continue
            value = sp.N(expr.subs(at).doit(), digits)
            if value.is_number and abs(value) > tiny:
                return True
    return False


def perturbed(sol: ExactSolution) -> sp.Expr:
    """A slightly wrong candidate, u + t x1 u / 10 + t/10: its residual must not vanish."""
    return sol.u * (1 + sol.t * sol.x[0] / 10) + sol.t / 10


def _coords(d: int) -> tuple[tuple[sp.Symbol, ...], sp.Symbol]:
    if d < 1:
        raise TheoryError(f"dimension must be >= 1, got {d}")
    return sp.symbols(f"x1:{d + 1}", real=True), sp.Symbol("t", nonnegative=True)


def linear_transport(M: sp.Matrix, f: sp.Expr | None = None, name: str = "linear transport"
                     ) -> ExactSolution:
    """v = M x, A = 0: u(x, t) = f(exp(M t) x) (characteristics)."""
    M = sp.Matrix(M)
    d = M.shape[0]
    x, t = _coords(d)
    if f is None:
        f = sp.Function("f")(*x)
    X = sp.Matrix(x)
    Phi = sp.simplify((M * t).exp() * X)
    u = f.subs(dict(zip(x, Phi, strict=True)), simultaneous=True)
    return ExactSolution(name, x, t, u, M * X, sp.zeros(d), initial=f,
                         description=f"v = M x with M = {M.tolist()}; u = f(exp(Mt) x)")


def rotation(omega: sp.Expr | None = None, f: sp.Expr | None = None) -> ExactSolution:
    """v = omega (-x2, x1): rigid rotation of the features."""
    w = sp.Symbol("omega", real=True) if omega is None else omega
    return linear_transport(sp.Matrix([[0, -w], [w, 0]]), f, "rotation")


def shear(gamma: sp.Expr | None = None, f: sp.Expr | None = None) -> ExactSolution:
    """v = (gamma x2, 0): shear flow."""
    g = sp.Symbol("gamma", real=True) if gamma is None else gamma
    return linear_transport(sp.Matrix([[0, g], [0, 0]]), f, "shear")


def _gauss_cov(B: sp.Matrix, A: sp.Matrix, t: sp.Symbol) -> sp.Matrix:
    """Sigma_t = int_0^t exp(B s) 2A exp(B^T s) ds (covariance of the linear-drift SDE)."""
    s = sp.Symbol("s_", nonnegative=True)
    E = (B * s).exp()
    integrand = (E * 2 * A * E.T).applyfunc(sp.simplify)
    return integrand.applyfunc(lambda e: sp.simplify(sp.integrate(e, (s, 0, t))))


def linear_drift_gaussian(B: sp.Matrix, A: sp.Matrix, center: sp.Matrix | None = None,
                          width: sp.Expr | None = None, name: str = "Ornstein-Uhlenbeck Gaussian"
                          ) -> ExactSolution:
    """v = B x, constant A, f = exp(-|x - c|^2 / (2 w^2)):
    u = sqrt(det(w^2 I) / det(w^2 I + Sigma_t)) exp(-(y - c)^T (w^2 I + Sigma_t)^-1 (y - c) / 2),
    y = exp(B t) x (Feynman-Kac with X_t ~ N(exp(Bt) x, Sigma_t))."""
    B, A = sp.Matrix(B), sp.Matrix(A)
    d = B.shape[0]
    x, t = _coords(d)
    c = sp.zeros(d, 1) if center is None else sp.Matrix(center)
    w = sp.Symbol("w", positive=True) if width is None else width
    Sig = _gauss_cov(B, A, t)
    C = w**2 * sp.eye(d) + Sig
    y = (B * t).exp() * sp.Matrix(x) - c
    y = y.applyfunc(sp.simplify)
    u = sp.sqrt(w ** (2 * d) / C.det()) * sp.exp(-(y.T * C.inv() * y)[0] / 2)
    f = sp.exp(-((sp.Matrix(x) - c).T * (sp.Matrix(x) - c))[0] / (2 * w**2))
    return ExactSolution(name, x, t, u, B * sp.Matrix(x), A, initial=f,
                         description=f"v = B x, B = {B.tolist()}, A = {A.tolist()}, Gaussian f")


def ornstein_uhlenbeck(base: str = "gaussian", d: int = 1) -> ExactSolution:
    """v = -theta x, A = sigma^2/2 I, with a Gaussian, exponential or polynomial base model."""
    theta = sp.Symbol("theta", positive=True)
    sigma = sp.Symbol("sigma", positive=True)
    B, A = -theta * sp.eye(d), sigma**2 / 2 * sp.eye(d)
    if base == "gaussian":
        return linear_drift_gaussian(B, A, name=f"OU, Gaussian base (d={d})")
    x, t = _coords(d)
    var = sigma**2 * (1 - sp.exp(-2 * theta * t)) / (2 * theta)
    m = [sp.exp(-theta * t) * xi for xi in x]
    k = sp.Symbol("k", real=True)
    if base == "exponential":
        f = sp.exp(k * sum(x))
        u = sp.exp(k * sum(m) + d * k**2 * var / 2)
    elif base == "polynomial":
        f = sum(xi**2 for xi in x) + sum(x)
        u = sum(mi**2 + var for mi in m) + sum(m)
    else:
        raise TheoryError(f"unknown base {base!r}; valid: gaussian, exponential, polynomial")
    return ExactSolution(f"OU, {base} base (d={d})", x, t, u, B * sp.Matrix(x), A, initial=f)


def brownian_drift(base: str = "gaussian", d: int = 1) -> ExactSolution:
    """v = b (constant), A = sigma^2/2 I: u = E f(x + b t + sigma W_t)."""
    x, t = _coords(d)
    sigma = sp.Symbol("sigma", positive=True)
    b = sp.Matrix(sp.symbols(f"b1:{d + 1}", real=True))
    y = [xi + bi * t for xi, bi in zip(x, b, strict=True)]
    w = sp.Symbol("w", positive=True)
    k = sp.Symbol("k", real=True)
    if base == "gaussian":
        s2 = w**2 + sigma**2 * t
        f = sp.exp(-sum(xi**2 for xi in x) / (2 * w**2))
        u = (w**2 / s2) ** sp.Rational(d, 2) * sp.exp(-sum(yi**2 for yi in y) / (2 * s2))
    elif base == "exponential":
        f = sp.exp(k * sum(x))
        u = sp.exp(k * sum(y) + d * k**2 * sigma**2 * t / 2)
    elif base == "polynomial":
        f = sum(xi**2 for xi in x)
        u = sum(yi**2 for yi in y) + d * sigma**2 * t
    else:
        raise TheoryError(f"unknown base {base!r}; valid: gaussian, exponential, polynomial")
    return ExactSolution(f"Brownian motion with drift, {base} base (d={d})", x, t, u, b,
                         sigma**2 / 2 * sp.eye(d), initial=f)


def heat_step() -> ExactSolution:
    """Randomized smoothing of the step f = 1{x > 0}: u = Phi(x / (sigma sqrt t)), v = 0."""
    x, t = _coords(1)
    sigma = sp.Symbol("sigma", positive=True)
    u = (1 + sp.erf(x[0] / (sigma * sp.sqrt(2 * t)))) / 2
    return ExactSolution("heat semigroup of a step (randomized smoothing)", x, t, u,
                         sp.zeros(1, 1), sp.Matrix([[sigma**2 / 2]]),
                         initial_limits=(((1,), sp.Integer(1)), ((-1,), sp.Integer(0))),
                         description="u(., t) = G_{sigma sqrt t} * 1{x > 0}; f is the t -> 0+ "
                         "limit (checked at x = +-1)")


def fourier_modes(velocity: sp.Matrix, diffusion: sp.Matrix,
                  modes: list[tuple[sp.Expr, tuple[int, ...]]]) -> ExactSolution:
    """Constant v and A: u = sum_j a_j cos(k_j.(x + v t)) exp(-k_j^T A k_j t) (periodic tests)."""
    v, A = sp.Matrix(velocity), sp.Matrix(diffusion)
    d = v.shape[0]
    x, t = _coords(d)
    u = sp.Integer(0)
    f = sp.Integer(0)
    for amp, k in modes:
        kv = sp.Matrix(k) * 2 * sp.pi
        phase = sum(kv[i] * (x[i] + v[i] * t) for i in range(d))
        u += amp * sp.cos(phase) * sp.exp(-(kv.T * A * kv)[0] * t)
        f += amp * sp.cos(sum(kv[i] * x[i] for i in range(d)))
    return ExactSolution("Fourier modes", x, t, u, v, A, initial=f)


def linear_drift_cosine(B: sp.Matrix, A: sp.Matrix, k0: sp.Matrix) -> ExactSolution:
    """v = B x, constant A, f = cos(k0.x): u = exp(-int_0^t k(s)^T A k(s) ds) cos(k(t).x),
    k(t) = exp(B^T t) k0."""
    B, A, k0 = sp.Matrix(B), sp.Matrix(A), sp.Matrix(k0)
    d = B.shape[0]
    x, t = _coords(d)
    s = sp.Symbol("s_", nonnegative=True)
    ks = ((B.T * s).exp() * k0).applyfunc(sp.simplify)
    decay = sp.integrate(sp.simplify((ks.T * A * ks)[0]), (s, 0, t))
    kt = ks.subs(s, t)
    u = sp.exp(-decay) * sp.cos((kt.T * sp.Matrix(x))[0])
    return ExactSolution("linear drift, cosine base", x, t, u, B * sp.Matrix(x), A,
                         initial=sp.cos((k0.T * sp.Matrix(x))[0]))


def catalogue() -> list[ExactSolution]:
    """Every closed form the toolkit verifies (docs/theory.md sections 1, 3)."""
    th = sp.Symbol("theta", positive=True)
    D = sp.Symbol("D", positive=True)
    return [
        rotation(),
        shear(),
        linear_transport(sp.Matrix([[sp.Symbol("l1"), 0], [0, sp.Symbol("l2")]]),
                         name="diagonal linear flow"),
        brownian_drift("gaussian", 1), brownian_drift("gaussian", 2),
        brownian_drift("exponential", 2), brownian_drift("polynomial", 2),
        ornstein_uhlenbeck("gaussian", 1), ornstein_uhlenbeck("exponential", 1),
        ornstein_uhlenbeck("polynomial", 2),
        linear_drift_gaussian(-th * sp.eye(2), sp.eye(2) * D, name="OU Gaussian (d=2)"),
        linear_drift_gaussian(sp.Matrix([[0, -1], [1, 0]]), D * sp.eye(2),
                              center=sp.Matrix([sp.Rational(1, 2), 0]),
                              name="rotating diffused Gaussian"),
        heat_step(),
    ]
