r"""The network = semi-discrete = PDE agreement in any dimension, by Feynman-Kac.

The grid route (study.py) needs a finite-difference grid of the feature space (d <= 3). Here
every operator is a Monte Carlo average over paths, so the features may be C x H x W:

- the network (with the paper's diffusion): u_1(x) = E softmax(head(z_L)), one Euler-Maruyama
  step z -> z + Delta_l(z) + sigma sqrt(h) xi per block;
- the semi-discrete flow with r sub-steps per block: u_r, steps h / r with the same v_l;
- the PDE, u(x, T) = E f(X_T): u_r -> u as r -> infinity with weak order 1, estimated by
  Richardson extrapolation of the two finest levels, 2 u_R - u_{R/2}.

The levels are coupled: every level is driven by the same Brownian path (a coarse increment is
the sum of the fine ones it spans), so that u_r - u_2r has a small variance. Every gap comes with
its Monte Carlo standard error over the draws; the order of the successive differences
|u_r - u_2r| in h / r is fitted on the finest (at most three) levels where they exceed 3
standard errors, with a 95% interval from a bootstrap over the draws; the fit over every resolved
level is reported beside it (a trained network's coarsest level can be pre-asymptotic). The
verdict follows the grid route's: an order off 1 fails, an order that cannot be resolved is
inconclusive.
"""

from __future__ import annotations

import math
import time

import numpy as np
import torch

from validation.nets.adapter import AdapterError, ResidualStage
from validation.stats.fit import slope

#: the tolerance on the fitted weak order (expected 1), as in the grid route
ORDER_TOLERANCE = 0.3
#: the order is fitted on the finest this many resolved successive differences
FIT_LEVELS = 3


def coupled_levels(stage: ResidualStage, x: torch.Tensor, *, sigma: float,
                   substeps=(1, 2, 4, 8, 16), draws: int = 256, batch: int = 32,
                   seed: int = 0) -> np.ndarray:
    """Softmax outputs per level, draw, point and class: an array (levels, draws, n, classes).
    All levels are driven by the same fine Brownian increments (coupling)."""
    rs = tuple(int(r) for r in substeps)
    R = max(rs)
    if min(rs) < 1 or any(R % r for r in rs):
        raise AdapterError(f"substeps {rs}: each must be >= 1 and divide the largest")
    gen = torch.Generator().manual_seed(seed)
    h = stage.step
    out = []
    with torch.no_grad():
        z0 = stage.features(x)
        for start in range(0, draws, batch):
            k = min(batch, draws - start)
            zrep = z0.repeat(k, *([1] * (z0.dim() - 1)))
            xrep = x.repeat(k, *([1] * (x.dim() - 1)))
            z = {r: zrep.clone() for r in rs}
            acc = {r: torch.zeros_like(zrep) for r in rs}
            for l in range(stage.n_blocks):
                for j in range(R):
                    xi = torch.randn(zrep.shape, generator=gen, dtype=zrep.dtype)
                    for r in rs:
                        acc[r] += xi
                        span = R // r
                        if (j + 1) % span:
                            continue
                        z[r] = z[r] + stage.drift(l, z[r], r) \
                            + sigma * math.sqrt(h / r) * acc[r] / math.sqrt(span)
                        acc[r] = torch.zeros_like(zrep)
            probs = [torch.softmax(stage.head(z[r], xrep), -1).reshape(k, x.shape[0], -1)
                     for r in rs]
            out.append(torch.stack(probs).double().numpy())
    return np.concatenate(out, axis=1)


def _order_ci(hs: np.ndarray, per_draw_diffs: list[np.ndarray], rng: np.random.Generator,
              boot: int = 200) -> tuple[float, float]:
    """95% bootstrap interval of the fitted order over resampled draws."""
    n = per_draw_diffs[0].shape[0]
    orders = []
    for _ in range(boot):
        idx = rng.integers(0, n, n)
        ds = [float(np.abs(d[idx].mean(0)).mean()) for d in per_draw_diffs]
        orders.append(slope(hs, ds))
    orders = np.asarray(orders)
    orders = orders[np.isfinite(orders)]
    if len(orders) < 10:
        return float("nan"), float("nan")
    return float(np.quantile(orders, 0.025)), float(np.quantile(orders, 0.975))


