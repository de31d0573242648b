r"""The problem spec: d_t u = v(x,t).grad u + tr(A(x,t) Hess u) + s(x,t), u(., 0) = f.

Conventions (docs/theory.md section 1): time runs from the output layer back to the input; a
velocity
given as a list of fields is piecewise constant in time, field n on [t_n, t_{n+1}).
Callables take ``(coords, t)`` with ``coords`` the tuple of meshgrid arrays and return arrays.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .boundary import BC, normalise_bcs
from .errors import NumericsError
from .grid import Grid

PSD_TOL = 1e-12  # relative tolerance for the positive semi-definiteness test of A


def _call(value: Any, what: str, *args) -> Any:
    """value(*args) where value is callable (else value), a TypeError (most often the wrong
    number of arguments: velocity(x, y, t) for velocity(coords, t)) named as one line."""
    if not callable(value):
        return value
    try:
        return value(*args)
    except TypeError as exc:
        form = "coords" if len(args) == 1 else "coords, t"
        raise NumericsError(
            f"the {what} must be callable as f({form}) with coords the tuple of the grid's "
            f"coordinate arrays{' and t the time' if len(args) > 1 else ''} ({len(args)} "
            f"argument{'s' if len(args) > 1 else ''}); calling it failed: {exc}") from None


def _as_field(value: Any, grid: Grid, what: str, tail: tuple[int, ...], t: float) -> np.ndarray:
    """Evaluate/broadcast a constant, array or callable to shape tail + grid.shape, checked."""
    arr = _call(value, what, grid.coords, t)
    arr = np.asarray(arr, dtype=float)
    target = tail + grid.shape
    if arr.shape == target:
        out = arr
    elif arr.shape == tail:
        out = np.broadcast_to(arr.reshape(tail + (1,) * grid.dim), target)
    else:
        raise NumericsError(f"{what} has shape {arr.shape}; expected {tail} (constant) or "
                            f"{target} (a field on the grid)")
    bad = ~np.isfinite(out)
    if bad.any():
        idx = np.unravel_index(int(np.argmax(bad.reshape(-1))), out.shape)
        pt = tuple(float(grid.axes[k][idx[len(tail) + k]]) for k in range(grid.dim))
        raise NumericsError(f"{what} is not finite (value {out[idx]}) at x = {pt}, t = {t}; "
                            "check the velocity/diffusion data (NaN from an untrained network?)")
    return out


def _diffusion_tensor(value: Any, grid: Grid, t: float) -> np.ndarray:
    """Scalar a -> a I; diagonal (d,) -> diag; full (d, d); fields of those; callable. A
    constant tensor is checked once and broadcast read-only (its eigenvalues cell by cell cost
    90 ms at 48^3, on every assembly)."""
    d = grid.dim
    arr = _call(value, "diffusion A", grid.coords, t)
    arr = np.asarray(arr, dtype=float)
    if arr.shape == grid.shape:  # a scalar field (grid.shape is never empty)
        A = np.zeros((d, d) + grid.shape)
        for k in range(d):
            A[k, k] = arr
        arr = A
    elif arr.shape == (d,) + grid.shape:
        A = np.zeros((d, d) + grid.shape)
        for k in range(d):
            A[k, k] = arr[k]
        arr = A
    elif arr.ndim == 0:
        arr = arr * np.eye(d)
    elif arr.shape == (d,):
        arr = np.diag(arr)
    constant = arr.shape == (d, d) and arr.shape != grid.shape
    A = _as_field(arr, grid, "diffusion A", (d, d), t)
    M = arr[..., None] if constant else A.reshape(d, d, -1)  # (d, d, cells checked)
    asym = np.abs(M - np.swapaxes(M, 0, 1))
    scale = max(1.0, float(np.abs(M).max()))
    if asym.max() > PSD_TOL * scale:
        cell = int(np.argmax(asym.max(axis=(0, 1))))
        where = ("everywhere (a constant tensor)" if constant else
                 f"at grid index {tuple(int(i) for i in np.unravel_index(cell, grid.shape))}")
        raise NumericsError(f"diffusion A is not symmetric {where} (|a_ij - a_ji| = "
                            f"{asym.max():.3g}); pass (A + A^T)/2")
    Am = np.moveaxis(M, -1, 0)
    eig = np.linalg.eigvalsh(Am)
    if eig.min() < -PSD_TOL * scale:
        i = int(np.argmin(eig.min(axis=1)))
        if constant:
            where = "at every x (a constant tensor)"
        else:
            idx = np.unravel_index(i, grid.shape)
            where = f"at x = {tuple(float(grid.axes[k][idx[k]]) for k in range(d))}"
        raise NumericsError(
            f"diffusion A is not positive semi-definite {where}, t = {t} (smallest eigenvalue"
            f" {eig.min():.3g}, A = {Am[i].tolist()}): this violates the comparison principle "
            "(axiom A4) and makes (CD) ill-posed backward diffusion")
    return A


@dataclass(frozen=True, kw_only=True)
class Problem:
    """A convection-diffusion problem on a box; validates itself on construction.

    d_t u = v(x, t) . grad u + tr(A(x, t) Hess u) + s(x, t) on ``grid`` for 0 < t <= t_end,
    u(., 0) = ``initial`` (k components allowed: shape (k, *grid.shape)).

    ``velocity`` v: a constant (d,), a field (d, *shape), callable(coords, t), or a list of
    fields, piecewise constant in time (``velocity_times``: their start times). ``diffusion``
    A: a scalar, (d,), (d, d), fields of those, or callable(coords, t); symmetric positive
    semi-definite everywhere (checked). ``source`` s: a constant, an array of shape
    grid.shape or (k, *grid.shape), or callable(coords, t) returning one; checked finite at
    every evaluation. ``boundary``: one spec for all sides, one per axis, or a (low, high) pair
    per axis; a spec is a kind ('periodic', 'dirichlet', 'neumann', 'outflow') or (kind,
    value) with value a number or callable(x1, ..., xd, t) on the face. ``coords`` is the
    tuple of the grid's meshgrid arrays.
    """

    grid: Grid
    initial: Any  # callable(coords) -> (k, *shape) or shape; or array
    t_end: float
    velocity: Any = 0.0  # constant (d,), field (d, *shape), callable(coords, t), or list
    diffusion: Any = 0.0  # scalar, (d,), (d, d), fields of those, or callable(coords, t)
    source: Any = None  # constant, array (shape or (k, *shape)), or callable(coords, t)
    boundary: Any = "periodic"
    velocity_times: Sequence[float] | None = None  # interval starts for a list of velocities
    name: str = "problem"
    bcs: tuple[tuple[BC, BC], ...] = field(init=False)
    u0: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        if not (np.isfinite(self.t_end) and self.t_end > 0):
            raise NumericsError(f"t_end = {self.t_end}; it must be finite and > 0")
        object.__setattr__(self, "bcs", normalise_bcs(self.boundary, self.grid.dim))
        u0 = _call(self.initial, "initial condition", self.grid.coords)
        u0 = np.asarray(u0, dtype=float)
        if u0.shape == self.grid.shape:
            u0 = u0[None]
        if u0.shape[1:] != self.grid.shape:
            raise NumericsError(f"initial condition has shape {u0.shape}; expected "
                                f"{self.grid.shape} or (k,) + {self.grid.shape}")
        if not np.all(np.isfinite(u0)):
            i = np.unravel_index(int(np.argmax(~np.isfinite(u0).reshape(-1))), u0.shape)
            at = tuple(float(self.grid.axes[k][i[k + 1]]) for k in range(self.grid.dim))
            raise NumericsError(f"initial condition is not finite (value {u0[i]}) at x = {at}"
                                f" (component {int(i[0])}, cell {tuple(map(int, i[1:]))}); "
                                "give finite data")
        object.__setattr__(self, "u0", u0)
        for what, value in (("velocity", self.velocity), ("diffusion", self.diffusion)):
            if isinstance(value, str | bytes):
                raise NumericsError(f"{what} = {value!r}: give a number, an array, a list of "
                                    "fields or a callable(coords, t)")
        if self.velocity_times is not None:
            vt = [float(t) for t in self.velocity_times]
            if any(b <= a for a, b in itertools.pairwise(vt)) or (vt and vt[0] != 0):
                raise NumericsError(f"velocity_times {vt}: give the start time of each field, "
                                    "increasing and starting at 0")
        if isinstance(self.velocity, list | tuple) and len(self.velocity) > 0 and not np.isscalar(
                self.velocity[0]):
            times = self.interval_starts
            if len(times) != len(self.velocity):
                raise NumericsError(f"{len(self.velocity)} velocity fields but "
                                    f"{len(times)} interval start times")
            for n, v in enumerate(self.velocity):
                _as_field(v, self.grid, f"velocity field {n}", (self.grid.dim,), times[n])
        else:
            self.velocity_at(0.0)
        self.diffusion_at(0.0)
        self.source_at(0.0)

    @property
    def piecewise(self) -> bool:
        v = self.velocity
        return isinstance(v, list | tuple) and len(v) > 0 and not np.isscalar(v[0])

    @property
    def interval_starts(self) -> list[float]:
        if not self.piecewise:
            return [0.0]
        if self.velocity_times is not None:
            return [float(t) for t in self.velocity_times]
        n = len(self.velocity)
        return [self.t_end * i / n for i in range(n)]

    @property
    def time_dependent(self) -> bool:
        """True when a coefficient is a callable (rebuilt at every stage)."""
        return callable(self.velocity) or callable(self.diffusion)

    def interval(self, t: float) -> int:
        starts = self.interval_starts
        return int(np.searchsorted(starts, t + 1e-12 * max(1.0, self.t_end), side="right") - 1)

    def velocity_at(self, t: float) -> np.ndarray:
        d = self.grid.dim
        v = self.velocity
        if self.piecewise:
            v = v[max(self.interval(t), 0)]
        elif np.isscalar(v):
            v = np.full(d, float(v))
        return _as_field(v, self.grid, "velocity v", (d,), t)

    def diffusion_at(self, t: float) -> np.ndarray:
        return _diffusion_tensor(self.diffusion, self.grid, t)

    def source_at(self, t: float) -> np.ndarray | None:
        """s(., t) broadcast to u's shape (k, *grid.shape), checked; None without a source."""
        if self.source is None:
            return None
        s = np.asarray(_call(self.source, "source s", self.grid.coords, t), dtype=float)
        if s.shape not in ((), self.grid.shape, self.u0.shape):
            raise NumericsError(f"source s has shape {s.shape}; expected a scalar, "
                                f"{self.grid.shape} or {self.u0.shape}")
        if not np.all(np.isfinite(s)):
            bad = np.broadcast_to(~np.isfinite(s), self.u0.shape)
            i = np.unravel_index(int(np.argmax(bad.reshape(-1))), self.u0.shape)
            at = tuple(float(self.grid.axes[k][i[k + 1]]) for k in range(self.grid.dim))
            raise NumericsError(f"source s is not finite (value {np.broadcast_to(s, bad.shape)[i]})"
                                f" at x = {at}, t = {t}; give a source finite on the grid")
        return np.broadcast_to(s, self.u0.shape)
