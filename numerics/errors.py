"""Domain exceptions of the numerical layer; messages name the bad value and the fix."""

from __future__ import annotations


class NumericsError(ValueError):
    """Bad problem or solver input."""


class UnstableTimeStepError(NumericsError):
    """A user-fixed time step violates the scheme's stability limit."""


class WallTimeError(NumericsError):
    """A run's projected wall time exceeds the caller's limit (solve's max_wall_s)."""


class NonFiniteStateError(FloatingPointError):
    """The state became NaN or infinite during a run."""


class NonMonotoneWarning(UserWarning):
    """A scheme declared monotone is not monotone for this problem's coefficients."""


class RangeViolationError(FloatingPointError):
    """A run declared monotone left the range of its data (the maximum principle broke)."""