def fk_agreement(stage: ResidualStage, x: torch.Tensor, *, sigma: float,
                 substeps=(1, 2, 4, 8, 16), draws: int = 256, batch: int = 32,
                 seed: int = 0) -> dict:
    """Gaps network - PDE, successive differences u_r - u_2r with standard errors, the fitted
    order with its 95% interval, and the verdict (see the module docstring)."""
    t0 = time.perf_counter()
    rs = tuple(int(r) for r in substeps)
    if len(rs) < 3:
        raise AdapterError(f"substeps {rs}: need at least 3 levels for an order")
    P = coupled_levels(stage, x, sigma=sigma, substeps=rs, draws=draws, batch=batch, seed=seed)
    K = P.shape[1]
    pde_draws = 2 * P[-1] - P[-2]  # Richardson: weak order 1
    gap_draws = P[0] - pde_draws
    gap = gap_draws.mean(0)
    gap_se = gap_draws.std(0, ddof=1) / math.sqrt(K)
    diffs_draws = [P[i] - P[i + 1] for i in range(len(rs) - 1)]
    diffs = [float(np.abs(d.mean(0)).mean()) for d in diffs_draws]
    diffs_se = [float((d.std(0, ddof=1) / math.sqrt(K)).mean()) for d in diffs_draws]
    hs = np.array([stage.step / r for r in rs[:-1]])
    resolved = [i for i, (d, s) in enumerate(zip(diffs, diffs_se, strict=True)) if d > 3 * s]
    all_levels = slope(hs[resolved], np.asarray(diffs)[resolved]) if len(resolved) >= 2 \
        else float("nan")
    # the order is fitted on the finest resolved levels (at most FIT_LEVELS): a trained
    # network's coarse levels can be pre-asymptotic (h |Dv| large), as in any observed-order fit
    fit = resolved[-FIT_LEVELS:]
    order = slope(hs[fit], np.asarray(diffs)[fit]) if len(fit) >= 2 else float("nan")
    lo, hi = (_order_ci(hs[fit], [diffs_draws[i] for i in fit],
                        np.random.default_rng(seed)) if len(fit) >= 2
              else (float("nan"), float("nan")))
    res = {"substeps": list(rs), "h": [stage.step / r for r in rs], "draws": K,
           "points": int(x.shape[0]), "sigma": sigma,
           "gap_network_pde": float(np.abs(gap).mean()),
           "gap_network_pde_stderr": float(gap_se.mean()),
           "gap_network_pde_per_point": gap.tolist(),
           "gap_network_pde_per_point_stderr": gap_se.tolist(),
           "successive_differences": diffs, "successive_stderr": diffs_se,
           "resolved_levels": len(resolved), "fitted_levels": [rs[i] for i in fit],
           "order": order, "order_ci95": [lo, hi], "order_all_resolved_levels": all_levels,
           "seconds": time.perf_counter() - t0}
    res["verdict"] = fk_verdict(res)
    return res


def fk_verdict(res: dict) -> dict:
    """holds: the successive differences fall at order 1 (within ORDER_TOLERANCE) over at least
    2 resolved levels; fails: the order is off (a constant gap has order ~0); inconclusive:
    fewer than 2 levels resolved above 3 standard errors (more draws would decide)."""
    order = res["order"]
    lo, hi = res["order_ci95"]
    if res["resolved_levels"] < 2 or not math.isfinite(order):
        status = "inconclusive"
        why = (f"only {res['resolved_levels']} level(s) of u_r - u_2r exceed 3 standard errors: "
               f"more draws (now {res['draws']}) would resolve the order")
    elif abs(order - 1) <= ORDER_TOLERANCE:
        status, why = "holds", f"weak order {order:.2f} (95% CI {lo:.2f} .. {hi:.2f})"
    else:
        status, why = "fails", (f"weak order {order:.2f} (95% CI {lo:.2f} .. {hi:.2f}), "
                                f"expected 1 +- {ORDER_TOLERANCE}")
    return {"status": status, "evidence": (
        f"network - PDE gap {res['gap_network_pde']:.3g} ± {res['gap_network_pde_stderr']:.2g}"
        f" (MC standard error); {why}")}
