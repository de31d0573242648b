"""Figures of the network-versus-PDE comparison (matplotlib)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import torch

from numerics import Grid
from validation.nets.models import DiffusionResNet


def network_paths(model: DiffusionResNet, z0: np.ndarray, seed: int = 0) -> np.ndarray:
    """Noisy feature paths (L+1, N, d) of one forward pass from features z0."""
    dev = next(model.parameters()).device
    g = torch.Generator(device=dev).manual_seed(seed)
    with torch.no_grad():
        _, path = model.flow(torch.tensor(z0, dtype=torch.float64, device=dev), generator=g,
                             return_path=True)
    return path.cpu().numpy()


def network_labels(model: DiffusionResNet, where, *, samples: int = 64,
                   seed: int = 0) -> np.ndarray:
    """argmax of the noise-averaged network as a function of the features z0, at the cells
    of a Grid (shape of the grid) or at points (N, d)."""
    grid = where if isinstance(where, Grid) else None
    pts = (np.stack([c.ravel() for c in grid.coords], axis=1) if grid is not None
           else np.asarray(where, float))
    dev = next(model.parameters()).device
    gen = torch.Generator(device=dev).manual_seed(seed)
    with torch.no_grad():
        z = torch.tensor(pts, dtype=torch.float64, device=dev).repeat(samples, 1)
        p = torch.softmax(model.base(model.flow(z, generator=gen)), -1)
        p = p.reshape(samples, len(pts), -1).mean(0).cpu().numpy()
    lab = p.argmax(1)
    return lab.reshape(grid.shape) if grid is not None else lab


def decision_regions(net: np.ndarray, pde: np.ndarray, grid: Grid, *, points=None,
                     labels=None, window=None, agreement=None):
    """Network labels beside argmax of u(., T) on the grid, zoomed to ``window`` (the data's
    box); ``agreement`` = (share at the test points, share of cells in the data's box)."""
    fig, axes = plt.subplots(1, 2, figsize=(9, 4.2), layout="constrained")
    X, Y = grid.coords
    for ax, lab, title in ((axes[0], net, "network (K-draw average)"),
                           (axes[1], pde, "PDE u(., T) argmax")):
        ax.pcolormesh(X, Y, lab, shading="auto", cmap="tab10", vmin=0, vmax=9, alpha=0.6)
        if points is not None:
            ax.scatter(points[:, 0], points[:, 1], c=labels, cmap="tab10", vmin=0, vmax=9, s=6,
                       edgecolors="k", linewidths=0.2)
        ax.set(title=title, xlabel="z1", ylabel="z2", aspect="equal")
        if window is not None:
            ax.set(xlim=window[0], ylim=window[1])
    if agreement is not None:
        fig.suptitle(f"decision regions in feature space (the data's box): agree at "
                     f"{100 * agreement[0]:.1f}% of test points, {100 * agreement[1]:.1f}% of "
                     "cells in the box", fontsize=9)
    return fig
