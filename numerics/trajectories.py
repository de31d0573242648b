r"""Feature trajectories: the characteristics of (CD) run in network (forward) order.

With the project's convention (docs/theory.md section 1) u(., t) is "the last n blocks followed by
f",
so a feature enters at PDE time T and moves through the network as
    dX/ds = v(X, T - s),  X(0) = x,  s in [0, T],
(the deterministic part of the Feynman-Kac particle). For a pure transport problem
u(x, T) = f(X(T)) exactly. Integrated with classical RK4, vectorised over points.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .errors import NumericsError


def characteristics(points: np.ndarray, velocity: Callable[[np.ndarray, float], np.ndarray],
                    t_end: float, n_steps: int = 100) -> np.ndarray:
    """Trajectories of shape (n_steps + 1, N, d): X at s = 0, t_end/n_steps, ..., t_end.

    ``velocity(X, t)`` takes points (N, d) and the PDE time t and returns (N, d).
    """
    x = np.atleast_2d(np.asarray(points, dtype=float))
    if n_steps < 1 or not (np.isfinite(t_end) and t_end > 0):
        raise NumericsError(f"need n_steps >= 1 and finite t_end > 0 (got {n_steps}, {t_end})")
    h = t_end / n_steps

    def f(X, s):
        v = np.asarray(velocity(X, t_end - s), dtype=float)
        if v.shape != X.shape:
            raise NumericsError(f"velocity returned shape {v.shape}; expected {X.shape}")
        return v

    out = [x]
    for n in range(n_steps):
        s = n * h
        k1 = f(x, s)
        k2 = f(x + h / 2 * k1, s + h / 2)
        k3 = f(x + h / 2 * k2, s + h / 2)
        k4 = f(x + h * k3, s + h)
        x = x + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
        if not np.all(np.isfinite(x)):
            raise NumericsError(f"a trajectory became non-finite at s = {s + h:.4g}")
        out.append(x)
    return np.stack(out)


def grid_velocity(problem) -> Callable[[np.ndarray, float], np.ndarray]:
    """Point evaluation of a Problem's velocity (callable directly, fields interpolated)."""
    from scipy.interpolate import RegularGridInterpolator

    g = problem.grid
    if callable(problem.velocity):
        return lambda X, t: np.moveaxis(np.asarray(problem.velocity(tuple(X.T), t)), 0, -1)

    def vel(X, t):
        field = problem.velocity_at(t)
        return np.stack([RegularGridInterpolator(g.axes, field[k], bounds_error=False,
                                                 fill_value=None)(X) for k in range(g.dim)],
                        axis=-1)
    return vel
