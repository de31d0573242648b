r"""Searches that bound robust accuracy from the other side of the attacks: the network's
expected predictor (common noise draws, confirmation near the boundary) scored on a regular
grid of each eps-ball (2-D inputs: the ground truth up to grid resolution) or of a box in
feature space (the feature bottleneck, bottleneck.py).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch

from validation.studies.attacks import AttackError, _check_norm


def ball_grid(eps: float, norm: str, d: int, per_axis: int) -> np.ndarray:
    """Offsets of a regular grid filling the eps-ball (linf: cube; l2: disk), incl. the centre."""
    axes = np.linspace(-eps, eps, per_axis)
    pts = np.stack(np.meshgrid(*[axes] * d, indexing="ij"), -1).reshape(-1, d)
    if norm == "l2":
        pts = pts[np.linalg.norm(pts, axis=1) <= eps * (1 + 1e-12)]
        # add the boundary circle (2-D) so the ball's extreme points are present
        if d == 2:
            th = np.linspace(0, 2 * np.pi, 4 * per_axis, endpoint=False)
            pts = np.concatenate([pts, eps * np.stack([np.cos(th), np.sin(th)], 1)])
    return pts


def exhaustive(prob: Callable[[np.ndarray], np.ndarray], x: np.ndarray, y: np.ndarray,
               eps: float, *, norm: str = "linf", per_axis: int = 41, chunk: int = 200_000
               ) -> np.ndarray:
    """Per point: True if every grid point of its eps-ball (clipped to the box) is classified
    as y by ``prob`` (points (N, d) -> class probabilities (N, k)). Vectorised."""
    _check_norm(norm)
    if x.shape[1] != 2:
        raise AttackError(f"exhaustive search is for 2-D inputs; got dimension {x.shape[1]}")
    off = ball_grid(eps, norm, 2, per_axis)
    robust = np.ones(len(x), bool)
    step = max(1, chunk // len(off))
    for i in range(0, len(x), step):
        xs = x[i:i + step]
        cand = np.clip(xs[:, None, :] + off[None], 0, 1).reshape(-1, 2)
        lab = prob(cand).argmax(1).reshape(len(xs), len(off))
        robust[i:i + step] = (lab == y[i:i + step, None]).all(1)
    return robust


def min_exhaustive_eps(prob, x: np.ndarray, y: np.ndarray, eps_grid, norm: str = "linf",
                       per_axis: int = 41) -> np.ndarray:
    """Smallest eps of the grid at which the exhaustive search finds an adversarial point."""
    out = np.full(len(x), np.inf)
    for e in sorted(eps_grid):
        r = exhaustive(prob, x, y, e, norm=norm, per_axis=per_axis)
        out[(~r) & np.isinf(out)] = e
    return out


class ExpectedPredictor:
    """x -> E_omega softmax(f(x; omega)), the noise-averaged network, with ``draws`` common
    noise realisations shared by every input (so it is a deterministic function of x). A
    decision whose margin p_y - max_{j != y} p_j lies within ``confirm_se`` standard errors of
    0 is re-scored with ``confirm_draws`` further common draws (confirmation near the decision
    boundary). sigma = 0: one exact pass."""

    def __init__(self, model, draws: int = 64, seed: int = 0, confirm_draws: int = 512,
                 confirm_se: float = 3.0, rows: int = 400_000):
        self.model = model.cpu().eval()
        self.noisy = model.sigma > 0
        self.rows, self.confirm_se = rows, confirm_se
        self.noise = self._draws(draws if self.noisy else 1, seed)
        self.confirm = self._draws(confirm_draws, seed + 7919) if self.noisy else None
        self.confirmed = 0  # decisions re-scored so far

    def _draws(self, m: int, seed: int) -> list[torch.Tensor]:
        g = torch.Generator().manual_seed(seed)
        return [torch.randn(m, self.model.feature_dim, generator=g, dtype=torch.float64)
                for _ in range(self.model.n_blocks)]

    def _per_draw(self, x: torch.Tensor, noise) -> torch.Tensor:
        """Softmax of every (draw, point): (M, N, k), in chunks of at most ``rows`` passes."""
        m = noise[0].shape[0]
        out = []
        step = max(1, self.rows // m)
        with torch.no_grad():
            for i in range(0, len(x), step):
                xs = x[i:i + step]
                rep = xs.repeat(m, 1)
                nz = [e.repeat_interleave(len(xs), 0) for e in noise] if self.noisy else None
                out.append(torch.softmax(self.model(rep, noise=nz), -1)
                           .reshape(m, len(xs), -1))
        return torch.cat(out, 1)

    def __call__(self, pts) -> np.ndarray:
        """Class probabilities (N, k) of points (N, d) (numpy or torch)."""
        return self._per_draw(_as_tensor(pts), self.noise).mean(0).numpy()

    def correct(self, pts, labels) -> np.ndarray:
        """Whether the expected predictor labels each point correctly (confirmed near 0)."""
        x = _as_tensor(pts)
        y = torch.as_tensor(np.asarray(labels)).long()
        P = self._per_draw(x, self.noise)
        margin = _margins(P, y)
        ok = margin.mean(0) > 0
        if self.noisy:
            se = margin.std(0) / math.sqrt(margin.shape[0])
            near = (margin.mean(0).abs() <= self.confirm_se * se).nonzero().flatten()
            if len(near):
                self.confirmed += len(near)
                ok[near] = _margins(self._per_draw(x[near], self.confirm), y[near]).mean(0) > 0
        return ok.numpy()


def _as_tensor(pts) -> torch.Tensor:
    """Points (numpy or torch, possibly requiring grad) as a detached float64 tensor."""
    if torch.is_tensor(pts):
        return pts.detach().to(torch.float64)
    return torch.as_tensor(np.asarray(pts, dtype=float))


def _margins(P: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """p_y - max_{j != y} p_j for every draw: (M, N)."""
    py = P.gather(2, y[None, :, None].expand(P.shape[0], -1, 1))[..., 0]
    other = P.scatter(2, y[None, :, None].expand(P.shape[0], -1, 1), -1.0).max(2).values
    return py - other


def exhaustive_expected(E: ExpectedPredictor, x: np.ndarray, y: np.ndarray, eps: float, *,
                        norm: str = "linf", per_axis: int = 31,
                        still_robust: np.ndarray | None = None) -> np.ndarray:
    """Per point: True if the expected predictor labels every point of a regular grid of the
    eps-ball (spacing 2 eps / (per_axis - 1), clipped to [0, 1]^2) correctly. Points that
    ``still_robust`` marks False (non-robust at a smaller eps of the same norm: the balls are
    nested) are not searched again."""
    _check_norm(norm)
    if x.shape[1] != 2:
        raise AttackError(f"exhaustive search is for 2-D inputs; got dimension {x.shape[1]}")
    off = ball_grid(eps, norm, 2, per_axis) if eps > 0 else np.zeros((1, 2))
    return grid_search(E, lambda idx: np.clip(x[idx, None, :] + off[None], 0, 1), y,
                       len(off), still_robust)


def box_search(score, lo: np.ndarray, hi: np.ndarray, y: np.ndarray, *, per_axis: int = 17,
               still_robust: np.ndarray | None = None) -> np.ndarray:
    """Per point: True if ``score`` (an ExpectedPredictor of bottleneck.FeatureHead) labels
    every point of the per_axis^2 grid of its feature box [lo, hi] correctly. Points that
    ``still_robust`` marks False are not searched again and stay False."""
    from .bottleneck import box_grid

    return grid_search(score, lambda idx: box_grid(lo[idx], hi[idx], per_axis), y,
                       per_axis**2, still_robust)


def grid_search(E, candidates: Callable[[np.ndarray], np.ndarray], y: np.ndarray, n: int,
                still_robust: np.ndarray | None = None, rows: int = 20_000) -> np.ndarray:
    """Per point i: True if ``E.correct`` labels every one of its n candidate points
    (``candidates(idx)`` -> (len(idx), n, d)) as y_i; points that ``still_robust`` marks False
    are not searched (they stay False). Chunks of about ``rows`` candidates."""
    robust = (np.ones(len(y), bool) if still_robust is None
              else np.asarray(still_robust, bool).copy())
    todo = np.flatnonzero(robust)
    chunk = max(1, rows // n)
    for i in range(0, len(todo), chunk):
        idx = todo[i:i + chunk]
        cand = candidates(idx)
        ok = E.correct(cand.reshape(-1, cand.shape[-1]), np.repeat(y[idx], n))
        robust[idx] = ok.reshape(len(idx), n).all(1)
    return robust
