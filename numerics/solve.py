r"""One entry point, :func:`solve`, returning a :class:`Solution`.

The linear part of every discretisation is assembled as L u + b(t) (numerics.operators); limited
convection is a nonlinear function used with explicit steppers. The operator and, for implicit
steppers, its sparse LU factorisation are built once per constant-coefficient interval.
"""

from __future__ import annotations

import time as _time
import warnings
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
import scipy.sparse as sps
import scipy.sparse.linalg as spla

from . import operators as ops
from .boundary import BC, boundary_values
from .errors import (
    NonFiniteStateError,
    NonMonotoneWarning,
    NumericsError,
    RangeViolationError,
    UnstableTimeStepError,
    WallTimeError,
)
from .grid import Grid
from .interpolation import interpolate, interpolation_matrix
from .problem import Problem
from .schemes import CONVECTION, DIFFUSION, TIME, lookup
from .stability import (
    SPECTRAL_STEPPERS,
    SSP_COEFFICIENT,
    courant_numbers,
    explicit_dt_route,
    imex_dt_limit,
    is_monotone_operator,
    limited_dt_limit,
    mixed_term_ratio,
    rows_of,
)

SAFETY = 0.9  # fraction of the stability limit used by the adaptive time step
#: relative tolerance of the runtime range guard: round-off on values of the data's scale
RANGE_TOL = 1e-9
#: the most steps a run may take unless the caller raises it (solve's max_steps)
MAX_STEPS = 100_000
#: spectral bounds behind the explicit step of RK3/RK4 with central schemes (solve's dt_bound)
DT_BOUNDS = ("gershgorin", "perron", "arnoldi")
PROJECT_AFTER = 3  # steps timed before a wall-time projection is trusted
#: times of an interval at which callable coefficients are sampled for the explicit step bound
TIME_SAMPLES = 9


@dataclass
class Solution:
    """Snapshots of u at saved times, with run statistics and interpolation."""

    grid: Grid
    times: np.ndarray
    snapshots: np.ndarray  # (n_times, k, *shape)
    stats: dict = field(default_factory=dict)
    #: per axis, whether the problem was periodic along it (None: no axis); :meth:`at` wraps
    #: points along those axes
    periodic: tuple[bool, ...] | None = None

    @property
    def final(self) -> np.ndarray:
        return self.snapshots[-1]

    def at(self, points: np.ndarray, t: float | None = None) -> np.ndarray:
        """u at points (N, d) and time t (linear in space, linear between saved times).

        u lives on the box: along a periodic axis a point is wrapped into it (and interpolated
        across the seam), along any other axis a point beyond a face is refused (between the
        outermost cell centre and its face, half a cell, u is extrapolated linearly), as is a
        non-finite point."""
        t = self.times[-1] if t is None else float(t)
        if not self.times[0] - 1e-12 <= t <= self.times[-1] + 1e-12:
            raise NumericsError(f"t = {t} is outside the saved range "
                                f"[{self.times[0]}, {self.times[-1]}]")
        j = int(np.clip(np.searchsorted(self.times, t), 1, len(self.times) - 1))
        t0, t1 = self.times[j - 1], self.times[j]
        w = 0.0 if t1 == t0 else (t - t0) / (t1 - t0)
        u = (1 - w) * self.snapshots[j - 1] + w * self.snapshots[j]
        from scipy.interpolate import RegularGridInterpolator  # lazy: keeps imports fast

        g = self.grid
        pts = np.array(np.atleast_2d(np.asarray(points, dtype=float)))
        if pts.ndim != 2 or pts.shape[1] != g.dim:
            raise NumericsError(f"points have shape {pts.shape}; expected (N, {g.dim})")
        bad = ~np.isfinite(pts).all(axis=1)
        if bad.any():
            i = int(np.argmax(bad))
            raise NumericsError(f"point {i} = {pts[i].tolist()} is not finite; give finite "
                                f"points (N, {g.dim})")
        periodic = self.periodic or (False,) * g.dim
        axes = list(g.axes)
        pad = [(0, 0)] * (g.dim + 1)
        for k, ((a, b), h) in enumerate(zip(g.bounds, g.spacing, strict=True)):
            if periodic[k]:  # wrap into [a, b) and add one wrapped cell on each side
                pts[:, k] = a + np.mod(pts[:, k] - a, b - a)
                axes[k] = np.concatenate([[axes[k][0] - h], axes[k], [axes[k][-1] + h]])
                pad[k + 1] = (1, 1)
                continue
            out = (pts[:, k] < a - 1e-12 * (b - a)) | (pts[:, k] > b + 1e-12 * (b - a))
            if out.any():
                i = int(np.argmax(out))
                raise NumericsError(
                    f"point {i} = {pts[i].tolist()} lies outside the box on axis {k} "
                    f"([{a:g}, {b:g}], not periodic): the solution is defined on the box only")
        if any(p != (0, 0) for p in pad):
            u = np.pad(u, pad, mode="wrap")
        out = []
        for comp in u:
            f = RegularGridInterpolator(tuple(axes), comp, bounds_error=False, fill_value=None)
            out.append(f(pts))
        return np.stack(out, axis=1)


@dataclass
class Discretisation:
    """L (linear), affine boundary terms b(t), and an optional nonlinear convection function."""

    L: sps.csr_matrix
    conv: sps.csr_matrix
    diff: sps.csr_matrix
    b_conv: callable
    b_diff: callable
    limited: callable | None = None  # u -> limited v.grad u (explicit only)
    vmax: np.ndarray | None = None  # max |v_k| per axis (for the Courant numbers)
    amax: np.ndarray | None = None  # max a_kk per axis
    # fraction of the boundary cells of 'outflow' sides where characteristics enter (no data
    # exist there: the extrapolated values stand in for them, so the result depends on the box)
    outflow_inflow: float = 0.0


def _outgoing(v: np.ndarray, k: int, bcs, shape: tuple[int, ...]) -> np.ndarray:
    """Cells whose axis-k stencil reaches a dirichlet face that characteristics leave.

    d_t u = v . grad u carries information along -v: at the low face of axis k the PDE needs no
    data where v_k > 0 (u there is determined from inside), at the high face where v_k < 0.
    Those rows use the data-free extrapolation closure (see assemble's docstring).
    """
    vk = v.reshape(shape)
    idx = np.arange(shape[k]).reshape([-1 if j == k else 1 for j in range(len(shape))])
    side = np.zeros(shape, dtype=bool)
    if bcs[0].kind == "dirichlet":
        side |= (idx < ops.GHOST) & (vk > 0)
    if bcs[1].kind == "dirichlet":
        side |= (idx >= shape[k] - ops.GHOST) & (vk < 0)
    return side.reshape(-1)


