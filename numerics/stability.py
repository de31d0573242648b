r"""Stability limits of explicit steppers, from the assembled operator.

For a row-diagonally-dominant operator (upwind convection + second-order diffusion: every
off-diagonal entry >= 0, rows summing to <= 0) forward Euler and the SSP Runge-Kutta methods
(SSP coefficient 1) are stable and monotone iff dt * max_i (-L_ii) <= 1. In 1-D with constant
coefficients this is C + 2r <= 1, in 2-D sum_k (C_k + 2 r_k) <= 1 (theory.scheme_analysis).
For central (non-monotone) schemes, RK3 and RK4 are used with a bound rho on the spectrum and
the radius of the largest left half-disk inside the method's stability region: the Gershgorin
bound, or (``spectrum=True``) the smaller of it and SPECTRAL_MARGIN x the largest |lambda|
found by Arnoldi iteration (ARPACK; dense eigenvalues for small operators), or (``perron=True``)
the smaller of it and the Perron bound (perron_bound: a rigorous bound like Gershgorin's, about
half of it in 3-D boxes, for PERRON_STEPS products). One-sided closures
at the walls make a few boundary rows' Gershgorin discs several times wider than the spectrum
(B6 of bench_fd at 48^3: 311 against |lambda|max 47 with central2), so the Gershgorin step is
that much too small there; the Arnoldi estimate costs about 60 matrix-vector products.
Forward Euler with central convection in 1-D uses the von Neumann limit C^2 <= 2r <= 1.
"""

from __future__ import annotations

from functools import cache

import numpy as np
import scipy.sparse as sps

from .errors import NumericsError

#: the bound psi of a MUSCL limiter: its face slope is phi(r) times the upwind difference with
#: 0 <= phi(r) <= psi and 0 <= phi(r) / r <= psi (minmod: psi = 1; van Leer: phi = 2r / (1 + r),
#: psi = 2). With forward Euler the scheme is then TVD in 1-D, and local-extremum diminishing
#: dimension by dimension, for Courant numbers sum_k nu_k <= 1 / (1 + psi / 2) (Harten 1983;
#: LeVeque, Finite Volume Methods for Hyperbolic Problems, 2002, section 6.12): 2/3 for minmod,
#: 1/2 for van Leer, where the upwind scheme allows 1
LIMITER_PSI = {"minmod": 1.0, "vanleer": 2.0}

#: SSP coefficients c (Gottlieb, Shu, Tadmor, SIAM Review 2001): the method keeps forward
#: Euler's TVD or maximum-principle property for dt <= c dt_FE; rk4 is not SSP
SSP_COEFFICIENT = {"euler": 1.0, "ssprk2": 1.0, "ssprk3": 1.0}


def tvd_factor(limiter: str) -> float:
    """The factor 1 + psi / 2 by which a MUSCL limiter tightens the upwind Courant limit."""
    if limiter not in LIMITER_PSI:
        raise NumericsError(f"unknown limiter {limiter!r}; valid: {', '.join(LIMITER_PSI)}")
    return 1.0 + LIMITER_PSI[limiter] / 2


def limited_dt_limit(diffusion: sps.spmatrix, upwind: sps.spmatrix, limiter: str,
                     stepper: str) -> float:
    """Largest dt that keeps limited (MUSCL) convection plus monotone diffusion TVD / free of
    new extrema: dt max_i (-D_ii + (1 + psi/2) (-U_ii)) <= c, with U the upwind operator of the
    same velocity and c the stepper's SSP coefficient."""
    if stepper not in SSP_COEFFICIENT:
        raise NumericsError(f"{stepper!r} is not strong-stability preserving: limited "
                            "convection keeps its TVD property only with "
                            f"{', '.join(SSP_COEFFICIENT)}")
    c = -(sps.csr_matrix(diffusion).diagonal() + tvd_factor(limiter) *
          sps.csr_matrix(upwind).diagonal())
    return np.inf if not np.any(c > 0) else float(SSP_COEFFICIENT[stepper] / c.max())


# stability polynomials P(z) of the explicit Runge-Kutta methods (linear problems)
POLYNOMIALS = {
    "euler": [1, 1],
    "ssprk2": [1, 1, 1 / 2],
    "ssprk3": [1, 1, 1 / 2, 1 / 6],
    "rk4": [1, 1, 1 / 2, 1 / 6, 1 / 24],
}


