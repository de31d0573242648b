"""Local tensor-product Lagrange interpolation on uniform grids (no global prefilter).

A cubic spline's prefilter couples every value to the array's ends, where ``mode='nearest'``
extends the data by a constant: an O(h) error at the boundary cells that a semi-Lagrangian step
re-creates at every step. Local cubic Lagrange interpolation is exact for cubics up to the
last node, O(h^4) everywhere, and extrapolates with the end stencil's cubic.
"""

from __future__ import annotations

from itertools import product

import numpy as np


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


def interpolate(values: np.ndarray, index: list[np.ndarray], degree: int = 3) -> np.ndarray:
    """values at fractional array indices (one array per axis, all of one shape).

    Each axis uses the degree + 1 nodes around the point, shifted inward at the array's ends
    (polynomial extrapolation beyond them).
    """
    d = values.ndim
    if len(index) != d:
        raise ValueError(f"{len(index)} index arrays for a {d}-D array")
    base, weights = [], []
    for k in range(d):
        n = values.shape[k]
        i0 = np.clip(np.floor(index[k]).astype(int) - (degree - 1) // 2, 0, n - degree - 1)
        base.append(i0)
        weights.append(lagrange_weights(index[k] - i0, degree))
    out = np.zeros(np.shape(index[0]))
    for offs in product(range(degree + 1), repeat=d):
        w = np.ones_like(out)
        for k, o in enumerate(offs):
            w = w * weights[k][o]
        out += w * values[tuple(base[k] + o for k, o in enumerate(offs))]
    return out