@lru_cache(maxsize=64)  # about ten per grid and scheme; they can be large
def _embedded(stencil: str, k: int, shape: tuple[int, ...], spacing: tuple[float, ...],
              lo: str, hi: str, order: int | None) -> sps.csr_matrix:
    """A 1-D stencil with its ghost closures (which depend on the boundary kinds only, the
    data enter apart) embedded on axis k: the coefficient-free part of every term, the same
    at every time, so that callable coefficients re-weight it instead of rebuilding it
    (the Kronecker products were 60% of a time-dependent run's assembly)."""
    M = ops.axis_operator(stencil, shape[k], spacing[k], BC(lo), BC(hi), order)
    out = ops.kron_axis(M, k, shape)
    out.data.flags.writeable = False  # shared by every caller
    return out


@lru_cache(maxsize=64)  # about ten per grid and scheme; they can be large
def _product(a: tuple, b: tuple) -> sps.csr_matrix:
    """The product of two embedded stencils (a mixed derivative), cached like them; its
    column indices sorted once here (a sparse product leaves them unsorted, which sent every
    sum of terms down scipy's slower general path and left the operator to be sorted again
    by each of its readers)."""
    out = (_embedded(*a) @ _embedded(*b)).tocsr()
    out.sum_duplicates()
    out.data.flags.writeable = False
    return out


def assemble(problem: Problem, t: float, convection: str, diffusion: str) -> Discretisation:
    """Sparse operator for v.grad u + tr(A Hess u) at time t (coefficients frozen).

    Every term is (coefficient) x (product of 1-D stencils applied to u extended by ghost
    cells): its matrix is the Kronecker product of the closed 1-D operators and its boundary
    data b(t) the same product applied to the extension of zero (operators.affine_term, as
    linear maps of the face data: operators.affine_maps), so
    mixed derivatives receive the data of both faces and of the corners.

    Convection at dirichlet faces that characteristics leave takes no data: there the ghost
    cells are extrapolated from inside by the cubic through the first four cells. A value
    imposed where the hyperbolic part determines u from inside over-determines it: a central
    scheme then carries a boundary layer whose size does not shrink with h when A = 0
    (observed: central2 error 5e-2 at every n for a sink flow), whereas extrapolation at an
    outflow boundary is a consistent, stable closure (Gustafsson's rule: one order below the
    interior at the boundary keeps the global order). The diffusion rows keep the data. Two
    alternatives were measured and dropped: the data in every row where a_kk > 0 (the boundary
    layer then shrinks only once the cell Peclet number |v_k| dx / a_kk is below ~1: central4
    slopes 2.9-3.5 where this closure gives 3.8-4.0), and a switch at Peclet 2 (the switch
    moves with h and made the slopes erratic, 2.6 to 4.3). A neumann condition constrains only
    the normal derivative, which is compatible with outgoing characteristics, so neumann faces
    keep their data everywhere (extrapolating there instead lowered central4 to order 3: local
    slopes 3.7 -> 3.1 on a spiral, n = 32..192; with the data it is 4.0). Faces that
    characteristics enter keep the boundary data, as every consistent scheme must.
    """
    g = problem.grid
    v = problem.velocity_at(t).reshape(g.dim, -1)
    A = problem.diffusion_at(t).reshape(g.dim, g.dim, -1)
    N = g.size
    bcs = problem.bcs
    conv = sps.csr_matrix((N, N))
    diff = sps.csr_matrix((N, N))
    # (coefficient per cell, ((axis, stencil), ...)) for every term whose closure takes data
    data_c: list[tuple[np.ndarray, tuple[tuple[int, str], ...]]] = []
    data_d: list[tuple[np.ndarray, tuple[tuple[int, str], ...]]] = []
    free = {k: (BC("outflow"), BC("outflow")) for k in range(g.dim)}

    def K(stencil: str, k: int, closure=None, order=None) -> sps.csr_matrix:
        lo, hi = closure or bcs[k]
        return _embedded(stencil, k, g.shape, g.spacing, lo.kind, hi.kind, order)

    for k in range(g.dim):
        vk = v[k]
        if convection in ("upwind1", "central2", "central4"):
            parts = ([(np.maximum(vk, 0), "d1_forward"), (np.minimum(vk, 0), "d1_backward")]
                     if convection == "upwind1" else [(vk, "d1_" + convection)])
            out = _outgoing(vk, k, bcs[k], g.shape)
            for coef, st in parts:
                if not np.any(coef):
                    continue
                c_in, c_out = np.where(out, 0.0, coef), np.where(out, coef, 0.0)
                conv = conv + _scaled(c_in, K(st, k))
                if np.any(c_out):
                    conv = conv + _scaled(c_out, K(st, k, free[k], order=4))
                data_c.append((c_in, ((k, st),)))
        akk = A[k, k]
        if np.any(akk):
            st = "d2_" + diffusion
            diff = diff + _scaled(akk, K(st, k))
            data_d.append((akk, ((k, st),)))
    for k in range(g.dim):
        for m in range(k + 1, g.dim):
            akm = A[k, m]
            if not np.any(akm):
                continue
            if diffusion == "central4":
                terms = [(2 * akm, "d1_central4", "d1_central4")]
            else:  # monotone 7-point stencil, orientation by the sign of a_km
                pos, neg = np.maximum(akm, 0), np.minimum(akm, 0)
                terms = [(pos, "d1_forward", "d1_forward"), (pos, "d1_backward", "d1_backward"),
                         (neg, "d1_forward", "d1_backward"), (neg, "d1_backward", "d1_forward")]
            for coef, sk, sm in terms:
                if np.any(coef):
                    diff = diff + _scaled(coef, _product(
                        (sk, k, g.shape, g.spacing, *(b.kind for b in bcs[k]), None),
                        (sm, m, g.shape, g.spacing, *(b.kind for b in bcs[m]), None)))
                    data_d.append((coef, ((k, sk), (m, sm))))
    conv, diff = conv.tocsr(), diff.tocsr()

    def affine(terms):
        terms = [(c, f) for c, f in terms if np.any(c) and any(
            bc.kind in ("dirichlet", "neumann") for k, _ in f for bc in bcs[k])]
        if not terms:  # periodic/outflow only: no boundary data enter
            return no_data

        # b(t) = F g(t): F maps the data of every face a term reads (each face once, the
        # terms' coefficients folded in) to the cells; built once, so a stage costs the face
        # evaluations and one sparse product (ops.affine_maps)
        blocks = [(coef, key, M) for coef, factors in terms
                  for key, M in ops.affine_maps(g, factors, bcs)]
        # faces with the same condition are evaluated in one call on their cells together
        # (a call per face per stage was half of what remained of b(t))
        groups: dict[BC, list] = {}
        for _, key, _ in blocks:
            keys = groups.setdefault(bcs[key[0]][key[1]], [])
            if key not in keys:
                keys.append(key)
        F = _face_matrix(blocks, [key for keys in groups.values() for key in keys], N)
        faces = []
        for bc, keys in groups.items():
            points = [ops.face_points(g, key, bcs) for key in keys]
            faces.append((bc, points, tuple(np.concatenate([p[j].ravel() for p in points])
                                            for j in range(g.dim))))
        joined = [True] * len(faces)

        def values(i: int, tt: float) -> np.ndarray:
            bc, points, together = faces[i]
            if joined[i]:
                try:
                    return boundary_values(bc, together, tt)
                except NumericsError:
                    # face by face: the error then names the face's own shape, and data that
                    # need a face's shape (not elementwise) are still read right
                    joined[i] = False
            return np.concatenate([boundary_values(bc, p, tt).ravel() for p in points])

        def b(tt: float) -> np.ndarray:
            return F @ np.concatenate([values(i, tt) for i in range(len(faces))])

        if not any(callable(bc.value) for _, f in terms for k, _ in f for bc in bcs[k]):
            const = b(t)  # constant boundary data: the affine term is computed once
            return lambda tt: const
        return b

    limited = None
    if convection in ("minmod", "vanleer"):
        vf = problem.velocity_at(t)

        def limited(u: np.ndarray, tt: float) -> np.ndarray:
            total = np.zeros_like(u)
            for k in range(g.dim):
                if np.any(vf[k]):
                    total += vf[k][None] * ops.limited_derivative(u, vf[k], k, problem.bcs[k], g,
                                                                  tt, convection)
            return total

    return Discretisation((conv + diff).tocsr(), conv, diff, affine(data_c), affine(data_d),
                          limited, vmax=np.abs(v).max(axis=1),
                          amax=np.array([np.abs(A[k, k]).max() for k in range(g.dim)]),
                          outflow_inflow=_outflow_inflow(v, bcs, g.shape))


