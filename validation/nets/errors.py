"""The adapter's error, in a module of its own so that the command line can refuse a model,
a stage or a setting before torch is imported."""

from __future__ import annotations


class AdapterError(ValueError):
    """A model, stage or input the adapter cannot read (one line, the value and the fix)."""
