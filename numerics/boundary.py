r"""Boundary conditions on cell-centred grids through ghost cells.

Each side of each axis gets one condition. Ghost values are affine in the interior values:
    ghost = sum_j w_j u_j + beta * g(x_face, t),
which lets the same description serve explicit stencils and sparse implicit matrices. A closure
has an order: the second-order closures serve the second-order stencils (and keep the monotone
M-matrix structure of upwind and central2 diffusion), the fourth-order closures the central4
stencils, so that central4 keeps order 4 up to the wall.

In units of the spacing, cell j sits at s = j + 1/2 from the face and ghost k at s = -(k + 1/2).
- periodic: wrap (both sides of the axis must be periodic);
- dirichlet: u = g on the face. Order 2: odd reflection ghost_k = 2 g - u_k. Order 4: the
  quartic through (0, g) and the first four cells, evaluated at the ghost;
- neumann: d u / d n = g (outward normal). Order 2: ghost_k = u_k + (2k + 1) dx g. Order 4: the
  polynomial with p'(0) = -g dx (outward) through the first four cells (first derivatives) or
  five cells (second derivatives);
- outflow: data-free extrapolation (feature spaces cut to a box). Order 2: linear,
  ghost_k = u_0 + (k + 1)(u_0 - u_1); order 4: the cubic through the first four cells.

The fourth-order closures and their degrees were chosen from the spectra of the closed 1-D
operators (tests/test_numerics_boundaries.py checks them): the quartic Dirichlet closure, the
Neumann closures above and the cubic extrapolation keep every eigenvalue in the closed left
half-plane; a quartic extrapolation (d2), or a Neumann closure through five or six cells for a
first derivative at an inflow face, puts eigenvalues into the right half-plane (max Re 0.23
and 2-8 at n = 32-128).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

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
    """One spec for all sides, one per axis, or a (low, high) pair per axis.

    In 1-D a pair of specs, ``('dirichlet', 'neumann')`` or ``(('dirichlet', 1.0), 'outflow')``,
    is the (low, high) pair of the one axis; a single ``(kind, value)`` is one spec for both.
    """
    if isinstance(spec, str | BC) or (isinstance(spec, tuple) and len(spec) == 2
                                      and isinstance(spec[0], str) and spec[0] in KINDS
                                      and not isinstance(spec[1], str | BC | tuple)):
        b = as_bc(spec)
        return tuple((b, b) for _ in range(dim))
    spec = list(spec)
    if dim == 1 and len(spec) == 2:
        # In 1-D a pair of specs can only mean (low side, high side) of the one axis.
        spec = [tuple(spec)]
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


CLOSURE_ORDERS = (2, 4)


def _polynomial_weights(conditions: list[tuple[str, float]], s_ghost: float) -> np.ndarray:
    """Weights c_i with p(s_ghost) = sum_i c_i y_i for the polynomial p of degree
    len(conditions) - 1 fitted to the data y_i: ('value', s) -> p(s), ('slope', s) -> p'(s)."""
    m = len(conditions)
    j = np.arange(m)
    V = np.array([s**j if kind == "value" else j * s ** np.maximum(j - 1, 0)
                  for kind, s in conditions])
    return np.linalg.solve(V.T, s_ghost**j)


@cache
def ghost_weights(bc: BC, n: int, width: int, dx: float, order: int = 2, derivative: int = 1
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Weights W (width x n) and boundary-data factors beta (width) for the low side.

    ghost row k (k = 0 nearest the face) = W[k] @ u + beta[k] * g. The high side uses the
    same weights on the reversed array (the outward normal reverses with it).
    """
    if order not in CLOSURE_ORDERS:
        raise NumericsError(f"closure order {order}; valid: {CLOSURE_ORDERS}")
    W = np.zeros((width, n))
    beta = np.zeros(width)
    # the fourth-order closures' interior data: four cells, five for the Neumann closure of a
    # second derivative (with four, d2 with Neumann data converged at 3.8 only; five cells
    # make first derivatives unstable, four keep them stable: see the module docstring)
    m = 5 if bc.kind == "neumann" and derivative == 2 else 4
    if order == 4 and n < m:
        raise NumericsError(f"{n} cells on an axis; the fourth-order {bc.kind} closure needs "
                            f"{m}: refine the grid")
    cells = [("value", j + 0.5) for j in range(m)]
    for k in range(width):
        s_ghost = -(k + 0.5)
        if bc.kind == "periodic":
            W[k, n - 1 - k] = 1.0  # low ghost k is the last interior cell - k
        elif order == 4 and bc.kind in ("dirichlet", "neumann"):
            first = ("value", 0.0) if bc.kind == "dirichlet" else ("slope", 0.0)
            c = _polynomial_weights([first] + cells, s_ghost)
            W[k, :m] = c[1:]
            # Neumann: p'(0) = (d u / d s) = -dx g on the low side (outward = -x)
            beta[k] = c[0] if bc.kind == "dirichlet" else -dx * c[0]
        elif order == 4:  # outflow: cubic extrapolation
            W[k, :4] = _polynomial_weights(cells, s_ghost)
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
    W.flags.writeable = beta.flags.writeable = False  # cached: shared by every caller
    return W, beta


def _args(d: int) -> str:
    """'x1', 'x1, x2', 'x1, x2, x3', 'x1, ..., x4': a face callable's coordinate arguments."""
    return ", ".join(f"x{i + 1}" for i in range(d)) if d <= 3 else f"x1, ..., x{d}"


def boundary_values(bc: BC, face_coords: tuple[np.ndarray, ...], t: float) -> np.ndarray:
    """g evaluated on a face (shape of the face), checked finite."""
    shape = np.broadcast_shapes(*[c.shape for c in face_coords])
    d = len(face_coords)
    if callable(bc.value):
        try:
            g = bc.value(*face_coords, t)
        except TypeError as exc:  # most often the wrong number of arguments
            raise NumericsError(
                f"the {bc.kind} boundary value must be callable as g({_args(d)}, t) with "
                f"the face's coordinates and the time ({d + 1} arguments); calling it failed: "
                f"{exc}") from None
    else:
        g = bc.value
    try:
        g = np.broadcast_to(np.asarray(g, dtype=float), shape)
    except ValueError:
        raise NumericsError(
            f"the {bc.kind} boundary value returned shape {np.shape(g)} on a face of shape "
            f"{shape}; return one value per face cell (or a scalar)") from None
    if not np.all(np.isfinite(g)):
        raise NumericsError(f"boundary data of the {bc.kind} condition is not finite at t={t}")
    return g