def _scaled(coef: np.ndarray, M: sps.csr_matrix) -> sps.csr_matrix:
    """diag(coef) M on M's own pattern (sps.diags(coef) @ M is a sparse matrix product: a
    quarter of a 3-D central4 assembly, B6 at 24^3 18.6 -> 13.9 ms with this)."""
    c = np.broadcast_to(np.asarray(coef, dtype=float), (M.shape[0],))
    return sps.csr_matrix((M.data * c[rows_of(M)], M.indices, M.indptr), shape=M.shape)


def _face_matrix(blocks, order, N: int) -> sps.csr_matrix:
    """F with b = F g, g the face data in ``order``: the sum over blocks (coef, face, M) of
    diag(coef) M in that face's columns, assembled in one COO pass (sparse diagonal products
    and sums per block cost more than the product itself where coefficients change every
    stage)."""
    start, col = {}, 0
    for key in order:
        start[key] = col
        col += next(M.shape[1] for _, k, M in blocks if k == key)
    rows, cols, vals = [], [], []
    for coef, key, M in blocks:
        r = rows_of(M)
        rows.append(r)
        cols.append(M.indices + start[key])
        vals.append(M.data * np.broadcast_to(coef, (N,))[r])
    return sps.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                          shape=(N, col))


def _outflow_inflow(v: np.ndarray, bcs, shape: tuple[int, ...]) -> float:
    """Fraction of the boundary cells of 'outflow' sides whose characteristics enter the box
    (low side v_k < 0, high side v_k > 0)."""
    entering, total = 0, 0
    for k, (lo, hi) in enumerate(bcs):
        vk = v[k].reshape(shape)
        for side, bc in enumerate((lo, hi)):
            if bc.kind != "outflow":
                continue
            face = np.take(vk, 0 if side == 0 else shape[k] - 1, axis=k)
            entering += int(np.count_nonzero(face < 0 if side == 0 else face > 0))
            total += face.size
    return entering / total if total else 0.0


def no_data(t: float) -> float:
    """The affine term of a discretisation that no boundary data enter."""
    return 0.0


def _rhs(disc: Discretisation, problem: Problem, u: np.ndarray, t: float) -> np.ndarray:
    k = u.shape[0]
    flat = u.reshape(k, -1)
    # in place, and no data terms where none enter: each full-array temporary was about 3% of
    # an explicit step on a 128^2 periodic box (bench_fd's per-cell rate)
    if disc.limited is None:
        out = (disc.L @ flat.T).T
        terms = (disc.b_conv, disc.b_diff)
    else:
        out = (disc.diff @ flat.T).T
        out += disc.limited(u, t).reshape(k, -1)
        terms = (disc.b_diff,)
    for b in terms:
        if b is not no_data:
            out += b(t)
    s = problem.source_at(t)
    if s is not None:
        out += s.reshape(k, -1)
    return out.reshape(u.shape)


def _explicit_step(name, f, u, t, dt):
    if name == "euler":
        return u + dt * f(u, t)
    if name == "ssprk2":
        u1 = u + dt * f(u, t)
        return 0.5 * u + 0.5 * (u1 + dt * f(u1, t + dt))
    if name == "ssprk3":
        u1 = u + dt * f(u, t)
        u2 = 0.75 * u + 0.25 * (u1 + dt * f(u1, t + dt))
        return u / 3 + 2 / 3 * (u2 + dt * f(u2, t + dt / 2))
    k1 = f(u, t)
    k2 = f(u + dt / 2 * k1, t + dt / 2)
    k3 = f(u + dt / 2 * k2, t + dt / 2)
    k4 = f(u + dt * k3, t + dt)
    out = k2 + k3  # u + dt/6 (k1 + 2 k2 + 2 k3 + k4), in place
    out *= 2
    out += k1
    out += k4
    out *= dt / 6
    out += u
    return out


class _Feet(tuple):
    """The feet X (one array per axis); ``matrices``, where the feet are kept over a solve:
    their interpolation matrices (numerics.interpolation), by the closures they pad with."""

    matrices: dict | None = None


# the most memory the interpolation matrices of one solve's feet may take, counted at
# MATRIX_ENTRY_BYTES an entry (12 kept, the rest while one is built: measured, a rotation
# solve at 768^2 peaked 306 MB higher with a matrix of 9.4 million entries), 4^d entries a
# cell (9 MB per 4096 cells in 3-D); beyond it each interpolation runs afresh
MATRIX_BYTES = 2**29
MATRIX_ENTRY_BYTES = 36


def matrix_bytes(dim: int, cells: float, count: int = 1) -> float:
    """Memory counted for ``count`` interpolation matrices of kept feet on ``cells`` cells in
    ``dim`` dimensions (4^dim entries a cell, MATRIX_ENTRY_BYTES each), before the bound."""
    return MATRIX_ENTRY_BYTES * 4**dim * cells * count