@cache
def half_disk_radius(stepper: str) -> float:
    """Largest r with |P(z)| <= 1 on the left half-disk {|z| <= r, Re z <= 0} (computed)."""
    coeffs = POLYNOMIALS[stepper]
    theta = np.linspace(np.pi / 2, 3 * np.pi / 2, 721)

    def ok(r: float) -> bool:
        z = np.concatenate([r * np.exp(1j * theta), 1j * np.linspace(-r, r, 401)])
        return bool(np.all(np.abs(np.polyval(coeffs[::-1], z)) <= 1 + 1e-12))

    lo, hi = 0.0, 4.0
    for _ in range(50):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if ok(mid) else (lo, mid)
    return lo


#: ARPACK's relative tolerance on the Ritz values: 1e-2 halves the cost of 1e-3 (B6 at 48^3:
#: 0.08 against 0.18 s) and agrees with it to 4 digits there
ARNOLDI_TOL = 1e-2
#: factor on the Arnoldi estimate of max |lambda|: its tolerance and room for non-normal
#: transients
SPECTRAL_MARGIN = 1.1
#: below this many unknowns the eigenvalues are computed densely (exact, and faster there:
#: measured on bench_fd's B5 operators, one thread, 2026-12-06, dense against ARPACK 0.4 / 0.6
#: ms at 64 unknowns, 1.6 / 0.6 ms at 100, 15 / 0.8 ms at 256, 550 / 1.2 ms at 1024; under
#: the former threshold of 1500, B5 at 32^2 took 0.56 s, nearly all of it the dense
#: eigenvalues, against 2.7 ms of steps)
DENSE_BELOW = 100


#: power steps of the Perron bound: its value after 12 is within 4% of its value after 40 (which
#: approaches rho(|L|) from above) on B6's operators (central2 and central4, 16^3-48^3;
#: 2026-12-07); the first step's value is Gershgorin's
PERRON_STEPS = 12
#: the shift of the power steps, relative to the current bound: it keeps every entry of x
#: positive where |L| has zero rows (x -> |L| x + eps x), and does not enter the bound
PERRON_SHIFT = 1e-3


#: the explicit steppers whose step a spectral bound sets on a non-monotone operator (the
#: others: SSP or von Neumann limits)
SPECTRAL_STEPPERS = ("ssprk3", "rk4")


def perron_bound(L: sps.spmatrix) -> float:
    """A rigorous upper bound on max |lambda(L)|: min over the power steps x_k of the
    Collatz-Wielandt value max_i (|L| x_k)_i / (x_k)_i.

    For every positive x, rho(|L|) <= max_i (|L| x)_i / x_i (Collatz-Wielandt), and
    |lambda| <= rho(|L|) for every eigenvalue of L (Wielandt; Horn and Johnson, Matrix Analysis,
    8.1.18 and 8.1.26). At x = 1 the value is the largest Gershgorin radius max_i sum_j |L_ij|;
    the power steps on |L| move x toward the Perron vector, which weights down the few wide
    rows of one-sided wall closures (B6 of bench_fd at 23^3, central4: Gershgorin 129.8, this
    bound 58.4 after 12 steps, rho(|L|) about 56.5, Arnoldi's |lambda|max 26.6). It bounds
    eigenvalues, as Arnoldi's estimate does: for a strongly non-normal L it can be far below
    Gershgorin's (a nilpotent |L|: it tends to 0, and the step grows accordingly)."""
    A = _canonical(L)
    A = sps.csr_matrix((np.abs(A.data), A.indices, A.indptr), shape=A.shape)
    x = np.ones(A.shape[0])
    best = np.inf
    for _ in range(PERRON_STEPS + 1):
        y = A @ x
        best = min(best, float((y / x).max()))
        if best == 0.0:
            break
        x = y + PERRON_SHIFT * best * x  # > 0 wherever x > 0
        x /= x.max()
    return best


def spectral_radius(L: sps.spmatrix) -> float | None:
    """max |lambda| of L: dense eigenvalues below DENSE_BELOW unknowns, else ARPACK's two
    largest-modulus Ritz values to ARNOLDI_TOL from a seeded start; None if ARPACK does not
    converge or a Ritz value lies in the right half-plane (where the half-disk does not
    apply: the caller keeps the Gershgorin bound)."""
    import scipy.sparse.linalg as spla

    N = L.shape[0]
    if N < DENSE_BELOW:
        ev = np.linalg.eigvals(L.toarray())
    else:
        try:
            ev = spla.eigs(sps.csr_matrix(L), k=2, which="LM", tol=ARNOLDI_TOL, ncv=12,
                           maxiter=50 * N, return_eigenvectors=False,
                           v0=np.random.default_rng(0).standard_normal(N))
        except spla.ArpackNoConvergence:
            return None
    rho = float(np.abs(ev).max())
    if np.any(ev.real > 1e-8 * max(rho, 1.0)):
        return None
    return rho


