r"""What ``cdverify check`` measures on one trained network (one setting, one seed):

- **accuracy** of the deployed predictor on the whole test split (the softmax averaged over
  ``passes`` common draws where the technique keeps its randomness at test time);
- **robust accuracy** on ``attack_points`` test points (:func:`measured_points`) of the expected
  predictor
  p(x) = mean over ``attack_passes`` common draws (a deterministic function of x, so no attack
  sees a changing function; its gradient is EOT's): a point counts as robust when p classifies
  it correctly and still does after each attack. Under linf: our PGD (cross-entropy of p,
  ``pgd_steps`` steps, and 3 x the steps on the same step size), our gradient-free Square-style
  search (``square_iters`` queries of the margin log p_y - max_j log p_j) and, where the
  optional library is installed, ART's APGD-CE, APGD-DLR (>= 3 classes) and Square; under l2:
  our PGD and ART's APGD-CE. The AND over a norm's attacks is its upper estimate; each attack's
  own robust accuracy is kept. Flags (True = suspect): a gradient-free attack beating every
  gradient-based one by more than MASKING_MARGIN ("gradient masking suspected"); more PGD steps
  raising robust accuracy by more than one point; robust accuracy above MASKING_MARGIN at a
  radius that can move any point anywhere (:func:`big_radius`);
- **certified accuracy** (the lower end of the bracket where no exhaustive search exists):
  randomized smoothing (Cohen et al. 2019) of the deployed network with its own noise,
  N(0, s^2 I) on the input, at ``certify_points`` test points: the fraction
  certified correct at l2 radius r. It certifies the *smoothed* network g, a different
  classifier from the deployed one; the bracket is of the claim (is robustness improved?),
  each end paired over seeds;
- **Lipschitz**: the spectral norm of the Jacobian dp/dx of the expected predictor's
  probabilities at ``lipschitz_points`` test points (exact, one backward pass per
  class), mean and 95% quantile: the local Lipschitz constant of the deployed map;
- **agreement** (the paper's method only): the Feynman-Kac network - PDE gap and the weak order
  of the coupled sub-step levels (studies/feynman_kac.py) at the trained depth.

Every measurement on n < all test points takes the first n of one fixed permutation of the
test split (:func:`measured_points`): the same points for every network, setting and seed (the
comparisons stay paired), and a random sample whatever the split's stored order. The first n
stored points would be one class where a split is stored class by class (an image folder:
with 10 points of a 2-class folder, every attacked point was a cat).
"""

from __future__ import annotations

import math
import time

import numpy as np
import torch

from validation.nets.adapter import ResidualStage
from validation.nets.data import measured_points
from validation.nets.techniques import ExpectedPredictor, predict_proba
from validation.studies.attacks import pgd, square_search

from .config import CheckConfig, Setting

#: the gradient-free attack may beat the gradient-based ones by this much robust accuracy
#: before a row is flagged "gradient masking suspected" (a few points of sampling luck on
#: 200 points: one binomial standard error at 0.5 is 0.035)
MASKING_MARGIN = 0.05


def _test_subset(data, n: int) -> tuple[np.ndarray, np.ndarray]:
    idx = measured_points(data, n)
    return data.x_test[idx], data.y_test[idx]


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


def big_radius(data, x: torch.Tensor) -> float:
    """A linf radius at which every point can be moved anywhere: the box's span for bounded
    inputs, else 5 x the largest per-coordinate standard deviation of the attacked points."""
    if data.bounds is not None:
        return float(data.bounds[1] - data.bounds[0])
    return 5.0 * float(x.flatten(1).std(0).max())