def _departure(problem: Problem, t: float, dt: float,
               cache: dict | None = None) -> tuple[np.ndarray, ...]:
    """RK2 characteristics: X = x + dt v(x + dt/2 v(x, t + dt), t + dt/2) (u(x,t+dt) = u(X,t)).

    A velocity given on the grid is read between cells by cubic Lagrange interpolation. With
    ``cache`` (a dict kept over a solve), a velocity that is not a callable of t gives the same
    points for every step of one size in one interval: they are computed once (in 3-D the
    interpolations of the velocity were 12 of a step's 16)."""
    key = None
    if cache is not None and not callable(problem.velocity):
        key = (problem.interval(t + dt), problem.interval(t + dt / 2), dt)
        if key in cache:
            _hold_matrices(cache, cache[key])
            return cache[key]
    g = problem.grid
    x = np.stack(g.coords)

    def vel(points: np.ndarray, tt: float) -> np.ndarray:
        if callable(problem.velocity):
            return np.asarray(problem.velocity(tuple(points), tt), dtype=float) * np.ones_like(
                points)
        field_ = problem.velocity_at(tt)
        idx = [(points[k] - g.bounds[k][0]) / g.spacing[k] - 0.5 for k in range(g.dim)]
        return np.stack([interpolate(field_[k], idx) for k in range(g.dim)])

    mid = x + 0.5 * dt * vel(x, t + dt)
    out = _Feet(x + dt * vel(mid, t + dt / 2))
    if key is not None:
        if len(cache) >= 8:
            cache.clear()
        cache[key] = out
        _hold_matrices(cache, out)
    return out


def _hold_matrices(cache: dict, feet: _Feet) -> None:
    """Kept feet are worth their interpolation matrices; only the feet in use hold them, so
    MATRIX_BYTES bounds a whole solve's (a step size changes only with an interval or a save
    time, and its feet are then used for the steps that follow)."""
    for other in cache.values():
        if other is not feet:
            other.matrices = {}
    if feet.matrices is None:
        feet.matrices = {}


def _interpolate(problem: Problem, u: np.ndarray, X: tuple[np.ndarray, ...], t: float,
                 bcs: tuple | None = None) -> np.ndarray:
    """u(X) by cubic Lagrange interpolation (numerics.interpolation) at departure points X
    (on a fully periodic box: cubic splines, which have no boundary there).

    u is extended by the second-order ghost closures at time t, so a departure point of an
    inflow characteristic outside the box reads the boundary data (dirichlet, neumann) or the
    extrapolation (outflow). Second order on purpose: the fourth-order closures' weights (up
    to 30), and cubic extrapolation from interior cells only (weights summing to 6 in modulus),
    amplify the grid-scale mode that Crank-Nicolson leaves undamped (measured: source flow,
    dirichlet data, error 5 at 128^2). A departure point beyond the ghost layer of a side with
    data would need its characteristic's crossing time, which this scheme does not trace: it
    is refused with the step that avoids it; beyond an outflow side the last ghost value is
    used. ``bcs`` replaces the problem's closures (for fields other than u: no refusal).
    """
    check = bcs is None
    bcs = problem.bcs if bcs is None else bcs
    g = problem.grid
    if all(bc[0].kind == "periodic" for bc in bcs):
        # no boundary: the cubic spline (error constant 24x below local Lagrange's at mid-cell)
        from scipy.ndimage import map_coordinates

        idx = [(X[k] - g.bounds[k][0]) / g.spacing[k] - 0.5 for k in range(g.dim)]
        return np.stack([map_coordinates(c, idx, order=3, mode="grid-wrap") for c in u])
    p = ops.GHOST
    padded = u
    axes = list(g.axes)
    idx = []
    for k in range(g.dim):
        (a, b), n, dx = g.bounds[k], g.shape[k], g.spacing[k]
        lo, hi = bcs[k]
        xk = X[k]
        if lo.kind == "periodic":
            xk = a + np.mod(xk - a, b - a)
        for side, bc in enumerate((lo, hi)):
            worst = float(((a - xk) if side == 0 else (xk - b)).max()) / dx
            if check and bc.kind in ("dirichlet", "neumann") and worst > p - 0.5:
                raise NumericsError(
                    f"semi-lagrangian: characteristics enter through the {bc.kind} face "
                    f"{'low' if side == 0 else 'high'} of axis {k} {worst:.3g} cells deep in "
                    f"one half step; the boundary data reach {p - 0.5} cells. Reduce dt so "
                    f"that the inflow Courant number is at most {2 * p - 1}, or use "
                    "crank-nicolson")
        padded = ops.extend(padded, k, bcs[k], axes, dx, t, 2, lead=1)
        axes[k] = ops.ghost_coords(axes[k], dx, lo.kind == "periodic")
        idx.append(np.clip((xk - a) / dx - 0.5 + p, 0, n + 2 * p - 1))
    # kept feet: one sparse product per field instead of a tensor-product interpolation (the
    # same sums in the same order; 14x faster at 26^3)
    store = getattr(X, "matrices", None)
    if store is not None:
        key = (padded.shape[1:], tuple((lo.kind, hi.kind) for lo, hi in bcs))
        if key not in store and matrix_bytes(g.dim, g.size, len(store) + 1) <= MATRIX_BYTES:
            store[key] = interpolation_matrix(padded.shape[1:], idx)
        if key in store:
            return np.stack([(store[key] @ c.ravel()).reshape(g.shape) for c in padded])
    return np.stack([interpolate(c, idx) for c in padded])


