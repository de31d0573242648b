"""Numerical layer (numpy/scipy): grids, finite-difference schemes, Monte Carlo.

Solves d_t u = v(x,t).grad u + tr(A(x,t) Hess u) + s(x,t), u(., 0) = f (docs/theory.md, (CD)).
Never imports sympy or torch.
"""

from .boundary import BC, KINDS
from .errors import (
    NonFiniteStateError,
    NonMonotoneWarning,
    NumericsError,
    RangeViolationError,
    UnstableTimeStepError,
    WallTimeError,
)
from .grid import Grid
from .montecarlo import MonteCarloResult, feynman_kac
from .problem import Problem
from .schemes import CONVECTION, DIFFUSION, TIME, SchemeInfo
from .solve import Solution, assemble, solve
from .stability import explicit_dt_limit, explicit_dt_route, half_disk_radius

__all__ = [
    "BC",
    "CONVECTION",
    "DIFFUSION",
    "KINDS",
    "TIME",
    "Grid",
    "MonteCarloResult",
    "NonFiniteStateError",
    "NonMonotoneWarning",
    "NumericsError",
    "Problem",
    "RangeViolationError",
    "SchemeInfo",
    "Solution",
    "UnstableTimeStepError",
    "WallTimeError",
    "assemble",
    "explicit_dt_limit",
    "explicit_dt_route",
    "feynman_kac",
    "half_disk_radius",
    "solve",
]
