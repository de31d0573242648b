r"""Feynman-Kac by Monte Carlo: u(x, T) = E f(X_T), dX_s = v(X_s, T - s) ds + S dW_s, X_0 = x.

Convention (docs/theory.md section 1): u(., 0) = f and v(., t) is the velocity of (CD) at time t, so
the particles run the network forward from the input: at particle time s they see v(., T - s).
A = S S^T / 2; S is taken as the symmetric square root of 2A. Euler-Maruyama, vectorised over
points and paths, seeded.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .errors import NumericsError


@dataclass(frozen=True)
class MonteCarloResult:
    mean: np.ndarray  # (M, k)
    stderr: np.ndarray  # (M, k)
    n_paths: int
    n_steps: int
    seed: int


def noise_matrix(diffusion: np.ndarray | float, d: int) -> np.ndarray:
    """Symmetric square root of 2A (A constant: scalar, (d,) diagonal or (d, d))."""
    A = np.asarray(diffusion, dtype=float)
    if A.ndim == 0:
        A = A * np.eye(d)
    elif A.shape == (d,):
        A = np.diag(A)
    if A.shape != (d, d):
        raise NumericsError(f"diffusion has shape {A.shape}; expected scalar, ({d},) or ({d}, {d})")
    if not np.all(np.isfinite(A)):
        raise NumericsError("diffusion contains NaN or inf")
    if not np.allclose(A, A.T):
        raise NumericsError(f"diffusion {A.tolist()} is not symmetric; pass (A + A^T)/2")
    w, V = np.linalg.eigh(A)
    if w.min() < -1e-12 * max(1.0, abs(w).max()):
        raise NumericsError(f"diffusion {A.tolist()} is not positive semi-definite (eigenvalue "
                            f"{w.min():.3g}): the comparison principle (A4) fails")
    return (V * np.sqrt(2 * np.clip(w, 0, None))) @ V.T


def _payoff(f: Callable[[np.ndarray], np.ndarray], X: np.ndarray) -> np.ndarray:
    """f(X) checked: (P,) or (P, k), its failure named as one line. f is not probed before
    the paths (a payoff may keep state, as one that records its particles does)."""
    try:
        fx = np.asarray(f(X), dtype=float)
    except Exception as exc:  # the user's f: its failure named as one line
        raise NumericsError(f"f(X) failed on particles of shape {X.shape}: "
                            f"{type(exc).__name__}: {exc}") from None
    if fx.ndim not in (1, 2) or fx.shape[0] != len(X):
        raise NumericsError(f"f(X) returned shape {fx.shape} for X of shape {X.shape}; it must "
                            "return (P,) or (P, k): one value (or k values) per particle")
    return fx


def _velocity_shape_ok(shape: tuple, P: int, d: int) -> bool:
    """A velocity for P particles in d dimensions: (P, d), or one for all, (d,) or (1, d)
    (a (P, 1) array, one number per particle, is refused for d > 1: broadcast, it would
    give every component that number)."""
    return shape in ((P, d), (d,), (1, d))


def feynman_kac(points: np.ndarray, f: Callable[[np.ndarray], np.ndarray],
                velocity: Callable[[np.ndarray, float], np.ndarray], diffusion, t_end: float, *,
                n_paths: int = 4096, n_steps: int = 100, seed: int = 0,
                chunk: int = 1 << 20) -> MonteCarloResult:
    """Estimate u(x, t_end) at ``points`` (M, d) with its standard error.

    ``velocity(X, t)`` takes particles (P, d) and returns (P, d); ``f(X)`` returns (P,) or (P, k).
    """
    x = np.asarray(points, dtype=float)
    if x.ndim != 2 or not x.size:
        raise NumericsError(f"points has shape {x.shape}; give (M, d), one row per start point "
                            "(points[:, None] for M points on a line, points[None] for one "
                            "point in d dimensions)")
    M, d = x.shape
    if not np.all(np.isfinite(x)):
        i = int(np.argmax(~np.all(np.isfinite(x), axis=1)))
        raise NumericsError(f"start point {i} = {x[i].tolist()} is not finite; give finite "
                            "points (M, d)")
    if n_paths < 2 or n_steps < 1:
        raise NumericsError(f"n_paths = {n_paths} (>= 2) and n_steps = {n_steps} (>= 1) needed")
    if not (np.isfinite(t_end) and t_end > 0):
        raise NumericsError(f"t_end = {t_end} must be finite and > 0")
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise NumericsError(f"seed = {seed!r}; give a non-negative integer")
    # two particles first: a wrong shape is named before any path is drawn
    probe = np.asarray(velocity(np.repeat(x[:1], 2, axis=0), t_end), dtype=float)
    if not _velocity_shape_ok(probe.shape, 2, d):
        raise NumericsError(f"velocity(X, t) returned shape {probe.shape} for X of shape "
                            f"(2, {d}); it must return one velocity per particle, (P, {d}), "
                            f"or one for all, ({d},)")
    S = noise_matrix(diffusion, d)
    rng = np.random.default_rng(seed)
    h = t_end / n_steps
    sums = None
    m2 = None  # sum of squared deviations from the running mean (Chan et al.'s pairwise update)
    per = max(1, chunk // max(M, 1))
    done = 0
    while done < n_paths:
        p = min(per, n_paths - done)
        X = np.repeat(x, p, axis=0)
        for n in range(n_steps):
            v = np.asarray(velocity(X, t_end - n * h), dtype=float)
            if v.shape != X.shape:
                if _velocity_shape_ok(v.shape, len(X), d):
                    v = np.broadcast_to(v, X.shape)
                else:
                    raise NumericsError(
                        f"velocity(X, t) returned shape {v.shape} for X of shape {X.shape} "
                        f"(step {n}, t = {t_end - n * h:.6g}); it must return one velocity "
                        f"per particle, (P, {d})") from None
            if not np.all(np.isfinite(v)):
                raise NumericsError(f"velocity(X, t) is not finite at step {n}, t = "
                                    f"{t_end - n * h:.6g} (a particle at "
                                    f"{X[int(np.argmax(~np.isfinite(v).all(1)))].tolist()}); "
                                    "check the velocity data")
            X = X + h * v + np.sqrt(h) * rng.standard_normal(X.shape) @ S.T
        fx = _payoff(f, X).reshape(M, p, -1)
        s = fx.sum(axis=1)
        # deviations from the chunk's own mean, merged with the running sum of squares: the
        # one-pass E[f^2] - E[f]^2 cancels catastrophically where f is large against its
        # spread (f = 1e8 + noise of sd 1: variance 0 after clipping, a zero standard error)
        m_c = s / p
        m2_c = ((fx - m_c[:, None]) ** 2).sum(axis=1)
        if sums is None:
            sums, m2 = s, m2_c
        else:
            delta = m_c - sums / done
            m2 = m2 + m2_c + delta**2 * (done * p / (done + p))
            sums = sums + s
        done += p
    mean = sums / n_paths
    var = m2 / (n_paths - 1)
    return MonteCarloResult(mean, np.sqrt(var / n_paths), n_paths, n_steps, seed)