def solve(problem: Problem, *, convection: str = "upwind1", diffusion: str = "central2",
          stepper: str = "ssprk3", dt: float | None = None, save_times=None,
          progress: bool = False, linear_solver: str = "auto",
          max_steps: int = MAX_STEPS, max_wall_s: float | None = None,
          dt_bound: str = "gershgorin") -> Solution:
    """Solve the problem to t_end; returns snapshots at ``save_times`` (default: 0 and t_end).

    Explicit steppers choose dt = 0.9 x the stability limit unless ``dt`` is given; a given dt
    above the limit raises UnstableTimeStepError before any step. Implicit steppers default to
    a convective Courant number of 1 (or t_end/50 without convection). ``linear_solver``:
    'direct' (sparse LU, factored once per constant interval), 'iterative' (Jacobi-BiCGSTAB to
    a relative residual of 1e-12) or 'auto' (iterative above ITERATIVE_ABOVE unknowns: 20,000
    in 2-D, 1,000 in 3-D, 500 in both where coefficients that depend on t make every step
    factor anew, never in 1-D; a matrix on which BiCGSTAB has not converged in
    AUTO_MAXITER iterations is factored instead, counted in stats['direct_fallbacks']; the
    solver in effect is stats['linear_solver']). A run that
    would take more than ``max_steps`` steps (stiff diffusion with an explicit stepper, say) is
    refused before it starts, with the count and the fix. ``dt_bound``: the spectral bound
    behind the explicit limit of RK3/RK4 with central schemes, 'gershgorin' (an enclosure of
    the spectrum, wide where one-sided wall closures sit), 'perron' (stability.perron_bound:
    an enclosure too, between rho(|L|) and Gershgorin's bound, 0.37-0.47 of the latter in 3-D
    boxes, for PERRON_STEPS matrix-vector products; time-dependent coefficients too) or 'arnoldi'
    (SPECTRAL_MARGIN x ARPACK's max |lambda|, an estimate, at most the Gershgorin bound: up to
    6x larger steps in 3-D boxes;
    constant coefficients only, time-dependent ones keep Gershgorin at every step; the bound
    in effect after that rule is in stats['dt_bound'], None where no spectral bound sets the
    step; a bound other than 'gershgorin' there is refused). With ``max_wall_s``, a run whose
    projected wall time (elapsed + remaining steps x the mean cost of the first
    PROJECT_AFTER steps) exceeds it stops with the projection, checked before every step.
    """
    if linear_solver not in LINEAR_SOLVERS:
        raise NumericsError(f"unknown linear_solver {linear_solver!r}; valid: "
                            f"{', '.join(LINEAR_SOLVERS)}")
    lookup(CONVECTION, convection, "convection")
    lookup(DIFFUSION, diffusion, "diffusion")
    info = lookup(TIME, stepper, "time")
    if convection in ("minmod", "vanleer") and not info.explicit:
        raise NumericsError(f"limited convection {convection!r} is nonlinear; use an explicit "
                            "stepper (ssprk2, ssprk3) with it")
    if convection in ("minmod", "vanleer") and stepper not in SSP_COEFFICIENT:
        raise NumericsError(f"limited convection {convection!r} with {stepper!r}: {stepper} is "
                            "not strong-stability preserving, so the limiter's TVD property is "
                            "lost; use ssprk2 or ssprk3 (or euler)")
    if dt_bound not in DT_BOUNDS:
        raise NumericsError(f"unknown dt_bound {dt_bound!r}; valid: {', '.join(DT_BOUNDS)}")
    # the spectral bound sets the step of RK3/RK4 with unlimited schemes only: elsewhere a
    # bound asked for would be recorded and not used
    bounded = stepper in SPECTRAL_STEPPERS and convection not in ("minmod", "vanleer")
    if dt_bound != "gershgorin" and not bounded:
        raise NumericsError(f"dt_bound {dt_bound!r} has no effect with {stepper}/{convection}: "
                            f"the spectral bound sets the step of "
                            f"{' and '.join(SPECTRAL_STEPPERS)} with unlimited convection only; "
                            "leave dt_bound unset here")
    if dt is not None and not (np.isfinite(dt) and dt > 0):
        raise NumericsError(f"dt = {dt}; it must be finite and > 0")
    g = problem.grid
    T = problem.t_end
    saves = np.unique(np.concatenate([[0.0, T], np.asarray(save_times or [], dtype=float)]))
    if saves.min() < 0 or saves.max() > T:
        raise NumericsError(f"save_times must lie in [0, {T}]")
    breaks = np.unique(np.concatenate([saves, [s for s in problem.interval_starts if 0 < s < T]]))
    u = problem.u0.copy()
    snaps = [u.copy()]
    stats = {"steps": 0, "max_dt": 0.0, "min_dt": np.inf, "stepper": stepper,
             "convection": convection, "diffusion": diffusion, "rebuilds": 0}
    start = _time.perf_counter()
    stepping_s = 0.0  # time inside the steps alone: the projection's per-step cost
    if max_wall_s is not None and not max_wall_s > 0:
        raise NumericsError(f"max_wall_s = {max_wall_s}; give a positive number of seconds "
                            "(or None for no limit)")
    tqdm = None
    if progress:
        from tqdm import tqdm
    # the time reached, not the count of float increments ('0.07936507936507936/1.0')
    bar = tqdm(total=T, desc=f"solve {problem.name}", leave=False,
               bar_format="{l_bar}{bar}| t = {n:.4g} / {total:.4g} [{elapsed}<{remaining}]"
               ) if tqdm else None
    t = 0.0
    built: dict = {}  # interval -> Discretisation, (interval, h) -> LU: reused across segments
    departures: dict = {}  # the semi-Lagrangian characteristics' feet (see _departure)
    at = None
    if problem.time_dependent:  # coefficients at every stage time (a few kept for reuse)
        stage_ops: dict[float, Discretisation] = {}

        def at(tt: float) -> Discretisation:
            if tt not in stage_ops:
                if len(stage_ops) > 4:
                    stage_ops.pop(next(iter(stage_ops)))
                stage_ops[tt] = assemble(problem, tt, convection, diffusion)
                stats["rebuilds"] += 1
            return stage_ops[tt]
    spectral = dt_bound == "arnoldi" and at is None
    perron = dt_bound == "perron"  # rigorous and cheap: at every step's bound too
    routes: set[str] = set()  # what set the explicit steps (stability.EXPLICIT_ROUTES)
    solver = linear_solver_for(linear_solver, g.dim, g.size, rebuilt=at is not None)
    if not info.explicit:  # the linear solver in effect ('auto' resolved by the grid's size)
        stats["linear_solver"] = "iterative" if solver == "auto-iterative" else solver
    declared = (TIME[stepper].monotone and DIFFUSION[diffusion].monotone
                and (CONVECTION[convection].monotone or convection in ("minmod", "vanleer")))
    stats["monotone"] = declared
    # the maximum principle bounds the run by its data's range where nothing brings in new
    # values: no source, and every side periodic, zero-flux Neumann or outflow (checked for
    # entering characteristics per interval below)
    closed = problem.source is None and all(
        bc.kind in ("periodic", "outflow") or (bc.kind == "neumann" and not callable(bc.value)
                                               and bc.value == 0)
        for pair in problem.bcs for bc in pair)
    span = float(u.max() - u.min())
    guard = ((float(u.min()) - RANGE_TOL * max(span, 1.0),
              float(u.max()) + RANGE_TOL * max(span, 1.0)) if declared and closed else None)
    try:  # the bar is cleared before any refusal or error is printed
        for seg_end in breaks[1:]:
            interval = problem.interval(t)
            disc = built.get(interval)
            if disc is None or problem.time_dependent:
                disc = assemble(problem, t, convection, diffusion)
                built[interval] = disc
                stats["rebuilds"] += 1
            if disc.outflow_inflow > 0:  # characteristics enter an outflow side: no promise
                guard = None
            if stats["monotone"] and not is_monotone_operator(disc.diff):
                # the registry's promise holds for |a_km| <= min(a_kk, a_mm) and closures that keep
                # the M-matrix pattern: say which one broke, once
                ratio = mixed_term_ratio(problem.diffusion_at(t))
                stats["monotone"] = False
                stats["mixed_term_ratio"] = ratio
                guard = None
                D = sps.coo_matrix(disc.diff)
                neg = (D.row != D.col) & (D.data < -1e-10 * max(1.0, float(np.abs(D.data).max())))
                idx = np.unravel_index(np.unique(D.row[neg]), g.shape)
                edge = np.zeros(len(idx[0]), bool)
                for k in range(g.dim):
                    edge |= (idx[k] == 0) | (idx[k] == g.shape[k] - 1)
                if ratio > 1:
                    why = (f"its mixed-derivative stencil has negative off-diagonal entries "
                           f"(|a_km| / min(a_kk, a_mm) reaches {ratio:.3g} > 1, at t = {t:g}); "
                           "refining the grid does not change the ratio, and a monotone "
                           "discretisation of such mixed terms needs a wider (directional) "
                           "stencil, which this solver does not offer")
                elif not edge.all():
                    why = (f"its assembled operator has negative off-diagonal entries in "
                           f"{len(edge)} cells ({int(edge.sum())} on the boundary) although "
                           f"|a_km| / min(a_kk, a_mm) = {ratio:.3g} <= 1")
                else:
                    # the faces the negative cells lie on, and their closures (measured: outflow
                    # sides with any mixed term; dirichlet sides past about half the ratio, the
                    # reflected ghost folding the stencil's corner onto the face's neighbour)
                    faces = [(k, side) for k in range(g.dim) for side in (0, 1)
                             if np.any(idx[k] == (0 if side == 0 else g.shape[k] - 1))]
                    kinds = sorted({problem.bcs[k][side].kind for k, side in faces})
                    named = ", ".join(f"x{k + 1} {'low' if side == 0 else 'high'}"
                                      for k, side in faces)
                    why = (f"the boundary closures ({', '.join(kinds)}) give negative off-diagonal "
                           f"entries in {int(edge.sum())} boundary cells (faces {named}) with "
                           f"these mixed terms (|a_km| / min(a_kk, a_mm) = {ratio:.3g} <= 1, "
                           "monotone inside)")
                warnings.warn(
                    f"{diffusion} diffusion is not monotone for this problem: {why}. The maximum "
                    "principle is not guaranteed and the solution may undershoot "
                    "(stats['monotone'] is False)",
                    NonMonotoneWarning, stacklevel=2)
            if info.explicit:
                def explicit_limit(d: Discretisation, tt: float) -> float:
                    if d.limited is not None:  # the limiter's TVD limit, the SSP coefficient
                        return limited_dt_limit(d.diff, abs_conv(problem, tt), convection, stepper)
                    kw = {}
                    if g.dim == 1:
                        kw = {"velocity_1d": problem.velocity_at(tt)[0].ravel(),
                              "diffusion_1d": problem.diffusion_at(tt)[0, 0].ravel(),
                              "dx": g.spacing[0]}
                    # the Arnoldi estimate once per constant operator; coefficients that
                    # change with t are re-bounded every step, where Gershgorin is cheap
                    limit, route = explicit_dt_route(d.L, stepper, spectrum=spectral,
                                                     perron=perron, **kw)
                    routes.add(route)
                    return limit

                key = ("limit", interval)  # once per constant operator, not once per frame
                if at is not None or key not in built:
                    built[key] = explicit_limit(disc, t)
                limit = built[key]
                if at is not None:  # callable coefficients: the bound over the whole interval
                    for tt in np.linspace(t, seg_end, TIME_SAMPLES)[1:]:
                        limit = min(limit, explicit_limit(at(float(tt)), float(tt)))
                if (dt_bound != "gershgorin" and stats["steps"] == 0 and "spectral" not in routes
                        and not problem.piecewise and at is None):
                    # SSP-RK3 on a monotone operator: its SSP limit sets the step, no bound
                    # (refused where the one operator of the run decides it; coefficients that
                    # change may reach a bounded operator later: recorded below if they do)
                    why = ("the operator is zero (nothing moves), no step bound applies"
                           if routes == {"none"} else
                           f"{stepper} on this monotone operator ({convection}/{diffusion}) "
                           "takes the SSP limit dt max(-L_ii) <= 1, not a spectral bound")
                    raise NumericsError(f"dt_bound {dt_bound!r} has no effect here: {why}; "
                                        "leave dt_bound unset")
                if dt is not None and dt > limit * (1 + 1e-12):
                    vmax = np.abs(problem.velocity_at(t)).max()
                    raise UnstableTimeStepError(
                        f"dt = {dt:.4g} exceeds the stability limit {limit:.4g} of {stepper} with "
                        f"{convection}/{diffusion} (max |v| = {vmax:.3g}"
                        f", max a = {np.abs(problem.diffusion_at(t)).max():.3g}, dx = "
                        f"{', '.join(f'{d:.3g}' for d in g.spacing)}); "
                        f"use dt <= {limit:.4g}, leave dt unset for the adaptive choice, or an "
                        "implicit stepper")
                step_dt = dt if dt is not None else SAFETY * limit
            elif dt is not None:
                step_dt = dt
            else:
                vmax = np.abs(problem.velocity_at(t)).max(axis=tuple(range(1, g.dim + 1)))
                speed = float(np.sum(vmax / np.asarray(g.spacing)))
                step_dt = 1.0 / speed if speed > 0 else T / 50
            if stepper == "imex-euler":  # its convection is explicit: forward Euler's limit on it
                limit = imex_dt_limit(disc.conv, problem.velocity_at(t), problem.diffusion_at(t),
                                      g.spacing)
                if dt is not None and dt > limit * (1 + 1e-12):
                    raise UnstableTimeStepError(
                        f"dt = {dt:.4g} exceeds the stability limit {limit:.4g} of imex-euler with "
                        f"{convection} convection (its convection is explicit); use dt <= "
                        f"{limit:.4g}, leave dt unset, or a fully implicit stepper")
                step_dt = min(step_dt, SAFETY * limit)
            span = seg_end - t
            n = max(1, int(np.ceil(span / min(step_dt, span) - 1e-9)))
            if stats["steps"] + n > max_steps:
                need = stats["steps"] + n + int(np.ceil((T - seg_end) / min(step_dt, T)))
                raise NumericsError(
                    f"{stepper} needs about {need:.3g} steps of dt = {step_dt:.3g} to reach "
                    f"t_end = {T:g} (max_steps = {max_steps}): the explicit limit of this problem "
                    "is tiny (stiff diffusion or a fine grid); use an implicit stepper "
                    "('crank-nicolson', 'backward-euler', 'imex-euler'), a coarser grid, or raise "
                    "max_steps")
            h = span / n
            lu = None
            if not info.explicit and not problem.time_dependent:
                key = (interval, round(h / T, 12))
                lu = built.get(key)
                if lu is None:
                    lu = built[key] = _factor(disc, stepper, h, solver, stats)
            for _ in range(n):
                if max_wall_s is not None and stats["steps"] >= PROJECT_AFTER:
                    _refuse_beyond(max_wall_s, start, stepping_s, stats["steps"],
                                   stats["steps"] + int(np.ceil((T - t) / h - 1e-9)), g.size)
                step_start = _time.perf_counter()
                if at is not None and not info.explicit:
                    lu = _factor(at(t + h), stepper, h, solver, stats)
                u = _advance(problem, disc, lu, stepper, u, t, h, at, solver, stats,
                             departures)
                t += h
                stats["steps"] += 1
                if at is not None and info.explicit:
                    # the sampled bound can miss growth between its samples: check every step
                    now = at(t)
                    lim_now = explicit_limit(now, t)
                    C_now, _ = courant_numbers(now.vmax, now.amax, g.spacing, h)
                    stats["max_courant"] = max(stats.get("max_courant", 0.0), float(C_now.sum()))
                    if h > lim_now * (1 + 1e-9):
                        raise UnstableTimeStepError(
                            f"at t = {t:.6g} the time-dependent coefficients need dt <= "
                            f"{lim_now:.4g}, the step is {h:.4g} (Courant number "
                            f"{float(C_now.sum()):.3g}): they grew faster than the bound sampled "
                            f"at {TIME_SAMPLES} times of the interval saw; pass a smaller dt, "
                            "or an implicit stepper")
                if guard is not None and (u.max() > guard[1] or u.min() < guard[0]):
                    raise RangeViolationError(
                        f"the solution left its data's range [{guard[0]:.6g}, {guard[1]:.6g}] at "
                        f"step {stats['steps']}, t = {t:.6g} (min {u.min():.6g}, max "
                        f"{u.max():.6g}) although {convection}/{diffusion}/{stepper} is monotone "
                        "here: a defect of the scheme or of its step; please report it")
                if not np.all(np.isfinite(u)):
                    raise NonFiniteStateError(
                        f"the state became non-finite at step {stats['steps']}, t = {t:.6g} "
                        f"(dt = {h:.3g}); reduce dt or use a monotone/implicit scheme")
                stepping_s += _time.perf_counter() - step_start
                if bar is not None:  # the sum of the steps may pass T by an ulp: tqdm warns
                    bar.update(min(h, T - bar.n))
            t = float(seg_end)
            C, r = courant_numbers(disc.vmax, disc.amax, g.spacing, h)
            stats["max_courant"] = max(stats.get("max_courant", 0.0), float(C.sum()))
            stats["max_diffusion_number"] = max(stats.get("max_diffusion_number", 0.0),
                                                float(r.sum()))
            stats["outflow_inflow_fraction"] = max(stats.get("outflow_inflow_fraction", 0.0),
                                                   disc.outflow_inflow)
            stats["max_dt"] = float(max(stats["max_dt"], h))
            stats["min_dt"] = float(min(stats["min_dt"], h))
            if np.any(np.isclose(saves, t)):
                snaps.append(u.copy())
    finally:
        if bar is not None:
            bar.close()
    # a bound is recorded only where it set a step (the spectral route: RK3/RK4, unlimited)
    stats["dt_bound"] = (("arnoldi" if spectral else "perron" if perron else "gershgorin")
                         if "spectral" in routes else None)
    stats["wall_time_s"] = _time.perf_counter() - start
    # the steps alone (assembly, factorisation and the step bound excluded): the time that a
    # compiled code's timed stepper loop corresponds to
    stats["stepping_s"] = stepping_s
    return Solution(g, saves, np.stack(snaps), stats,
                    periodic=tuple(lo.kind == "periodic" for lo, _ in problem.bcs))


