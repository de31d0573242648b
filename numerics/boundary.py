r"""Boundary conditions on cell-centred grids through ghost cells.

Each side of each axis gets one condition. Ghost values are affine in the interior values:
    ghost = sum_j w_j u_j + beta * g(x_face, t),
which lets the same description serve explicit stencils and sparse implicit matrices.
- periodic: wrap (both sides of the axis must be periodic);
- dirichlet: u = g on the face; odd reflection ghost_k = 2 g - u_k (second order);
- neumann: d u / d n = g (outward normal); ghost_k = u_k + (2k + 1) dx g;
- outflow: linear extrapolation ghost_k = u_0 + (k + 1)(u_0 - u_1) (feature spaces cut to a box).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .errors import NumericsError

KINDS = ("periodic", "dirichlet", "neumann", "outflow")

BoundaryValue = float | Callable[..., np.ndarray]


@dataclass(frozen=True)
class BC:
    """One boundary condition: kind in KINDS, value g (number or callable(coords..., t))."""

    kind: str
    value: BoundaryValue = 0.0

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise NumericsError(
                f"unknown boundary condition {self.kind!r}; valid kinds: {', '.join(KINDS)}")
        if not callable(self.value) and not np.isfinite(self.value):
            raise NumericsError(f"boundary value {self.value!r} is not finite")


def as_bc(spec: str | BC | tuple) -> BC:
    """'periodic' | BC | ('dirichlet', g) -> BC."""
    if isinstance(spec, BC):
        return spec
    if isinstance(spec, str):
        return BC(spec)
    if isinstance(spec, tuple) and len(spec) == 2:
        return BC(spec[0], spec[1])
    raise NumericsError(f"boundary condition {spec!r}: use a kind name, BC(kind, value) or "
                        "(kind, value)")


def normalise_bcs(spec, dim: int) -> tuple[tuple[BC, BC], ...]:
    """One spec for all sides, one per axis, or a (low, high) pair per axis."""
    if isinstance(spec, str | BC) or (isinstance(spec, tuple) and len(spec) == 2
                                      and isinstance(spec[0], str) and spec[0] in KINDS
                                      and not isinstance(spec[1], str | BC | tuple)):
        b = as_bc(spec)
        return tuple((b, b) for _ in range(dim))
    spec = list(spec)
    if len(spec) != dim:
        raise NumericsError(f"{len(spec)} boundary specs for {dim} axes; give one per axis")
    out = []
    for k, s in enumerate(spec):
        if isinstance(s, list | tuple) and len(s) == 2 and not (
                isinstance(s[0], str) and not isinstance(s[1], str | BC | tuple)):
            lo, hi = as_bc(s[0]), as_bc(s[1])
        else:
            lo = hi = as_bc(s)
        if (lo.kind == "periodic") != (hi.kind == "periodic"):
            raise NumericsError(f"axis {k}: periodic must be set on both sides, got "
                                f"{lo.kind!r} and {hi.kind!r}")
        out.append((lo, hi))
    return tuple(out)


def ghost_weights(bc: BC, n: int, width: int, dx: float) -> tuple[np.ndarray, np.ndarray]:
    """Weights W (width x n) and boundary-data factors beta (width) for the low side.

    ghost row k (k = 0 nearest the face) = W[k] @ u + beta[k] * g. The high side uses the
    same weights on the reversed array.
    """
    W = np.zeros((width, n))
    beta = np.zeros(width)
    for k in range(width):
        if bc.kind == "periodic":
            W[k, n - 1 - k] = 1.0  # low ghost k is the last interior cell - k
        elif bc.kind == "dirichlet":
            W[k, k] = -1.0
            beta[k] = 2.0
        elif bc.kind == "neumann":
            # outward derivative g: (u_k - ghost_k) / ((2k+1) dx) = g  (low side: outward = -x)
            W[k, k] = 1.0
            beta[k] = (2 * k + 1) * dx
        else:  # outflow: linear extrapolation
            W[k, 0] = 1.0 + (k + 1)
            W[k, 1] = -(k + 1)
    return W, beta


def boundary_values(bc: BC, face_coords: tuple[np.ndarray, ...], t: float) -> np.ndarray:
    """g evaluated on a face (shape of the face), checked finite."""
    shape = np.broadcast_shapes(*[c.shape for c in face_coords])
    g = bc.value(*face_coords, t) if callable(bc.value) else bc.value
    g = np.broadcast_to(np.asarray(g, dtype=float), shape)
    if not np.all(np.isfinite(g)):
        raise NumericsError(f"boundary data of the {bc.kind} condition is not finite at t={t}")
    return g
