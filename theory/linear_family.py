r"""A family of closed forms of (CD): linear drift v = B x, constant A >= 0, any B, any d.

Feynman-Kac: u(x, t) = E f(X_t) with dX = B X ds + S dW, A = S S^T / 2, X_0 = x, so
X_t ~ N(Phi(t) x, Sigma(t)) with

    Phi' = Phi B,  Phi(0) = I         (Phi = exp(B t); it commutes with B)
    Sigma' = 2 Phi A Phi^T,  Sigma(0) = 0   (Sigma = int_0^t exp(B s) 2A exp(B^T s) ds).

Two initial data keep their form under this flow:
- Fourier mode f = cos(k . x + phase):
      u = exp(-k^T Sigma k / 2) cos(k^T Phi x + phase);
- Gaussian f = exp(-|x - c|^2 / (2 w^2)), with C = w^2 I + Sigma:
      u = sqrt(w^(2d) / det C) exp(-(Phi x - c)^T C^{-1} (Phi x - c) / 2).

Each is written as an expression F(x, Phi, Sigma) in free matrix symbols. It solves (CD) for
every t exactly when R = dF/dPhi : (Phi B) + dF/dSigma : (2 Phi A Phi^T) - B x . grad F
- tr(A Hess F) vanishes, and we verify that identity in the free symbols (so for all Phi and
Sigma, not only along the flow): symbolically for the Fourier family, by exact evaluation at
random rational points for the Gaussian family (a Schwartz-Zippel test of a rational identity:
R / F is rational in x, Phi, Sigma), plus F(x, I, 0) = f. The ODEs' solutions are evaluated
numerically (codegen.linear_drift_callables: matrix exponential and Van Loan's block formula).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from functools import cached_property
from itertools import combinations

import sympy as sp

from .errors import TheoryError

KINDS = ("fourier", "gaussian")


def _rational_matrix(M, what: str) -> sp.Matrix:
    M = sp.Matrix(M).applyfunc(sp.nsimplify)
    if M.shape[0] != M.shape[1]:
        raise TheoryError(f"{what} must be square, got shape {M.shape}")
    return M


@dataclass(frozen=True)
class LinearDriftForm:
    """A closed form of (CD) with v = B x, constant A: Fourier mode or Gaussian initial data.

    ``wave`` (k) and ``phase`` serve the Fourier family; ``center`` (c) and ``width`` (w) the
    Gaussian one.
    """

    name: str
    kind: str
    B: sp.Matrix
    A: sp.Matrix
    wave: tuple = ()
    phase: sp.Expr = sp.Integer(0)
    center: tuple = ()
    width: sp.Expr = sp.Rational(1, 2)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise TheoryError(f"unknown family {self.kind!r}; valid: {', '.join(KINDS)}")
        B = _rational_matrix(self.B, "B")
        A = _rational_matrix(self.A, "A")
        if A.shape != B.shape:
            raise TheoryError(f"A has shape {A.shape} but B has {B.shape}")
        if A != A.T:
            raise TheoryError(f"A = {A.tolist()} is not symmetric; pass (A + A^T)/2")
        minors = (A.extract(list(rows), list(rows)).det()
                  for r in range(1, A.shape[0] + 1) for rows in combinations(range(A.shape[0]), r))
        if any(m < 0 for m in minors):  # PSD iff every principal minor is >= 0
            raise TheoryError(f"A = {A.tolist()} is not positive semi-definite (axiom A4)")
        d = B.shape[0]
        object.__setattr__(self, "B", B)
        object.__setattr__(self, "A", A)
        if self.kind == "fourier":
            k = tuple(sp.nsimplify(c) for c in (self.wave or (1,) * d))
            if len(k) != d:
                raise TheoryError(f"wave vector {self.wave} has {len(k)} entries; d = {d}")
            object.__setattr__(self, "wave", k)
        else:
            c = tuple(sp.nsimplify(c) for c in (self.center or (0,) * d))
            if len(c) != d:
                raise TheoryError(f"center {self.center} has {len(c)} entries; d = {d}")
            if not sp.nsimplify(self.width) > 0:
                raise TheoryError(f"width {self.width} must be > 0")
            object.__setattr__(self, "center", c)
        object.__setattr__(self, "phase", sp.nsimplify(self.phase))
        object.__setattr__(self, "width", sp.nsimplify(self.width))

    @property
    def dim(self) -> int:
        return self.B.shape[0]

    @cached_property
    def x(self) -> tuple[sp.Symbol, ...]:
        return sp.symbols(f"x1:{self.dim + 1}", real=True)

    @cached_property
    def Phi(self) -> sp.Matrix:
        d = self.dim
        return sp.Matrix(d, d, lambda i, j: sp.Symbol(f"P{i}{j}", real=True))

    @cached_property
    def Sigma(self) -> sp.Matrix:
        d = self.dim
        return sp.Matrix(d, d, lambda i, j: sp.Symbol(f"S{min(i, j)}{max(i, j)}", real=True))

    @cached_property
    def expr(self) -> sp.Expr:
        """F(x, Phi, Sigma): the solution with Phi = Phi(t), Sigma = Sigma(t) substituted."""
        X = sp.Matrix(self.x)
        if self.kind == "fourier":
            k = sp.Matrix(self.wave)
            return sp.exp(-(k.T * self.Sigma * k)[0] / 2) * sp.cos(
                (k.T * self.Phi * X)[0] + self.phase)
        d, w = self.dim, self.width
        C = w**2 * sp.eye(d) + self.Sigma
        y = self.Phi * X - sp.Matrix(self.center)
        return sp.sqrt(w ** (2 * d) / C.det()) * sp.exp(-(y.T * C.adjugate() * y)[0]
                                                         / (2 * C.det()))

    @cached_property
    def initial(self) -> sp.Expr:
        X = sp.Matrix(self.x)
        if self.kind == "fourier":
            return sp.cos((sp.Matrix(self.wave).T * X)[0] + self.phase)
        r = X - sp.Matrix(self.center)
        return sp.exp(-(r.T * r)[0] / (2 * self.width**2))

    @property
    def velocity(self) -> sp.Matrix:
        return self.B * sp.Matrix(self.x)

    @cached_property
    def log_form(self) -> sp.Expr:
        """l = log G of a solution G whose real part is F: G = F for the Gaussian family, and
        G = exp(-k^T Sigma k / 2 + i (k^T Phi x + phase)) for the Fourier family ((CD) is
        linear with real coefficients, so Re G solves it when G does)."""
        X = sp.Matrix(self.x)
        if self.kind == "fourier":
            k = sp.Matrix(self.wave)
            return -(k.T * self.Sigma * k)[0] / 2 + sp.I * ((k.T * self.Phi * X)[0] + self.phase)
        d, w = self.dim, self.width
        C = w**2 * sp.eye(d) + self.Sigma
        y = self.Phi * X - sp.Matrix(self.center)
        return d * sp.log(w) - sp.log(C.det()) / 2 - (y.T * C.adjugate() * y)[0] / (2 * C.det())

    def phi_rate(self) -> sp.Matrix:
        """Phi' = Phi B (exp(B t) commutes with B; the identity in free symbols needs Phi B)."""
        return self.Phi * self.B

    def sigma_rate(self) -> sp.Matrix:
        """Sigma' = 2 Phi A Phi^T (the covariance rate of X_t = Phi x + int Phi(t-s) S dW)."""
        return 2 * self.Phi * self.A * self.Phi.T

    def residual_ratio(self, log_form: sp.Expr | None = None) -> sp.Expr:
        """R / G for G = exp(l): (d_t l along the ODEs) - v . grad l - tr(A (Hess l + grad l
        grad l^T)). Rational in x, Phi, Sigma: no exponentials are differentiated."""
        ell = self.log_form if log_form is None else log_form
        d = self.dim
        dPhi, dSig = self.phi_rate(), self.sigma_rate()
        dt = sum(sp.diff(ell, self.Phi[i, j]) * dPhi[i, j] for i in range(d) for j in range(d))
        # Sigma is symmetric: one symbol per pair, so S_ij (i < j) carries both entries
        dt += sum(sp.diff(ell, self.Sigma[i, j]) * dSig[i, j] for i in range(d)
                  for j in range(i, d))
        grad = sp.Matrix([sp.diff(ell, xi) for xi in self.x])
        hess = sp.hessian(ell, self.x)
        return dt - (self.velocity.T * grad)[0] - (self.A * (hess + grad * grad.T)).trace()

    def verify(self, log_form: sp.Expr | None = None, points: int = 4, seed: int = 0,
               symbolic: bool | None = None) -> bool:
        """True when exp(l) solves (CD) for all Phi, Sigma, x and the form starts at f.

        Fourier: R / G is a polynomial, expanded to 0. Gaussian: R / G is rational; it is
        evaluated exactly at ``points`` random rational points (x, Phi, Sigma with
        w^2 I + Sigma invertible), and also cancelled symbolically when ``symbolic`` (default:
        d <= 2).
        """
        ell = self.log_form if log_form is None else log_form
        at_zero = {**dict(zip(self.Phi, sp.eye(self.dim), strict=True)),
                   **{s: 0 for s in self.Sigma.free_symbols}}
        start = sp.exp(ell.subs(at_zero))
        if sp.simplify(sp.re(sp.expand_complex(start)) - self.initial) != 0:
            return False
        ratio = self.residual_ratio(ell)
        if self.kind == "fourier":
            return sp.expand(ratio) == 0
        rng = random.Random(seed)
        symbols = sorted(self.Phi.free_symbols | self.Sigma.free_symbols | set(self.x),
                         key=str)
        for _ in range(points):
            while True:
                vals = {s: sp.Rational(rng.randint(-9, 9), rng.randint(1, 5)) for s in symbols}
                C = (self.width**2 * sp.eye(self.dim) + self.Sigma).xreplace(vals)
                if C.det() != 0:
                    break
            if sp.nsimplify(ratio.xreplace(vals)) != 0:  # one pass (subs: one per symbol)
                return False
        # the cancellation proves it for every value; after the points, which refute a wrong
        # form in a fraction of its time
        return not (symbolic if symbolic is not None else self.dim <= 2) or \
            sp.cancel(sp.together(ratio)) == 0


