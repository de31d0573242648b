r"""A trained network as an operator on class probabilities (docs/theory.md section 6): the
network's Monte Carlo average, the exact layer recursion on a grid (semi-discrete operator) and
the PDE (CD) solved by finite differences. Every study that sets a network beside its PDE uses
these three.

1. network: Monte Carlo average of K noisy passes, with its standard error (error ~ K^-1/2);
2. semi-discrete operator: u_{n+1}(x) = E u_n(x + h g_{L-1-n}(x) + sigma sqrt(h) xi), each grid
   point traced through the block, Gauss-Hermite quadrature over xi, u_n interpolated;
3. the PDE by finite differences (numerics), with the velocity of nets.velocity.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.ndimage import map_coordinates

from numerics import Grid, solve

from .models import DiffusionResNet
from .velocity import base_probabilities, block_velocity, to_problem


def interpolate(u: np.ndarray, grid: Grid, points: np.ndarray, order: int = 3) -> np.ndarray:
    """u (k, *shape) at points (N, d): spline of the given order, constant extension outside."""
    idx = [(points[:, k] - grid.bounds[k][0]) / grid.spacing[k] - 0.5 for k in range(grid.dim)]
    return np.stack([map_coordinates(c, idx, order=order, mode="nearest") for c in u], axis=1)


def gauss_hermite(d: int, m: int) -> tuple[np.ndarray, np.ndarray]:
    """Nodes (m^d, d) and weights for E f(xi), xi ~ N(0, I_d) (tensor product, exact for
    polynomials of degree <= 2m - 1 in each variable)."""
    x, w = np.polynomial.hermite.hermgauss(m)
    nodes = np.stack(np.meshgrid(*[x] * d, indexing="ij"), axis=-1).reshape(-1, d) * np.sqrt(2)
    weights = np.prod(np.stack(np.meshgrid(*[w] * d, indexing="ij"), axis=-1).reshape(-1, d),
                      axis=1) / np.pi ** (d / 2)
    return nodes, weights


def semi_discrete(model: DiffusionResNet, grid: Grid, *, substeps: int = 1, quad: int = 5,
                  interp_order: int = 3) -> np.ndarray:
    """u_L on the grid (k, *shape) by the exact layer recursion; each block may be split into
    ``substeps`` steps of h/r with the same g (refinement of the block step)."""
    pts = np.stack([c.ravel() for c in grid.coords], axis=1)
    u = np.moveaxis(base_probabilities(model, pts), 1, 0).reshape(
        (model.n_classes,) + grid.shape)
    h = model.step / substeps
    nodes, weights = gauss_hermite(grid.dim, quad) if model.sigma > 0 else (
        np.zeros((1, grid.dim)), np.ones(1))
    for n in range(model.n_blocks):
        g = block_velocity(model, model.n_blocks - 1 - n, pts)  # g at the grid points
        for _ in range(substeps):
            acc = np.zeros((pts.shape[0], model.n_classes))
            for node, w in zip(nodes, weights, strict=True):
                acc += w * interpolate(u, grid, pts + h * g + model.sigma * np.sqrt(h) * node,
                                       interp_order)
            u = np.moveaxis(acc, 1, 0).reshape(u.shape)
    return u


def network_mc(model: DiffusionResNet, x: np.ndarray, samples: int, seed: int = 0,
               substeps: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Mean softmax over ``samples`` noisy passes and its standard error, (N, k) each."""
    dev = next(model.parameters()).device
    g = torch.Generator(device=dev).manual_seed(seed)
    with torch.no_grad():
        m, se = model.predict_proba(torch.tensor(x, dtype=torch.float64, device=dev), samples,
                                    generator=g, substeps=substeps, return_stderr=True)
    return m.cpu().numpy(), se.cpu().numpy()


# TVD convection keeps the class probabilities in [0, 1]; measured on trained models it is also
# more accurate at the test features than central4, which overshoots where the base model's
# softmax is steep (tests/test_validation.py and the closing notes give the numbers)
PDE_SCHEME = {"convection": "vanleer", "diffusion": "central2", "stepper": "ssprk3"}


def pde_final(model: DiffusionResNet, grid: Grid, *,
              convection: str = PDE_SCHEME["convection"],
              diffusion: str = PDE_SCHEME["diffusion"],
              stepper: str = PDE_SCHEME["stepper"]) -> np.ndarray:
    """u(., T) of (CD) for the trained network, (k, *shape)."""
    return solve(to_problem(model, grid), convection=convection, diffusion=diffusion,
                 stepper=stepper).final