def _refuse_beyond(limit: float, start: float, stepping_s: float, done: int, total: int,
                   cells: int) -> None:
    """Raise WallTimeError when elapsed + (total - done) x (stepping_s / done) > limit."""
    elapsed = _time.perf_counter() - start
    per_step = stepping_s / done
    projected = elapsed + (total - done) * per_step
    if projected > limit:
        raise WallTimeError(
            f"this solve would take about {_duration(projected)} ({total} steps of "
            f"{per_step:.3g} s each on {cells} cells, measured over the first {done}), beyond "
            f"the limit of {_duration(limit)}; use fewer cells per axis or a larger dt, or "
            "raise the limit")


def _duration(seconds: float) -> str:
    """Seconds as the unit a reader takes in at a glance: 42 s, 3.5 min, 55 h."""
    if seconds < 120:
        return f"{seconds:.3g} s"
    if seconds < 7200:
        return f"{seconds / 60:.3g} min"
    return f"{seconds / 3600:.3g} h"


def abs_conv(problem: Problem, t: float) -> sps.csr_matrix:
    """Upwind operator with the same |v|: bounds the limited scheme's explicit step (TVD CFL)."""
    return assemble(problem, t, "upwind1", "central2").conv


LINEAR_SOLVERS = ("auto", "direct", "iterative")
# unknowns above which 'auto' takes BiCGSTAB, by dimension (1-D: never; a banded LU is O(N)).
# A sparse LU's fill grows like N^(4/3) in 3-D and N log N in 2-D. Whole Crank-Nicolson solves
# at the default step, LU / BiCGSTAB (benchmarks/bench_linear_solver.py, one thread,
# 2026-12-07): 3-D central4 20^3 1.99 / 0.21 s, central2 24^3 1.77 / 0.18 s, 12^3 0.048 /
# 0.032 s (8^3: 0.024 / 0.030 s); 2-D central4 160^2 2.13 / 0.83 s, central2 1.09 / 0.69 s,
# near parity at 96^2 (backward Euler 0.16 / 0.24 s); 1-D 400 cells 0.06 / 0.15 s
ITERATIVE_ABOVE = {2: 20_000, 3: 1_000}
# the same where coefficients that depend on t are rebuilt, and the matrix factored, at every
# step (2-D and 3-D): whole solves of a 2-D A(x, t), Crank-Nicolson, LU / BiCGSTAB, 16^2 0.13
# / 0.12 s, 24^2 0.20 / 0.15 s, 48^2 1.09 / 0.61 s, 128^2 15.6 / 4.1 s (semi-Lagrangian 28.4 /
# 7.2 s); 12^2 at parity
REBUILT_ITERATIVE_ABOVE = 500
ITERATIVE_RTOL = 1e-12
# 'auto' gives BiCGSTAB this many iterations before it factors the matrix instead: at the
# default steps it converges in tens (diffusion numbers in the hundreds too); far from diagonal
# dominance (central convection at Courant numbers in the hundreds) it breaks down or stalls,
# and the LU solves the system surely
AUTO_MAXITER = 300


