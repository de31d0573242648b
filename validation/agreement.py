r"""Three-way agreement (docs/theory.md section 6): network, semi-discrete operator, continuum PDE.

1. network: Monte Carlo average of K noisy passes, with its standard error (error ~ K^-1/2);
2. semi-discrete operator: the exact layer recursion on a grid,
       u_{n+1}(x) = E u_n(x + h g_{L-1-n}(x) + sigma sqrt(h) xi),
   each grid point traced through the block, Gauss-Hermite quadrature over xi, u_n interpolated
   (bilinear: error O(dx^2); cubic spline: O(dx^4)); it equals the network's expectation up to
   interpolation error;
3. the PDE (CD) by finite differences; it differs from 2 by O(h) (weak order 1 of Euler-Maruyama),
   measured by refining the block step of the trained model (r sub-steps of h/r, same g).
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field

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


def slope(xs, ys) -> float:
    """Least-squares slope of log y against log x."""
    xs, ys = np.asarray(xs, float), np.asarray(ys, float)
    ok = ys > 0
    if ok.sum() < 2:
        return float("nan")
    return float(np.polyfit(np.log(xs[ok]), np.log(ys[ok]), 1)[0])


@dataclass
class AgreementResult:
    """Gaps with their expected behaviour and measured orders."""

    sigma: float
    blocks: int
    grid_n: int
    gap_net_sd: float
    net_stderr: float
    gap_sd_pde: float
    k_study: dict = field(default_factory=dict)
    grid_study: dict = field(default_factory=dict)
    step_study: dict = field(default_factory=dict)
    timings: dict = field(default_factory=dict)

    def table(self) -> list[dict]:
        rows = [
            {"gap": "network - semi-discrete", "value": self.gap_net_sd,
             "expected": "within ~3 standard errors (K^-1/2) plus interpolation error",
             "measured order": self.k_study.get("order"), "expected order": -0.5,
             "against": "K (noise samples)"},
            {"gap": "semi-discrete self-convergence", "value": self.grid_study.get(
                "errors", [None])[-1], "expected": "interpolation error O(dx^2) (bilinear)",
             "measured order": self.grid_study.get("order"), "expected order": 2,
             "against": "grid spacing"},
            {"gap": "semi-discrete - PDE", "value": self.gap_sd_pde,
             "expected": "O(h) (weak Euler-Maruyama)", "measured order":
                 self.step_study.get("order"), "expected order": 1,
             "against": "block step h/r"},
            {"gap": "semi-discrete r vs 2r (PDE-free)",
             "value": self.step_study.get("successive_differences", [None])[0],
             "expected": "O(h)", "measured order": self.step_study.get("order_successive"),
             "expected order": 1, "against": "block step h/r"},
        ]
        return rows


def agreement_study(model: DiffusionResNet, x_test: np.ndarray, z_test: np.ndarray,
                    bounds, *, grid_n: int = 96, ks=(16, 64, 256, 1024),
                    grid_ns=(24, 48, 96, 192), substeps=(1, 2, 4, 8, 16), quad: int = 5,
                    seed: int = 0, progress: bool = True) -> AgreementResult:
    """Run all three comparisons at the test features and return gaps and orders."""
    from tqdm import tqdm

    bar = tqdm(total=4, desc="agreement", leave=False, disable=not progress)
    times = {}
    t0 = time.perf_counter()
    grid = Grid(bounds=bounds, shape=(grid_n,) * len(bounds))
    sd = interpolate(semi_discrete(model, grid, substeps=1, quad=quad), grid, z_test)
    pde_coarse = interpolate(pde_final(model, grid), grid, z_test)
    # the PDE on the doubled grid is the reference; the difference estimates its error
    grid2 = Grid(bounds=bounds, shape=(2 * grid_n,) * len(bounds))
    pde = interpolate(pde_final(model, grid2), grid2, z_test)
    pde_err = float(np.abs(pde - pde_coarse).max())
    # the most accurate semi-discrete values (finest grid, cubic): the reference the network's
    # Monte Carlo average is compared with, so that the K^-1/2 law is not hidden by a grid floor
    fine_n = 2 * max(grid_ns)
    fine = Grid(bounds=bounds, shape=(fine_n,) * len(bounds))
    sd_ref = interpolate(semi_discrete(model, fine, substeps=1, quad=quad), fine, z_test)
    times["semi_discrete_and_pde_s"] = time.perf_counter() - t0
    bar.update(1)

    # 1-2 against K
    t0 = time.perf_counter()
    k_gaps, k_se = [], []
    for K in ks:
        m, se = network_mc(model, x_test, K, seed=seed)
        k_gaps.append(float(np.mean(np.abs(m - sd_ref))))
        k_se.append(float(np.mean(se)))
    k_order = slope(ks, k_gaps) if model.sigma > 0 else float("nan")
    times["network_s"] = time.perf_counter() - t0
    bar.update(1)

    # 1-2 against grid spacing: bilinear semi-discrete, self-convergence to the finest grid
    t0 = time.perf_counter()
    ref = interpolate(semi_discrete(model, fine, substeps=1, quad=quad,
                                             interp_order=1), fine, z_test, 1)
    g_errs, spacings = [], []
    for n in grid_ns:
        gn = Grid(bounds=bounds, shape=(n,) * len(bounds))
        val = interpolate(semi_discrete(model, gn, substeps=1, quad=quad,
                                                 interp_order=1), gn, z_test, 1)
        g_errs.append(float(np.abs(val - ref).max()))
        spacings.append(gn.spacing[0])
    times["grid_study_s"] = time.perf_counter() - t0
    bar.update(1)

    # 2-3 against the block step: r sub-steps of h/r with the same g, PDE fixed
    t0 = time.perf_counter()
    s_gaps, s_vals = [], []
    for r in substeps:
        v = interpolate(semi_discrete(model, grid, substeps=r, quad=quad), grid, z_test)
        s_vals.append(v)
        s_gaps.append(float(np.abs(v - pde).max()))
    steps = [model.step / r for r in substeps]
    # successive differences |SD_r - SD_2r| ~ C h/r: an order free of the PDE's own error
    diffs = [float(np.abs(a - b).max()) for a, b in itertools.pairwise(s_vals)]
    # fit the gap's order only where the gap clearly exceeds the PDE's own error estimate
    resolved = [i for i, gp in enumerate(s_gaps) if gp > 3 * pde_err]
    times["step_study_s"] = time.perf_counter() - t0
    bar.update(1)
    bar.close()
    m, se = network_mc(model, x_test, ks[-1], seed=seed)
    return AgreementResult(
        sigma=model.sigma, blocks=model.n_blocks, grid_n=grid_n,
        gap_net_sd=float(np.abs(m - sd_ref).max()), net_stderr=float(se.max()),
        gap_sd_pde=float(np.abs(sd - pde).max()),
        k_study={"K": list(ks), "mean_abs_gap": k_gaps, "mean_stderr": k_se, "order": k_order},
        grid_study={"n": list(grid_ns), "dx": spacings, "errors": g_errs,
                    "reference_n": fine_n, "order": slope(spacings, g_errs)},
        step_study={"r": list(substeps), "h": steps, "gaps": s_gaps,
                    "order": slope([steps[i] for i in resolved], [s_gaps[i] for i in resolved])
                    if len(resolved) >= 2 else float("nan"),
                    "points_fitted": len(resolved), "pde_error_estimate": pde_err,
                    "successive_differences": diffs,
                    "order_successive": slope(steps[:-1], diffs)},
        timings=times)


#: the tolerances of the agreement claim on the measured orders (expected -1/2 in K, 2 in the
#: grid spacing, 1 in the block step for both the PDE gap and the PDE-free successive differences)
ORDER_TOLERANCE = {"K": 0.2, "grid": 0.4, "step": 0.3}


def agreement_verdict(study: dict) -> dict:
    """The verdict of "network = semi-discrete = PDE up to O(h)" from one AgreementResult (as a
    dict): holds when the network's Monte Carlo gap falls like K^-1/2 (sigma > 0), the grid
    self-convergence has order ~2, and the semi-discrete-to-PDE gap shrinks at order ~1 in h
    (fitted where it exceeds 3x the PDE's own error, at least 2 sub-step counts) as do the
    PDE-free successive differences; fails when an order of the claim (K, PDE gap, successive
    differences) is off; inconclusive when the apparatus is not resolved (the PDE gap resolved
    at fewer than 2 sub-step counts, or a grid off its asymptotic order)."""
    tol = ORDER_TOLERANCE
    ks, gs, ss = study["k_study"], study["grid_study"], study["step_study"]
    problems, unresolved = [], []
    if study["sigma"] > 0 and not abs(ks["order"] + 0.5) <= tol["K"]:
        problems.append(f"K order {ks['order']:.2f} (expected -0.5)")
    if not abs(gs["order"] - 2) <= tol["grid"]:
        # the grid study checks the apparatus (the semi-discrete operator's discretisation), not
        # the claim: off its order, the grid is pre-asymptotic and the study cannot decide
        unresolved.append(f"grid self-convergence order {gs['order']:.2f} (expected 2): the "
                          "grid is not in its asymptotic range; refine it (--grid)")
    succ = ss.get("order_successive")
    if succ is None or not abs(succ - 1) <= tol["step"]:
        problems.append(f"successive-difference order {succ} (expected 1)")
    order = ss.get("order")
    if ss.get("points_fitted", 0) < 2 or order is None or order != order:
        unresolved.append(f"the PDE gap exceeds 3x the PDE error at {ss.get('points_fitted', 0)}"
                          " sub-step count(s) only: refine the PDE grid")
    elif not abs(order - 1) <= tol["step"]:
        problems.append(f"PDE-gap order {order:.2f} in h (expected 1)")
    gap = ss["gaps"][0]
    evidence = (f"PDE gap at the trained L = {study['blocks']}: {gap:.3g}; its order in h "
                + (f"{order:.2f}" if order == order and order is not None else "n/a")
                + f" over {ss.get('points_fitted', 0)} sub-step counts")
    status = "fails" if problems else "inconclusive" if unresolved else "holds"
    return {"status": status, "evidence": evidence, "problems": problems,
            "unresolved": unresolved}
