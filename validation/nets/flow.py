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

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch
from scipy.ndimage import map_coordinates, spline_filter

from numerics import Grid, solve

from .models import DiffusionResNet
from .velocity import base_probabilities, block_velocity, to_problem


def interpolate(u: np.ndarray, grid: Grid, points: np.ndarray, order: int = 3) -> np.ndarray:
    """u (k, *shape) at points (N, d): spline of the given order, constant extension outside."""
    return _sample(_coefficients(u, order), grid, points, order)


# scipy's own pre-padding for a spline of order > 1 with mode 'nearest'
# (ndimage._interpolation._prepad_for_spline_filter): 12 edge cells on every side, so that the
# filtered coefficients near the boundary match the constant extension
_SPLINE_PAD = 12


def _coefficients(u: np.ndarray, order: int) -> tuple[list[np.ndarray], int]:
    """The interpolation coefficients of each component of u (k, *shape) and their padding:
    for order > 1 the B-spline coefficients of the edge-padded component, computed once so
    that many point sets can be sampled from them (map_coordinates would filter per call)."""
    if order <= 1:
        return [np.asarray(c, dtype=np.float64) for c in u], 0
    return [spline_filter(np.pad(c, _SPLINE_PAD, mode="edge"), order, output=np.float64,
                          mode="nearest") for c in u], _SPLINE_PAD


def _sample(coeffs: tuple[list[np.ndarray], int], grid: Grid, points: np.ndarray,
            order: int) -> np.ndarray:
    """The components' interpolant at points (N, d), (N, k), from :func:`_coefficients`."""
    comps, pad = coeffs
    idx = np.stack([(points[:, k] - grid.bounds[k][0]) / grid.spacing[k] - 0.5 + pad
                    for k in range(grid.dim)])
    return np.stack([map_coordinates(c, idx, order=order, mode="nearest", prefilter=False)
                     for c in comps], axis=1)


def default_threads() -> int:
    """Threads for the semi-discrete recursion: torch's intra-op count, which a sweep's
    worker process sets to 1 (store.workers), so that workers do not oversubscribe cores."""
    return max(1, torch.get_num_threads())


def gauss_hermite(d: int, m: int) -> tuple[np.ndarray, np.ndarray]:
    """Nodes (m^d, d) and weights for E f(xi), xi ~ N(0, I_d) (tensor product, exact for
    polynomials of degree <= 2m - 1 in each variable)."""
    x, w = np.polynomial.hermite.hermgauss(m)
    nodes = np.stack(np.meshgrid(*[x] * d, indexing="ij"), axis=-1).reshape(-1, d) * np.sqrt(2)
    weights = np.prod(np.stack(np.meshgrid(*[w] * d, indexing="ij"), axis=-1).reshape(-1, d),
                      axis=1) / np.pi ** (d / 2)
    return nodes, weights


def semi_discrete(model: DiffusionResNet, grid: Grid, *, substeps: int = 1, quad: int = 5,
                  interp_order: int = 3, threads: int | None = None) -> np.ndarray:
    """u_L on the grid (k, *shape) by the exact layer recursion; each block may be split into
    ``substeps`` steps of h/r with the same g (refinement of the block step).

    The quadrature nodes of a step are sampled on ``threads`` threads (default
    :func:`default_threads`; scipy's interpolation releases the GIL) from coefficients filtered
    once per step, and summed in the nodes' order: the result does not depend on the count.

    The last class is 1 minus the others: u_0 sums to 1 over the classes (a softmax), and each
    step keeps that sum, being linear in u with quadrature weights that sum to 1 and an
    interpolation that reproduces constants (B-splines of any order, constant extension), so
    the last class's run would only repeat it to rounding (half the work for two classes)."""
    threads = default_threads() if threads is None else int(threads)
    if threads < 1:
        raise ValueError(f"threads = {threads}: give a count >= 1")
    pts = np.stack([c.ravel() for c in grid.coords], axis=1)
    u = np.moveaxis(base_probabilities(model, pts)[:, :-1], 1, 0).reshape(
        (model.n_classes - 1,) + grid.shape)
    h = model.step / substeps
    nodes, weights = gauss_hermite(grid.dim, quad) if model.sigma > 0 else (
        np.zeros((1, grid.dim)), np.ones(1))
    with ThreadPoolExecutor(max_workers=threads) as pool:
        for n in range(model.n_blocks):
            g = block_velocity(model, model.n_blocks - 1 - n, pts)  # g at the grid points
            # the nodes' sample points are those of every sub-step of the block
            moved = [pts + h * g + model.sigma * np.sqrt(h) * node for node in nodes]
            for _ in range(substeps):
                coeffs = _coefficients(u, interp_order)
                acc = np.zeros((pts.shape[0], model.n_classes - 1))
                for w, val in zip(weights, pool.map(
                        lambda q, c=coeffs: _sample(c, grid, q, interp_order), moved),
                        strict=True):
                    acc += w * val
                u = np.moveaxis(acc, 1, 0).reshape(u.shape)
    return np.concatenate([u, 1.0 - u.sum(axis=0, keepdims=True)])


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