def linear_solver_for(choice: str, dim: int, unknowns: int, rebuilt: bool = False) -> str:
    """The solver a ``linear_solver`` choice runs: 'direct' or 'iterative' as asked; 'auto'
    gives 'auto-iterative' (BiCGSTAB, the LU if it does not converge) above ITERATIVE_ABOVE
    unknowns for the dimension (REBUILT_ITERATIVE_ABOVE in 2-D and 3-D where the matrix is
    ``rebuilt`` at every step), else 'direct'."""
    if choice != "auto":
        return choice
    above = ITERATIVE_ABOVE.get(dim)
    if rebuilt and above is not None:
        above = min(above, REBUILT_ITERATIVE_ABOVE)
    return "auto-iterative" if above is not None and unknowns > above else "direct"


class _Krylov:
    """Solves (I - c L) x = r by Jacobi-preconditioned BiCGSTAB to ITERATIVE_RTOL.

    The implicit matrices are the identity plus a step times the operator; at the default
    steps (convective Courant number ~1) they are well conditioned, so a few tens of iterations
    replace a sparse LU whose fill-in grows like N^(4/3) in 3-D."""

    def __init__(self, M: sps.spmatrix, fallback: dict | None = None):
        self.M = M.tocsr()
        inv = 1.0 / self.M.diagonal()
        self.P = spla.LinearOperator(self.M.shape, matvec=lambda x: inv * x)
        # 'auto': the solve's stats, where a fall back to the LU is counted; None: raise
        self.fallback, self.lu = fallback, None

    def solve(self, r: np.ndarray) -> np.ndarray:
        if self.lu is not None:
            return self.lu.solve(r)
        x, info = spla.bicgstab(self.M, r, rtol=ITERATIVE_RTOL, atol=0.0, M=self.P,
                                maxiter=2000 if self.fallback is None else AUTO_MAXITER)
        if info == 0:
            return x
        if self.fallback is None:
            # scipy: info > 0 iterations without convergence, info < 0 a breakdown
            what = (f"did not converge in {info} iterations" if info > 0 else
                    f"broke down (scipy's info {info})")
            raise NumericsError(
                f"the iterative linear solver (BiCGSTAB) {what}; use linear_solver='direct' "
                "or 'auto' (the LU where BiCGSTAB fails), or a smaller dt")
        self.fallback["direct_fallbacks"] = self.fallback.get("direct_fallbacks", 0) + 1
        self.fallback["linear_solver"] = "direct (BiCGSTAB failed)"
        self.lu = spla.splu(self.M.tocsc())
        return self.lu.solve(r)


