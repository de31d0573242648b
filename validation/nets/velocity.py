r"""From a trained network to a numerics problem (docs/theory.md sections 1 and 6).

Time runs from the output layer back to the input: on [t_n, t_{n+1}), t_n = n h, the velocity is
the residual branch of block L-1-n, v(x, t) = g_{L-1-n}(x); A = sigma^2 I / 2; the initial
condition u(., 0) is the softmax of the base model, one component per class. The network's
noise-averaged output is then u(., T) at the encoder's features.
"""

from __future__ import annotations

import numpy as np
import torch

from numerics import Grid, Problem

from .models import DiffusionResNet

BOX_MARGIN = 0.15  # relative margin around the features' range (noise tails, outflow boundary)


def _eval(fn, pts: np.ndarray, model: DiffusionResNet) -> np.ndarray:
    dev = next(model.parameters()).device
    with torch.no_grad():
        return fn(torch.tensor(pts, dtype=torch.float64, device=dev)).cpu().numpy()


def block_velocity(model: DiffusionResNet, block: int, points: np.ndarray) -> np.ndarray:
    """g_block at points (N, d)."""
    return _eval(model.blocks[block], points, model)


def base_probabilities(model: DiffusionResNet, points: np.ndarray) -> np.ndarray:
    """softmax(base(z)) at points (N, d) -> (N, k)."""
    return _eval(lambda z: torch.softmax(model.base(z), -1), points, model)


def feature_box(model: DiffusionResNet, z0: np.ndarray, *, samples: int = 4, seed: int = 0,
                margin: float = BOX_MARGIN) -> tuple[tuple[float, float], ...]:
    """A box containing the features' noisy paths through every block, with a margin."""
    dev = next(model.parameters()).device
    g = torch.Generator(device=dev).manual_seed(seed)
    with torch.no_grad():
        z = torch.tensor(np.repeat(z0, samples, axis=0), dtype=torch.float64, device=dev)
        _, path = model.flow(z, generator=g, return_path=True)
    pts = path.reshape(-1, z0.shape[1]).cpu().numpy()
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    pad = margin * (hi - lo) + 3 * model.sigma * np.sqrt(model.step)
    return tuple((float(a - p), float(b + p)) for a, b, p in zip(lo, hi, pad, strict=True))


def velocity_fields(model: DiffusionResNet, grid: Grid) -> list[np.ndarray]:
    """[v on [t_0, t_1), ..., v on [t_{L-1}, T)] = [g_{L-1}, ..., g_0] on the grid."""
    pts = np.stack([c.ravel() for c in grid.coords], axis=1)
    fields = []
    for n in range(model.n_blocks):
        v = block_velocity(model, model.n_blocks - 1 - n, pts)
        fields.append(np.moveaxis(v, 1, 0).reshape((grid.dim,) + grid.shape))
    return fields


def to_problem(model: DiffusionResNet, grid: Grid, *, boundary: str = "outflow") -> Problem:
    """The convection-diffusion problem the trained network is a discretisation of."""
    pts = np.stack([c.ravel() for c in grid.coords], axis=1)
    u0 = np.moveaxis(base_probabilities(model, pts), 1, 0).reshape(
        (model.n_classes,) + grid.shape)
    h = model.step
    return Problem(grid=grid, initial=u0, t_end=model.t_end,
                   velocity=velocity_fields(model, grid),
                   velocity_times=[n * h for n in range(model.n_blocks)],
                   diffusion=model.sigma**2 / 2, boundary=boundary, name="network")
