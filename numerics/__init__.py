"""Numerical layer (numpy/scipy): grids, finite-difference schemes, Monte Carlo."""

__all__: list[str] = []