def _factor(disc: Discretisation, stepper: str, h: float, linear_solver: str = "direct",
            stats: dict | None = None):
    """Solver object (``.solve(r)``) for the implicit matrix of the stepper; ``linear_solver``
    as :func:`linear_solver_for` resolves it ('auto-iterative' counts its falls back to the LU
    in ``stats``)."""
    N = disc.L.shape[0]
    I = sps.identity(N, format="csc")
    if stepper == "backward-euler":
        M = I - h * disc.L
    elif stepper == "imex-euler":
        M = I - h * disc.diff
    elif stepper == "crank-nicolson":
        M = I - h / 2 * disc.L
    else:  # semi-lagrangian: trapezoid on the diffusion along characteristics, two h/2 halves
        M = I - h / 4 * disc.diff
    if linear_solver == "iterative":
        return _Krylov(M)
    if linear_solver == "auto-iterative":
        stats = {} if stats is None else stats
        if not stats.get("direct_fallbacks"):  # once BiCGSTAB failed in a solve, the LU
            return _Krylov(M, stats)
    return spla.splu(M.tocsc())


def _advance(problem, disc, lu, stepper, u, t, h, at=None, linear_solver="direct",
             stats=None, departures=None):
    """One step from t to t + h. ``at(tt)`` gives the operator with the coefficients at time tt
    (time-dependent problems): explicit stages use their own times, implicit parts t + h,
    explicit parts t; ``lu`` is factored from the operator at t + h."""
    k = u.shape[0]
    if stepper in ("euler", "ssprk2", "ssprk3", "rk4"):
        return _explicit_step(stepper, lambda w, tt: _rhs(disc if at is None else at(tt),
                                                          problem, w, tt), u, t, h)
    flat = u.reshape(k, -1)
    d0, d1 = (disc, disc) if at is None else (at(t), at(t + h))

    def src(tt):
        s = problem.source_at(tt)
        return 0.0 if s is None else s.reshape(k, -1)

    if stepper == "backward-euler":
        rhs = flat + h * (d1.b_conv(t + h) + d1.b_diff(t + h) + src(t + h))
        return np.stack([lu.solve(r) for r in rhs]).reshape(u.shape)
    if stepper == "crank-nicolson":
        Lu = (d0.L @ flat.T).T
        b = d0.b_conv(t) + d0.b_diff(t) + d1.b_conv(t + h) + d1.b_diff(t + h)
        rhs = flat + h / 2 * Lu + h / 2 * (b + src(t) + src(t + h))
        return np.stack([lu.solve(r) for r in rhs]).reshape(u.shape)
    if stepper == "imex-euler":
        rhs = flat + h * ((d0.conv @ flat.T).T + d0.b_conv(t) + d1.b_diff(t + h)
                          + src(t + h))
        return np.stack([lu.solve(r) for r in rhs]).reshape(u.shape)
    # semi-lagrangian: two half steps of Crank-Nicolson along the characteristic (trapezoid
    # from (X, t) to (x, t + h/2)); two halves cut CN's error on stiff diffusion modes ~4x
    free = tuple((bc, bc) if bc.kind == "periodic" else (BC("neumann"), BC("neumann"))
                 for bc, _ in problem.bcs)
    hh = h / 2
    for t0 in (t, t + hh):
        d0 = disc if at is None else at(t0)
        d1 = disc if at is None else at(t0 + hh)
        lu_half = (lu if at is None or t0 + hh == t + h
                   else _factor(d1, stepper, h, linear_solver, stats))
        flat = u.reshape(k, -1)
        X = _departure(problem, t0, hh, departures)
        explicit = (d0.diff @ flat.T).T + d0.b_diff(t0) + src(t0)
        w = _interpolate(problem, u, X, t0) + hh / 2 * _interpolate(
            problem, explicit.reshape(u.shape), X, t0, free)
        rhs = w.reshape(k, -1) + hh / 2 * (d1.b_diff(t0 + hh) + src(t0 + hh))
        u = np.stack([lu_half.solve(r) for r in rhs]).reshape(u.shape)
    return u
