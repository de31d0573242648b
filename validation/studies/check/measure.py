r"""What ``cdverify check`` measures on one trained network (one setting, one seed):

- **accuracy** of the deployed predictor on the whole test split (the softmax averaged over
  ``passes`` common draws where the technique keeps its randomness at test time);
- **robust accuracy** on the first ``attack_points`` test points of the expected predictor
  p(x) = mean over ``attack_passes`` common draws (a deterministic function of x, so no attack
  sees a changing function; its gradient is EOT's): a point counts as robust when p classifies
  it correctly and still does after each attack, PGD under linf and under l2 (cross-entropy of
  p, ``pgd_steps`` steps) and the gradient-free Square-style search under linf
  (``square_iters`` queries of the margin log p_y - max_j log p_j). The AND over attacks is the
  upper estimate; each attack's own robust accuracy is kept, and the gradient-free one beating
  the gradient-based one by more than MASKING_MARGIN flags suspected gradient masking;
- **Lipschitz**: the spectral norm of the Jacobian dp/dx of the expected predictor's
  probabilities at the first ``lipschitz_points`` test points (exact, one backward pass per
  class), mean and 95% quantile: the local Lipschitz constant of the deployed map;
- **agreement** (the paper's method only): the Feynman-Kac network - PDE gap and the weak order
  of the coupled sub-step levels (studies/feynman_kac.py) at the trained depth.
"""

from __future__ import annotations

import math
import time

import numpy as np
import torch

from validation.nets.adapter import ResidualStage
from validation.nets.techniques import ExpectedPredictor, predict_proba
from validation.studies.attacks import pgd, square_search

from .config import CheckConfig, Setting

#: the gradient-free attack may beat the gradient-based ones by this much robust accuracy
#: before a row is flagged "gradient masking suspected" (a few points of sampling luck on
#: 200 points: one binomial standard error at 0.5 is 0.035)
MASKING_MARGIN = 0.05


def accuracy(stage: ResidualStage, data, setting: Setting, cfg: CheckConfig, seed: int) -> float:
    x = torch.as_tensor(data.x_test)
    p = predict_proba(stage, x, setting.technique, setting.strength, passes=cfg.passes,
                      seed=10_000 + seed)
    return float((p.argmax(1).numpy() == data.y_test).mean())


def _margin_fn(f: ExpectedPredictor, y: torch.Tensor):
    def margin(xa: torch.Tensor) -> torch.Tensor:
        lp = f(xa)
        own = lp.gather(1, y[:, None])[:, 0]
        other = lp.scatter(1, y[:, None], -math.inf).max(1).values
        return own - other
    return margin


def robustness(stage: ResidualStage, data, setting: Setting, cfg: CheckConfig,
               seed: int) -> dict:
    """Robust accuracy under each attack and under all of them (see the module docstring)."""
    n = min(cfg.attack_points, len(data.x_test))
    x = torch.as_tensor(data.x_test[:n])
    y = torch.as_tensor(data.y_test[:n], dtype=torch.long)
    f = ExpectedPredictor(stage, setting.technique, setting.strength,
                          passes=cfg.attack_passes, seed=20_000 + seed)
    eps_inf, eps_2 = cfg.radii
    bounds = data.bounds
    gen = torch.Generator().manual_seed(30_000 + seed)

    def model(xa, generator=None):  # the attacks' calling convention; f is deterministic
        return f(xa)

    t0 = time.perf_counter()
    with torch.no_grad():
        clean = f(x).argmax(1) == y
    ok = {"clean": clean}
    ok["pgd_linf"] = clean & _correct(f, pgd(model, x, y, eps_inf, norm="linf",
                                             steps=cfg.pgd_steps, generator=gen, bounds=bounds), y)
    ok["pgd_l2"] = clean & _correct(f, pgd(model, x, y, eps_2, norm="l2", steps=cfg.pgd_steps,
                                           generator=gen, bounds=bounds), y)
    ok["square_linf"] = clean & _correct(f, square_search(_margin_fn(f, y), x, eps_inf,
                                                          iters=cfg.square_iters,
                                                          generator=gen, bounds=bounds), y)
    linf_all = ok["pgd_linf"] & ok["square_linf"]
    res = {k: float(v.double().mean()) for k, v in ok.items()}
    res["robust_linf"] = float(linf_all.double().mean())
    res["points"] = n
    res["eps_linf"], res["eps_l2"] = eps_inf, eps_2
    res["masking_suspected"] = bool(res["pgd_linf"] - res["square_linf"] > MASKING_MARGIN)
    res["seconds"] = time.perf_counter() - t0
    return res


def _correct(f, xa: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return f(xa).argmax(1) == y


def lipschitz(stage: ResidualStage, data, setting: Setting, cfg: CheckConfig,
              seed: int) -> dict:
    """Spectral norms of dp/dx at test points: mean and 95% quantile."""
    n = min(cfg.lipschitz_points, len(data.x_test))
    x = torch.as_tensor(data.x_test[:n]).clone().requires_grad_(True)
    f = ExpectedPredictor(stage, setting.technique, setting.strength,
                          passes=cfg.attack_passes, seed=40_000 + seed)
    p = f(x).exp()
    rows = []
    for c in range(p.shape[1]):
        (g,) = torch.autograd.grad(p[:, c].sum(), x, retain_graph=c < p.shape[1] - 1)
        rows.append(g.flatten(1))
    jac = torch.stack(rows, 1)  # n x classes x D (each point's p depends on its own x only)
    norms = torch.linalg.matrix_norm(jac, ord=2).detach().numpy()
    return {"mean": float(norms.mean()), "q95": float(np.quantile(norms, 0.95)), "points": n}


def agreement(stage: ResidualStage, data, setting: Setting, cfg: CheckConfig, seed: int
              ) -> dict | None:
    """Feynman-Kac agreement for the paper's method (None for other techniques: their flow has
    no sigma sqrt(h) diffusion whose PDE could be compared)."""
    if setting.technique != "paper":
        return None
    from validation.studies.feynman_kac import fk_agreement, fk_verdict

    x = torch.as_tensor(data.x_test[:cfg.fk_points])
    res = fk_agreement(stage, x, sigma=setting.strength, draws=cfg.fk_draws,
                       substeps=cfg.substeps, seed=50_000 + seed)
    keep = ("gap_network_pde", "gap_network_pde_stderr", "order", "order_ci95",
            "resolved_levels", "successive_differences", "draws", "points")
    return {k: res[k] for k in keep if k in res} | fk_verdict(res)