def rows_of(M: sps.csr_matrix) -> np.ndarray:
    """The row index of each stored entry of a CSR matrix."""
    return np.repeat(np.arange(M.shape[0]), np.diff(M.indptr))


def _canonical(L: sps.spmatrix) -> sps.csr_matrix:
    """L as CSR without duplicate entries (a copy only where L has them)."""
    L = sps.csr_matrix(L)
    if not L.has_canonical_format:
        L = L.copy()
        L.sum_duplicates()
    return L


def gershgorin(L: sps.spmatrix) -> tuple[np.ndarray, np.ndarray]:
    """Per row: c_i = -L_ii and R_i = sum_{j != i} |L_ij|.

    The row sums of |L| are taken on L's stored entries (abs(L).sum(axis=1) built a second
    matrix, and sorted L in place where it was not canonical: with the assembly's sorted
    products, B6's bound at 23^3 5.4 -> 1.1 ms, at 48^3 115 -> 11 ms); the same sums in the
    same order as scipy's."""
    L = _canonical(L)
    diag = L.diagonal()
    # per row by reduceat over the non-empty rows, as scipy's own row sums (equal bit for bit)
    full = np.diff(L.indptr) > 0
    sums = np.zeros(L.shape[0])
    if L.nnz:
        sums[full] = np.add.reduceat(np.abs(L.data), L.indptr[:-1][full])
    return -diag, sums - np.abs(diag)


def is_monotone_operator(L: sps.spmatrix, tol: float = 1e-10) -> bool:
    """Off-diagonal entries >= 0 (an M-matrix pattern): explicit steps are monotone under CFL."""
    L = _canonical(L)
    off = rows_of(L) != L.indices
    scale = max(1.0, float(np.abs(L.data).max(initial=0.0)))
    return bool(np.all(L.data[off] >= -tol * scale))


def explicit_dt_limit(L: sps.spmatrix, stepper: str, *, velocity_1d: np.ndarray | None = None,
                      diffusion_1d: np.ndarray | None = None, dx: float | None = None,
                      spectrum: bool = False, perron: bool = False) -> float:
    """Largest stable dt of an explicit stepper for du/dt = L u (+ affine terms); with
    ``spectrum``, RK3/RK4 on a non-monotone operator use min(Gershgorin, SPECTRAL_MARGIN x
    the Arnoldi estimate of max |lambda|) as the spectral bound, with ``perron``
    min(Gershgorin, perron_bound) (both: the least of the three)."""
    return explicit_dt_route(L, stepper, velocity_1d=velocity_1d, diffusion_1d=diffusion_1d,
                             dx=dx, spectrum=spectrum, perron=perron)[0]


#: what set an explicit step (explicit_dt_route): nothing moves (L = 0), the SSP limit of a
#: monotone operator, the spectral bound (Gershgorin, Perron or Arnoldi), 1-D von Neumann
EXPLICIT_ROUTES = ("none", "ssp", "spectral", "von-neumann")


def explicit_dt_route(L: sps.spmatrix, stepper: str, *, velocity_1d: np.ndarray | None = None,
                      diffusion_1d: np.ndarray | None = None, dx: float | None = None,
                      spectrum: bool = False, perron: bool = False) -> tuple[float, str]:
    """(explicit_dt_limit, the route in EXPLICIT_ROUTES that set it): the SSP route of a
    monotone operator takes no spectral bound, so a caller records a bound only where the
    route is 'spectral'."""
    if stepper not in POLYNOMIALS:
        raise NumericsError(f"{stepper!r} is not explicit; valid: {', '.join(POLYNOMIALS)}")
    c, R = gershgorin(L)
    if not np.any(c > 0) and not np.any(R > 0):
        return np.inf, "none"
    if stepper != "rk4" and is_monotone_operator(L):  # rk4 has no SSP coefficient
        return float(1.0 / c.max()), "ssp"  # SSP coefficient 1: dt max(-L_ii) <= 1
    if stepper in SPECTRAL_STEPPERS:
        # all eigenvalues lie in the left half-plane (stable semi-discretisations) and in
        # |lambda| <= max_i (c_i + R_i) (Gershgorin)
        bound = float((c + R).max())
        pb = perron_bound(L) if perron else 0.0
        if pb > 0:  # > 0 for any nonzero L (x stays positive); no zero reaches the division
            bound = min(bound, pb)
        rho = spectral_radius(L) if spectrum else None
        if rho is not None and rho > 0:
            bound = min(bound, SPECTRAL_MARGIN * rho)
        return float(half_disk_radius(stepper) / bound), "spectral"
    if velocity_1d is not None and diffusion_1d is not None and dx is not None:
        # von Neumann, forward Euler + central in 1-D: C^2 <= 2r and 2r <= 1, pointwise
        v2 = np.maximum(velocity_1d**2, 1e-300)
        a = np.asarray(diffusion_1d)
        if np.any((a <= 0) & (velocity_1d != 0)):
            raise NumericsError(
                f"{stepper} with central convection and no diffusion is unconditionally unstable "
                "(|G| > 1 for every dt); use convection='upwind1', or stepper 'ssprk3'/'rk4'")
        lim = np.minimum(np.where(velocity_1d != 0, 2 * a / v2, np.inf), dx**2 / (2 * np.maximum(
            a, 1e-300)))
        return float(lim.min()), "von-neumann"
    raise NumericsError(
        f"{stepper} is not stable for this non-monotone operator (it has negative off-diagonal "
        "entries: central convection, or a diffusion tensor whose mixed terms exceed "
        f"min(a_kk, a_mm)) in {'this setting' if velocity_1d is None else '1-D'}; use "
        "'ssprk3' or 'rk4' (stable, not monotone) or an implicit stepper")