def family(d: int) -> list[LinearDriftForm]:
    """The closed forms the numerics tests run: every flow type, full A, both initial data.

    2-D: rotation, shear, sink, source, spiral; 3-D: a spiral sink about an axis, a general B.
    Each drift appears with a Fourier mode and with a Gaussian.
    """
    R = sp.Rational
    if d == 2:
        A = sp.Matrix([[R(3, 100), R(1, 100)], [R(1, 100), R(2, 100)]])
        flows = {
            "rotation": sp.Matrix([[0, -1], [1, 0]]) * R(1, 2),
            "shear": sp.Matrix([[0, R(1, 2)], [0, 0]]),
            "sink": sp.Matrix([[R(-3, 10), 0], [0, R(-1, 5)]]),
            "source": sp.Matrix([[R(3, 10), 0], [0, R(1, 5)]]),
            "spiral": sp.Matrix([[R(-1, 5), R(-1, 2)], [R(1, 2), R(-1, 5)]]),
        }
        wave, center = (1, 2), (R(1, 5), R(-1, 10))
    elif d == 3:
        A = sp.Matrix([[R(3, 100), R(1, 100), 0], [R(1, 100), R(2, 100), R(1, 200)],
                       [0, R(1, 200), R(1, 40)]])
        flows = {
            "spiral sink 3-D": sp.Matrix([[R(-1, 5), R(-1, 2), 0], [R(1, 2), R(-1, 5), 0],
                                          [0, 0, R(-3, 10)]]),
            "general 3-D": sp.Matrix([[R(1, 10), R(-3, 10), R(1, 5)], [R(1, 5), R(-1, 5), 0],
                                      [R(-1, 10), R(1, 10), R(1, 10)]]),
        }
        wave, center = (1, 2, -1), (R(1, 5), R(-1, 10), 0)
    else:
        raise TheoryError(f"the test family is defined for d = 2 and 3, got {d}")
    out = []
    for name, B in flows.items():
        out.append(LinearDriftForm(f"{name}, Fourier", "fourier", B, A, wave=wave,
                                   phase=R(1, 2)))
        out.append(LinearDriftForm(f"{name}, Gaussian", "gaussian", B, A, center=center,
                                   width=R(1, 2)))
    return out


