"""Uniform cell-centred grids on boxes: x_i = a + (i + 1/2) dx, i = 0..n-1, per axis."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from .errors import NumericsError

#: the largest grid a problem may have (a 4096^2 or 256^3 grid is 1.7e7 cells): beyond it the
#: coordinate arrays and operators alone exceed a workstation's memory
MAX_CELLS = 50_000_000


@dataclass(frozen=True, kw_only=True)
class Grid:
    """A box [a_k, b_k] per axis with n_k cells per axis (1-D or 2-D, or more)."""

    bounds: tuple[tuple[float, float], ...]
    shape: tuple[int, ...]

    def __post_init__(self) -> None:
        bounds = tuple((float(a), float(b)) for a, b in self.bounds)
        bad = [n for n in self.shape if isinstance(n, bool) or not float(n).is_integer()]
        if bad:  # int(10.5) would silently build 10 cells
            raise NumericsError(f"shape {tuple(self.shape)}: {bad[0]!r} is not a whole number "
                                "of cells; give integers, e.g. (64, 64)")
        shape = tuple(int(n) for n in self.shape)
        if len(bounds) != len(shape) or not bounds:
            raise NumericsError(
                f"bounds {self.bounds} and shape {self.shape} must list the same number of axes")
        for k, ((a, b), n) in enumerate(zip(bounds, shape, strict=True)):
            if not (np.isfinite(a) and np.isfinite(b) and b > a):
                raise NumericsError(f"axis {k}: bounds ({a}, {b}) must be finite with b > a")
            if n < 4:
                raise NumericsError(f"axis {k}: {n} cells; at least 4 are needed (stencils)")
        cells = int(np.prod(shape, dtype=float)) if len(shape) else 0
        if cells > MAX_CELLS:  # refused from the shape alone, before meshgrid allocates
            raise NumericsError(
                f"shape {shape}: {cells:.3g} cells need about {cells * 8 * len(shape) / 1e9:.3g} "
                f"GB for the coordinates alone; the grid is capped at {MAX_CELLS:.0e} cells "
                "(numerics.grid.MAX_CELLS): use fewer cells per axis")
        object.__setattr__(self, "bounds", bounds)
        object.__setattr__(self, "shape", shape)

    @property
    def dim(self) -> int:
        return len(self.shape)

    @cached_property
    def spacing(self) -> tuple[float, ...]:
        return tuple((b - a) / n for (a, b), n in zip(self.bounds, self.shape, strict=True))

    @cached_property
    def axes(self) -> tuple[np.ndarray, ...]:
        """Cell centres per axis."""
        return tuple(a + (np.arange(n) + 0.5) * h for (a, _), n, h in
                     zip(self.bounds, self.shape, self.spacing, strict=True))

    @cached_property
    def coords(self) -> tuple[np.ndarray, ...]:
        """Meshgrid of cell centres (indexing='ij'), one array per axis."""
        return tuple(np.meshgrid(*self.axes, indexing="ij"))

    @property
    def size(self) -> int:
        return int(np.prod(self.shape))

    def refine(self, factor: int = 2) -> Grid:
        return Grid(bounds=self.bounds, shape=tuple(n * factor for n in self.shape))
