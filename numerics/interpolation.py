"""Local tensor-product Lagrange interpolation on uniform grids (no global prefilter).

A cubic spline's prefilter couples every value to the array's ends, where ``mode='nearest'``
extends the data by a constant: an O(h) error at the boundary cells that a semi-Lagrangian step
re-creates at every step. Local cubic Lagrange interpolation is exact for cubics up to the
last node, O(h^4) everywhere, and extrapolates with the end stencil's cubic.

:func:`interpolation_matrix` is the same map as a sparse matrix W, W @ values.ravel() =
interpolate(values, index).ravel(): built once for points that do not move (a semi-Lagrangian
step's feet), each further interpolation is one sparse product.
"""

from __future__ import annotations

from itertools import product

import numpy as np
import scipy.sparse as sps


def lagrange_weights(s: np.ndarray, degree: int) -> np.ndarray:
    """Weights of the nodes 0..degree at positions s (shape (degree + 1,) + s.shape)."""
    nodes = np.arange(degree + 1)
    w = []
    for j in nodes:
        wj = np.ones_like(s)
        for m in nodes:
            if m != j:
                wj = wj * (s - m) / (j - m)
        w.append(wj)
    return np.stack(w)


def _stencils(shape: tuple[int, ...], index: list[np.ndarray], degree: int
              ) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Per axis: the first node of each point's stencil (the degree + 1 nodes around it,
    shifted inward at the array's ends: polynomial extrapolation beyond them) and the nodes'
    weights."""
    if len(index) != len(shape):
        raise ValueError(f"{len(index)} index arrays for a {len(shape)}-D array")
    base, weights = [], []
    for k, n in enumerate(shape):
        i0 = np.clip(np.floor(index[k]).astype(int) - (degree - 1) // 2, 0, n - degree - 1)
        base.append(i0)
        weights.append(lagrange_weights(index[k] - i0, degree))
    return base, weights


def interpolate(values: np.ndarray, index: list[np.ndarray], degree: int = 3) -> np.ndarray:
    """values at fractional array indices (one array per axis, all of one shape).

    Each axis uses the degree + 1 nodes around the point, shifted inward at the array's ends
    (polynomial extrapolation beyond them).
    """
    d = values.ndim
    base, weights = _stencils(values.shape, index, degree)
    out = np.zeros(np.shape(index[0]))
    for offs in product(range(degree + 1), repeat=d):
        w = np.ones_like(out)
        for k, o in enumerate(offs):
            w = w * weights[k][o]
        out += w * values[tuple(base[k] + o for k, o in enumerate(offs))]
    return out


def interpolation_matrix(shape: tuple[int, ...], index: list[np.ndarray], degree: int = 3
                         ) -> sps.csr_matrix:
    """W of shape (points, prod(shape)) with W @ values.ravel() = interpolate(values, index)
    .ravel() for every C-ordered ``values`` of ``shape``: (degree + 1)^d entries per point
    (distinct nodes, so no entry is repeated), 12 bytes each."""
    d = len(shape)
    base, weights = _stencils(shape, index, degree)
    strides = [int(np.prod(shape[k + 1:])) for k in range(d)]
    first = sum(b.ravel() * s for b, s in zip(base, strides, strict=True))
    points, per = first.size, (degree + 1) ** d
    cols = np.empty((points, per), dtype=np.int64)
    data = np.empty((points, per))
    for j, offs in enumerate(product(range(degree + 1), repeat=d)):
        w = np.ones(points)
        for k, o in enumerate(offs):
            w = w * weights[k][o].ravel()
        data[:, j] = w
        cols[:, j] = first + sum(o * s for o, s in zip(offs, strides, strict=True))
    indptr = np.arange(0, points * per + 1, per, dtype=np.int64)
    return sps.csr_matrix((data.ravel(), cols.ravel(), indptr),
                          shape=(points, int(np.prod(shape))))
