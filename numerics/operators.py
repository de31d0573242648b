r"""Pure finite-difference stencils, assembled as sparse matrices with affine boundary terms.

Every linear spatial discretisation is L u + b(t): a sparse matrix from 1-D stencils (Kronecker
products across axes) and the boundary data entering through ghost cells. Convention (theory.md):
the operator approximates v . grad u + tr(A Hess u); for v_k > 0 information comes from +x_k,
so upwinding uses the forward difference there.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import reduce

import numpy as np
import scipy.sparse as sps

from .boundary import BC, boundary_values, ghost_weights
from .grid import Grid

GHOST = 2  # ghost width: enough for the 5-point fourth-order stencils

# stencil name -> (offsets, coefficients, derivative order)
STENCILS: dict[str, tuple[tuple[int, ...], tuple[float, ...], int]] = {
    "d1_central2": ((-1, 0, 1), (-0.5, 0.0, 0.5), 1),
    "d1_central4": ((-2, -1, 0, 1, 2), (1 / 12, -2 / 3, 0.0, 2 / 3, -1 / 12), 1),
    "d1_forward": ((0, 1), (-1.0, 1.0), 1),
    "d1_backward": ((-1, 0), (-1.0, 1.0), 1),
    "d2_central2": ((-1, 0, 1), (1.0, -2.0, 1.0), 2),
    "d2_central4": ((-2, -1, 0, 1, 2), (-1 / 12, 4 / 3, -5 / 2, 4 / 3, -1 / 12), 2),
}


@dataclass(frozen=True)
class AxisOperator:
    """A 1-D stencil closed by boundary conditions: D u + c_lo g_lo + c_hi g_hi."""

    matrix: sps.csr_matrix  # n x n
    c_lo: np.ndarray  # n
    c_hi: np.ndarray  # n


def axis_operator(stencil: str, n: int, dx: float, lo: BC, hi: BC) -> AxisOperator:
    """Assemble a stencil on n cells with ghost-cell closures for the two sides."""
    offsets, coeffs, order = STENCILS[stencil]
    p = GHOST
    scale = dx**-order
    rows, cols, vals = [], [], []
    for o, c in zip(offsets, coeffs, strict=True):
        if c == 0.0:
            continue
        i = np.arange(n)
        rows.append(i)
        cols.append(i + p + o)
        vals.append(np.full(n, c * scale))
    S = sps.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                       shape=(n, n + 2 * p))
    W_lo, b_lo = ghost_weights(lo, n, p, dx)
    W_hi, b_hi = ghost_weights(hi, n, p, dx)
    E = np.zeros((n + 2 * p, n))
    E[p:p + n] = np.eye(n)
    beta = np.zeros((n + 2 * p, 2))
    for k in range(p):
        E[p - 1 - k] = W_lo[k]
        beta[p - 1 - k, 0] = b_lo[k]
        E[p + n + k] = W_hi[k][::-1]
        beta[p + n + k, 1] = b_hi[k]
    D = (S @ sps.csr_matrix(E)).tocsr()
    D.eliminate_zeros()
    cb = S @ beta
    return AxisOperator(D, np.asarray(cb[:, 0]).ravel(), np.asarray(cb[:, 1]).ravel())


def kron_axis(M: sps.spmatrix, k: int, shape: tuple[int, ...]) -> sps.csr_matrix:
    """Embed a 1-D operator on axis k into the full (C-order flattened) grid."""
    mats = [sps.identity(n, format="csr") if j != k else M for j, n in enumerate(shape)]
    return reduce(lambda a, b: sps.kron(a, b, format="csr"), mats)


def face_coords(grid: Grid, k: int, side: int) -> tuple[np.ndarray, ...]:
    """Coordinates of the low (side 0) or high (side 1) face of axis k (face shape)."""
    out = []
    for j, c in enumerate(grid.coords):
        face = np.take(c, 0, axis=k)
        out.append(np.full_like(face, grid.bounds[k][side]) if j == k else face)
    return tuple(out)


def affine_term(op: AxisOperator, grid: Grid, k: int, bcs: tuple[BC, BC], t: float
                ) -> np.ndarray:
    """Boundary contribution c_lo g_lo + c_hi g_hi of an axis operator, on the full grid."""
    out = np.zeros(grid.shape)
    for side, (c, bc) in enumerate(((op.c_lo, bcs[0]), (op.c_hi, bcs[1]))):
        if bc.kind == "periodic" or not np.any(c):
            continue
        if bc.kind == "outflow":
            continue  # extrapolation has no data
        g = boundary_values(bc, face_coords(grid, k, side), t)
        out += np.moveaxis(c[(slice(None),) + (None,) * (grid.dim - 1)] * g[None], 0, k)
    return out


# --- limited (TVD) convection: a nonlinear function, explicit steppers only -------------------


def _minmod(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.where(a * b > 0, np.sign(a) * np.minimum(np.abs(a), np.abs(b)), 0.0)


def _vanleer(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    prod = a * b
    with np.errstate(divide="ignore", invalid="ignore"):
        s = np.where(prod > 0, 2 * prod / (a + b), 0.0)
    return s


LIMITERS = {"minmod": _minmod, "vanleer": _vanleer}


def pad_axis(u: np.ndarray, k: int, bcs: tuple[BC, BC], grid: Grid, t: float) -> np.ndarray:
    """u with GHOST ghost cells on both sides of axis k (leading component axis excluded)."""
    n = grid.shape[k]
    dx = grid.spacing[k]
    uk = np.moveaxis(u, k + 1, -1)  # (..., n)
    parts = []
    for side, bc in enumerate(bcs):
        W, beta = ghost_weights(bc, n, GHOST, dx)
        if side == 1:
            W = W[:, ::-1]
        gh = uk @ W.T  # (..., GHOST)
        if bc.kind in ("dirichlet", "neumann"):
            g = boundary_values(bc, face_coords(grid, k, side), t)
            gh = gh + g[None, ..., None] * beta
        parts.append(gh[..., ::-1] if side == 0 else gh)
    padded = np.concatenate([parts[0], uk, parts[1]], axis=-1)
    return np.moveaxis(padded, -1, k + 1)


def limited_derivative(u: np.ndarray, v: np.ndarray, k: int, bcs: tuple[BC, BC], grid: Grid,
                       t: float, limiter: str) -> np.ndarray:
    """Upwind-biased MUSCL derivative along axis k for v_k d_k u, second order with a limiter.

    u has a leading component axis. Face values are reconstructed from the upwind side (the
    +x side where v > 0) with limited slopes; the derivative is (u_{i+1/2} - u_{i-1/2}) / dx.
    """
    lim = LIMITERS[limiter]
    dx = grid.spacing[k]
    up = pad_axis(u, k, bcs, grid, t)
    ax = k + 1
    n = grid.shape[k]
    d = np.diff(up, axis=ax)  # differences between neighbours, length n + 3

    def take(a, start, length):
        return np.take(a, np.arange(start, start + length), axis=ax)

    # slope of padded cell j: lim(d_j, d_{j-1}) for j = 1..n+2 -> cells -1..n
    slopes = lim(take(d, 1, n + 2), take(d, 0, n + 2))
    cells = take(up, 1, n + 2)  # padded cells -1..n (index 0 = cell -1)
    # faces i+1/2 for i = -1..n-1: from the right cell (v > 0) or the left cell (v < 0)
    right = take(cells, 1, n + 1) - 0.5 * take(slopes, 1, n + 1)
    left = take(cells, 0, n + 1) + 0.5 * take(slopes, 0, n + 1)
    vpos = v[None] > 0  # v has the grid's shape; u carries a leading component axis
    f_pos = (take(right, 1, n) - take(right, 0, n)) / dx
    f_neg = (take(left, 1, n) - take(left, 0, n)) / dx
    return np.where(vpos, f_pos, f_neg)