def courant_numbers(velocity_max: np.ndarray, diffusion_max: np.ndarray, spacing, dt: float
                    ) -> tuple[np.ndarray, np.ndarray]:
    """C_k = max|v_k| dt / dx_k and r_k = max a_kk dt / dx_k^2."""
    dx = np.asarray(spacing, dtype=float)
    return np.asarray(velocity_max) * dt / dx, np.asarray(diffusion_max) * dt / dx**2


def imex_dt_limit(convection: sps.spmatrix, velocity: np.ndarray, diffusion: np.ndarray,
                  spacing) -> float:
    """Largest stable dt of IMEX Euler (explicit convection, implicit diffusion), from von
    Neumann's analysis of the constant-coefficient scheme taken pointwise, with
    c = sum_k |v_k| / dx_k and q = min_k a_kk / dx_k^2 (the weakest damping):
    upwind convection, |1 - nu (1 - e^{-i theta})| <= 1 + 4 r sin^2(theta/2) for all theta
    iff nu <= (1 + sqrt(1 + 8 r)) / 2, i.e. dt <= 1/c + 2 q / c^2 (forward Euler's 1/c when
    a = 0; the implicit diffusion lets it go further); central convection, |1 - i nu sin theta|
    <= 1 + 4 r sin^2(theta/2) iff nu^2 <= 2 r, i.e. dt <= 2 q / c^2: unstable for every dt
    where v != 0 and a = 0. ``velocity`` (d, *shape), ``diffusion`` (d, d, *shape)."""
    d = velocity.shape[0]
    dx = np.asarray(spacing, float)
    c = sum(np.abs(np.asarray(velocity[k], float)) / dx[k] for k in range(d))
    q = np.min([np.broadcast_to(np.asarray(diffusion[k, k], float), c.shape) / dx[k] ** 2
                for k in range(d)], axis=0)
    moving = c > 0
    if not np.any(moving):
        return np.inf
    c, q = c[moving], q[moving]
    if is_monotone_operator(convection):
        return float(np.min(1 / c + 2 * q / c**2))
    if np.any(q <= 0):
        raise NumericsError(
            "imex-euler with central convection is unstable for every dt where the velocity "
            "is nonzero and there is no diffusion; use convection='upwind1' (monotone) or an "
            "explicit stepper such as 'ssprk3' or 'rk4'")
    return float(np.min(2 * q / c**2))


def mixed_term_ratio(A: np.ndarray) -> float:
    """max over cells and axis pairs of |a_km| / min(a_kk, a_mm) for a diffusion tensor field
    A (d, d, *shape): the 7-point stencil of central2 is monotone where it is <= 1 (on square
    cells); inf where a mixed term meets a zero diagonal."""
    d = A.shape[0]
    worst = 0.0
    for k in range(d):
        for m in range(k + 1, d):
            off = np.abs(np.asarray(A[k, m], float))
            diag = np.minimum(np.asarray(A[k, k], float), np.asarray(A[m, m], float))
            with np.errstate(divide="ignore", invalid="ignore"):
                r = np.where(off > 0, off / np.maximum(diag, 0.0), 0.0)
            worst = max(worst, float(np.max(r)))
    return worst
