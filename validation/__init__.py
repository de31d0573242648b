"""Validation layer (torch, matplotlib): networks against the PDE, and the CLI."""

__all__: list[str] = []
