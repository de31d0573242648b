"""Domain exceptions of the symbolic layer."""

from __future__ import annotations


class TheoryError(ValueError):
    """Bad input to a symbolic construction (the message names the value and the fix)."""


class CheckFailedError(AssertionError):
    """A symbolic verification that should hold did not."""