def robustness(stage: ResidualStage, data, setting: Setting, cfg: CheckConfig,
               seed: int) -> dict:
    """Robust accuracy under each attack and under all of them, the sanity flags and the
    randomized-smoothing certificate (see the module docstring)."""
    from validation.studies import library_attacks as lib

    xs, ys = _test_subset(data, cfg.attack_points)
    n = len(ys)
    x = torch.as_tensor(xs)
    y = torch.as_tensor(ys, dtype=torch.long)
    f = ExpectedPredictor(stage, setting.technique, setting.strength,
                          passes=cfg.attack_passes, seed=20_000 + seed)
    eps_inf, eps_2 = cfg.radii
    bounds = data.bounds
    gen = torch.Generator().manual_seed(30_000 + seed)

    def model(xa, generator=None):  # the attacks' calling convention; f is deterministic
        return f(xa)

    def ours(eps: float, norm: str, steps: int) -> torch.Tensor:
        # one step size for every step count, so that more steps extend the same path
        return pgd(model, x, y, eps, norm=norm, steps=steps, step_size=2.5 * eps / cfg.pgd_steps,
                   generator=gen, bounds=bounds)

    t0 = time.perf_counter()
    with torch.no_grad():
        clean = f(x).argmax(1) == y
    ok = {"clean": clean}
    ok["pgd_linf"] = clean & _correct(f, ours(eps_inf, "linf", cfg.pgd_steps), y)
    ok["pgd_linf_more_steps"] = clean & _correct(f, ours(eps_inf, "linf", 3 * cfg.pgd_steps), y)
    ok["pgd_l2"] = clean & _correct(f, ours(eps_2, "l2", cfg.pgd_steps), y)
    ok["square_linf"] = clean & _correct(f, square_search(_margin_fn(f, y), x, eps_inf,
                                                          iters=cfg.square_iters,
                                                          generator=gen, bounds=bounds), y)
    res: dict = {"library": None}
    if cfg.library and lib.available():
        res["library"] = f"{lib.LIBRARY} {lib.version()}"
        kw = {"n_classes": data.n_classes, "bounds": bounds, "steps": cfg.apgd_steps,
              "square_iters": cfg.square_iters, "seed": 60_000 + seed}
        for name, xa in lib.library_attacks(f, x, y, eps_inf, norm="linf", **kw).items():
            ok[f"{name}_linf"] = clean & _correct(f, xa, y)
        xa = lib.library_attack(f, x, y, eps_2, attack="apgd-ce", norm="l2", **kw)
        ok["art-apgd-ce_l2"] = clean & _correct(f, xa, y)
    elif cfg.library:
        res["library"] = f"not installed ({lib.INSTALL}): the toolkit's own attacks only"
    linf = [k for k in ok if k.endswith("_linf") or k == "pgd_linf_more_steps"]
    l2 = [k for k in ok if k.endswith("_l2")]
    res |= {k: float(v.double().mean()) for k, v in ok.items()}
    res["robust_linf"] = float(torch.stack([ok[k] for k in linf]).all(0).double().mean())
    res["robust_l2"] = float(torch.stack([ok[k] for k in l2]).all(0).double().mean())
    res["attacks_linf"], res["attacks_l2"] = linf, l2
    res["points"] = n
    res["eps_linf"], res["eps_l2"] = eps_inf, eps_2
    big = big_radius(data, x)
    at_big = clean & _correct(f, ours(big, "linf", cfg.pgd_steps), y) & _correct(
        f, square_search(_margin_fn(f, y), x, big, iters=cfg.square_iters, generator=gen,
                         bounds=bounds), y)
    res["eps_big"], res["robust_big"] = big, float(at_big.double().mean())
    res |= sanity_flags(res, linf, n)
    res["seconds_attacks"] = time.perf_counter() - t0
    if cfg.certify_points > 0:
        res["certified"] = certified(stage, data, setting, cfg, seed)
    res["seconds"] = time.perf_counter() - t0
    return res


FLAGS = ("masking_suspected", "more_steps_raise", "big_radius_not_zero")


def sanity_flags(res: dict, linf: list[str], n: int) -> dict:
    """The three flags of a row (True = suspect) from its robust accuracies, and the list of
    those raised (``suspect``): see the module docstring."""
    gradient = [k for k in linf if "square" not in k]
    free = [k for k in linf if "square" in k]
    out = {"masking_suspected": bool(min(res[k] for k in gradient) - min(res[k] for k in free)
                                     > MASKING_MARGIN),
           "more_steps_raise": bool(res["pgd_linf_more_steps"] > res["pgd_linf"] + 1.0 / n),
           "big_radius_not_zero": bool(res["robust_big"] > MASKING_MARGIN)}
    out["suspect"] = [k for k in FLAGS if out[k]]
    return out


def certified(stage: ResidualStage, data, setting: Setting, cfg: CheckConfig,
              seed: int) -> dict:
    """Randomized smoothing of the deployed network (its own noise included) with input noise
    N(0, s^2 I), s = cfg.smoothing: certified l2 accuracy at 0, eps_l2 / 2, eps_l2, 2 eps_l2
    on ``certify_points`` test points (robustness.certify_batch)."""
    from validation.nets.techniques import deployed_logits
    from validation.studies.smoothing import certified_accuracy, certify_batch

    t0 = time.perf_counter()
    xs, ys = _test_subset(data, cfg.certify_points)
    n = len(ys)
    x = torch.as_tensor(xs)
    base = deployed_logits(stage, setting.technique, setting.strength)
    stage.model.eval()
    s = cfg.smoothing
    c = certify_batch(base, x, s, n0=cfg.certify_n0, n=cfg.certify_n, alpha=cfg.certify_alpha,
                      generator=torch.Generator().manual_seed(70_000 + seed))
    eps = cfg.radii[1]
    radii = (0.0, eps / 2, eps, 2 * eps)
    return {"sigma": s, "n0": cfg.certify_n0, "n": cfg.certify_n, "alpha": cfg.certify_alpha,
            "points": n, "max_radius": c["max_radius"],
            "abstain": float(np.mean(c["prediction"] < 0)),
            "accuracy": certified_accuracy(c, ys, radii),
            "at_eps_l2": certified_accuracy(c, ys, (eps,))[f"{eps:g}"],
            "median_radius": float(np.median(c["radius"])),
            "seconds": time.perf_counter() - t0}


def _correct(f, xa: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return f(xa).argmax(1) == y


def lipschitz(stage: ResidualStage, data, setting: Setting, cfg: CheckConfig,
              seed: int) -> dict:
    """Spectral norms of dp/dx at test points: mean and 95% quantile."""
    xs, _ = _test_subset(data, cfg.lipschitz_points)
    n = len(xs)
    x = torch.as_tensor(xs).clone().requires_grad_(True)
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

    x = torch.as_tensor(_test_subset(data, cfg.fk_points)[0])
    res = fk_agreement(stage, x, sigma=setting.strength, draws=cfg.fk_draws,
                       substeps=cfg.substeps, seed=50_000 + seed)
    keep = ("gap_network_pde", "gap_network_pde_stderr", "order", "order_ci95",
            "resolved_levels", "successive_differences", "local_orders", "draws", "points",
            "feature_differences", "feature_local_orders", "feature_norms", "substeps")
    return {k: res[k] for k in keep if k in res} | fk_verdict(res)
