"""Symbolic layer (sympy): axioms, generators, exact solutions, bounds."""

__all__: list[str] = []