def leaves_box(B: sp.Matrix) -> bool:
    """True when the characteristics dx/dt = -B x leave the box [-1, 1]^d through every face
    point: -B_ii > sum_{j != i} |B_ij| for every i (then -v_i >= -B_ii - sum |B_ij| > 0 on the
    face x_i = 1, and symmetrically on x_i = -1). Such a box needs no boundary data when A = 0.
    """
    B = sp.Matrix(B)
    return all(-B[i, i] > sum(abs(B[i, j]) for j in range(B.shape[0]) if j != i)
               for i in range(B.shape[0]))


def outflow_family(d: int) -> list[LinearDriftForm]:
    """Pure convection (A = 0) by drifts whose characteristics leave [-1, 1]^d everywhere: a
    sink and a spiral sink (d = 2), a spiral sink and a general dominant B (d = 3)."""
    R = sp.Rational
    if d == 2:
        flows = {"sink": sp.Matrix([[R(-3, 10), 0], [0, R(-1, 5)]]),
                 "spiral sink": sp.Matrix([[R(-1, 2), R(1, 5)], [R(-1, 5), R(-1, 2)]])}
        wave, center = (1, 2), (R(1, 5), R(-1, 10))
    elif d == 3:
        flows = {"spiral sink 3-D": sp.Matrix([[R(-1, 2), R(1, 5), 0], [R(-1, 5), R(-1, 2), 0],
                                               [0, 0, R(-3, 10)]]),
                 "general sink 3-D": sp.Matrix([[R(-1, 2), R(1, 10), R(-1, 5)],
                                                [R(1, 5), R(-2, 5), R(1, 10)],
                                                [R(-1, 10), R(1, 10), R(-3, 10)]])}
        wave, center = (1, 2, -1), (R(1, 5), R(-1, 10), 0)
    else:
        raise TheoryError(f"the outflow family is defined for d = 2 and 3, got {d}")
    out = []
    for name, B in flows.items():
        if not leaves_box(B):
            raise TheoryError(f"{name}: characteristics enter the box; not an outflow case")
        out.append(LinearDriftForm(f"{name}, A = 0, Fourier", "fourier", B, sp.zeros(d),
                                   wave=wave, phase=R(1, 2)))
        out.append(LinearDriftForm(f"{name}, A = 0, Gaussian", "gaussian", B, sp.zeros(d),
                                   center=center, width=R(1, 2)))
    return out


def periodic_family(d: int) -> list[LinearDriftForm]:
    """B = 0 (no drift: v = B x is not periodic otherwise), full A, Fourier modes with wave
    numbers that are multiples of pi: periodic on [-1, 1]^d."""
    R = sp.Rational
    if d == 2:
        A = sp.Matrix([[R(3, 100), R(1, 100)], [R(1, 100), R(2, 100)]])
        wave = (sp.pi, -2 * sp.pi)
    elif d == 3:
        A = sp.Matrix([[R(3, 100), R(1, 100), 0], [R(1, 100), R(2, 100), R(1, 200)],
                       [0, R(1, 200), R(1, 40)]])
        wave = (sp.pi, -2 * sp.pi, sp.pi)
    else:
        raise TheoryError(f"the periodic family is defined for d = 2 and 3, got {d}")
    return [LinearDriftForm(f"periodic heat {d}-D, full A", "fourier", sp.zeros(d), A,
                            wave=wave, phase=R(1, 3))]
