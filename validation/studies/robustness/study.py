r"""The robustness study of one trained model (docs/theory.md section 4): every attack
(attacks.py) and search (search.py) over both eps grids, scored by the network's expected
predictor; robust accuracy per point is the AND over all of them. Also the deployed
predictor's clean accuracy, the sanity flags, certificates (certify.py) and measured Lipschitz
constants.

The deployed predictor is g_K(x) = argmax of the softmax averaged over K fresh noise draws. The
attacks include deterministic surrogates (the K-draw average with common random numbers, the
PDE solution) beside PGD, EOT-PGD and the gradient-free random search; in 2-D the exhaustive
search of each eps-ball gives the ground truth up to grid resolution, on digits the
feature-bottleneck box search a lower estimate.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from validation.studies.attacks import (
    Logits,
    fgsm,
    margin_loss,
    mean_probs,
    pgd,
    random_search,
    square_search,
)

from .certify import autograd_lipschitz, certify_smoothed, heat_certified
from .search import ExpectedPredictor, box_search, exhaustive, exhaustive_expected

TOL = 0.03  # flag tolerance on accuracies: Monte Carlo noise of g_K on ~100 points


def deployed_correct(model: Logits, x: torch.Tensor, y: torch.Tensor, draws: int,
                     generator: torch.Generator | None) -> np.ndarray:
    with torch.no_grad():
        return (mean_probs(model, x, draws, generator).argmax(1) == y).cpu().numpy()


def fixed_noise_model(model, n_points: int, draws: int, seed: int):
    """The K-draw average with common random numbers: a deterministic surrogate."""
    if model.sigma == 0:
        return lambda xa: torch.softmax(model(xa), -1)
    g = torch.Generator().manual_seed(seed)
    noise = [torch.randn(draws * n_points, model.feature_dim, generator=g, dtype=torch.float64)
             for _ in range(model.n_blocks)]

    def probs(xa):
        p = torch.softmax(model(xa.repeat(draws, 1), noise=noise), -1)
        return p.reshape(draws, xa.shape[0], -1).mean(0)
    return probs


def grid_surrogate(u: np.ndarray, bounds, encoder):
    """Differentiable bilinear interpolation of a grid solution u (k, nx, ny) at encoder(x)."""
    ut = torch.tensor(u, dtype=torch.float64)[None].transpose(2, 3)  # (1, k, ny, nx)
    lo = torch.tensor([b[0] for b in bounds], dtype=torch.float64)
    hi = torch.tensor([b[1] for b in bounds], dtype=torch.float64)
    n = torch.tensor(u.shape[1:], dtype=torch.float64)

    def probs(xa):
        z = encoder(xa)
        # cell-centred grid: centre i at lo + (i + 1/2) dx  ->  normalised coordinate
        pos = ((z - lo) / (hi - lo) * n - 0.5) / (n - 1) * 2 - 1
        out = F.grid_sample(ut, pos[None, None], mode="bilinear", padding_mode="border",
                            align_corners=True)
        return out[0, :, 0, :].T.clamp(1e-9, 1.0)
    return probs


def ce_of(probs_fn, y):
    return lambda xa: F.nll_loss(torch.log(probs_fn(xa).clamp_min(1e-12)), y, reduction="none")


@dataclass
class StudyConfig:
    eps_linf: tuple[float, ...] = (0.0, 0.02, 0.05, 0.1, 0.2, 0.4)
    eps_l2: tuple[float, ...] = (0.0, 0.03, 0.07, 0.14, 0.28, 0.56)
    points: int = 100
    deploy_draws: int = 32  # K of the deployed predictor
    pgd_steps: int = 20
    restarts: int = 2
    eot: int = 16
    eot_curve: tuple[int, ...] = (1, 2, 4, 8, 16, 32)
    random_samples: int = 300
    exhaustive_per_axis: int = 31
    grid_n: int = 96
    certify_points: int = 40
    seed: int = 0
    expected_draws: int = 64  # common noise draws of the expected predictor
    confirm_draws: int = 512  # further draws for decisions within 3 SE of the boundary
    square_iters: int = 100  # iterations of the gradient-free square search (linf)
    # the maintained attack library (ART: APGD-CE, APGD-DLR at >= 3 classes, Square) in the
    # AND, on the common-noise predictor; off by default (the report's study sizes and time)
    library: bool = False
    apgd_steps: int = 50
    # input noise s of randomized smoothing for every model (sigma = 0 included); None: the
    # network's own total noise sigma sqrt(T), and no certificate at sigma = 0
    smoothing: float | None = None
    certify_n: int = 512
    bracket: bool = False  # 2-D inputs: certified <= exact <= attack radius (bracket.py)


def robustness_study(model, data, cfg: StudyConfig, *, progress: bool = True) -> dict:
    """All attacks over both eps grids; every adversarial point is scored once by the
    network's expected predictor (ExpectedPredictor: common noise draws, confirmation near the
    boundary), as is the exhaustive ground truth on a ball grid tied to eps; robust accuracy
    per point is the AND over every search. Also: the deployed predictor's clean accuracy,
    flags, certificates and measured Lipschitz constants."""
    from tqdm import tqdm

    from numerics import Grid, solve
    from theory.bounds import heat_lipschitz_bound
    from validation.nets.flow import PDE_SCHEME, interpolate, semi_discrete
    from validation.nets.train import features
    from validation.nets.velocity import feature_box, to_problem

    model = model.cpu().eval()
    x_np, y_np = data.x_test[: cfg.points], data.y_test[: cfg.points]
    x = torch.tensor(x_np, dtype=torch.float64)
    y = torch.tensor(y_np)
    gen = torch.Generator().manual_seed(cfg.seed)
    two_d = data.dim == 2
    out: dict = {"sigma": model.sigma, "T": model.t_end, "L": model.n_blocks,
                 "K": cfg.deploy_draws}

    # clean accuracy, its Monte Carlo standard error over 8 evaluations, and flips
    evals = np.stack([deployed_correct(model, x, y, cfg.deploy_draws, gen) for _ in range(8)])
    accs = evals.mean(1)
    out["clean_accuracy"] = float(accs.mean())
    out["clean_accuracy_se"] = float(accs.std(ddof=1) / math.sqrt(len(accs)))
    with torch.no_grad():
        preds = [mean_probs(model, x, cfg.deploy_draws, gen).argmax(1) for _ in range(2)]
    out["flip_fraction"] = float((preds[0] != preds[1]).double().mean())
    from validation.nets.baseline import MARGIN, beats_linear, linear_baseline

    base = linear_baseline(data, cfg.points)  # the same test points as the clean accuracy
    out |= base | {"beats_linear": beats_linear(out["clean_accuracy"], base),
                   "linear_margin": MARGIN}

    # surrogates: the K-draw average (CRN) and the PDE solution u(., T)
    zt = features(model, data.x_train)
    box = feature_box(model, zt)
    grid = Grid(bounds=box, shape=(cfg.grid_n,) * 2) if model.feature_dim == 2 else None
    surrogates = {"pgd-avg": fixed_noise_model(model, len(x), cfg.deploy_draws, cfg.seed + 11)}
    sd_prob = None
    E = ExpectedPredictor(model, cfg.expected_draws, cfg.seed + 23, cfg.confirm_draws)
    out["expected_predictor"] = {"draws": cfg.expected_draws if model.sigma > 0 else 1,
                                 "confirm_draws": cfg.confirm_draws, "confirm_se": 3.0}
    out["expected_clean_accuracy"] = float(E.correct(x_np, y_np).mean())

    def expected_correct(xa):
        return E.correct(xa, y_np)

    from .bottleneck import covers

    bottleneck = not two_d and model.feature_dim == 2 and covers(model)
    if bottleneck:
        from .bottleneck import FeatureHead, feature_box

        E_feat = ExpectedPredictor(FeatureHead(model), cfg.expected_draws, cfg.seed + 23,
                                   cfg.confirm_draws)

    if grid is not None:
        u_T = solve(to_problem(model, grid), **PDE_SCHEME).final
        surrogates["pgd-pde"] = grid_surrogate(u_T, box, model.encoder)
        u_sd = semi_discrete(model, grid)
        if two_d:
            def sd_prob(pts):
                return interpolate(u_sd, grid, features(model, pts), 1)
        # measured Lipschitz constants of u(., T) beside the heat bound
        grads = [np.gradient(c, *grid.spacing) for c in u_T]
        lip_pde = float(max(np.sqrt(gx**2 + gy**2).max() for gx, gy in grads))
        out["lipschitz"] = {
            "pde_grid": lip_pde,
            "network_autograd": autograd_lipschitz(model, x, cfg.deploy_draws, cfg.seed),
            "heat_bound": heat_lipschitz_bound(model.sigma, model.t_end),
            "bound_applies": False,
            "note": "the heat-semigroup bound 1/(sigma sqrt(2 pi T)) holds for v = 0 (pure "
                    "diffusion); the trained networks have v != 0, so it is a reference only"}

    margin = margin_loss(model, y, len(x), cfg.deploy_draws, cfg.seed + 17)
    library, common, n_classes = None, None, int(data.y_train.max()) + 1
    if cfg.library:
        from validation.nets.techniques import CommonNoisePredictor
        from validation.studies import library_attacks

        if not library_attacks.available():
            raise library_attacks.LibraryMissing(
                f"library = True but the attack library is not installed: "
                f"{library_attacks.INSTALL}")
        library = library_attacks
        # the K-draw common-noise average, reseeded per call (ART attacks subsets of points)
        common = CommonNoisePredictor(lambda z, generator=None: model(z, generator=generator),
                                      passes=cfg.deploy_draws if model.sigma > 0 else 1,
                                      seed=cfg.seed + 11, module=model)
        out["library"] = f"{library_attacks.LIBRARY} {library_attacks.version()}"
    results, still = {}, {}
    jobs = [(norm, e) for norm, grid_e in (("linf", cfg.eps_linf), ("l2", cfg.eps_l2))
            for e in sorted(grid_e)]  # increasing eps: nested balls reuse the earlier search
    for norm, eps in tqdm(jobs, desc=f"attacks sigma={model.sigma}", disable=not progress,
                          leave=False):
        score = {}
        scored = expected_correct  # every search scored once, by the expected predictor

        step = 2.5 * eps / cfg.pgd_steps  # the same step for PGD and PGD with more steps

        adv = {
            "fgsm": fgsm(model, x, y, eps, norm=norm, generator=gen),
            "pgd": pgd(model, x, y, eps, norm=norm, steps=cfg.pgd_steps, step_size=step,
                       restarts=cfg.restarts, generator=gen),
            "pgd-more-steps": pgd(model, x, y, eps, norm=norm, steps=3 * cfg.pgd_steps,
                                  step_size=step, restarts=cfg.restarts, generator=gen),
            "eot-pgd": pgd(model, x, y, eps, norm=norm, steps=cfg.pgd_steps,
                           restarts=cfg.restarts, eot=cfg.eot, generator=gen),
        }
        for name, fn in surrogates.items():
            adv[name] = pgd(model, x, y, eps, norm=norm, steps=cfg.pgd_steps,
                            restarts=cfg.restarts, loss_fn=ce_of(fn, y), generator=gen)
        avg = surrogates["pgd-avg"]
        adv["random-search"] = random_search(
            lambda p, avg=avg: _true_prob(avg, p, y, len(x)), x, y, eps, norm=norm,
            samples=cfg.random_samples, generator=gen)
        # the logit margin (Carlini-Wagner) does not saturate with the softmax: PGD on it, and
        # a gradient-free search on it (linf), catch a masked cross-entropy gradient
        adv["pgd-margin"] = pgd(model, x, y, eps, norm=norm, steps=cfg.pgd_steps,
                                restarts=cfg.restarts, generator=gen,
                                loss_fn=lambda xa, m=margin: -m(xa))
        if norm == "linf":
            adv["square"] = square_search(margin, x, eps, iters=cfg.square_iters,
                                          generator=gen)
        if library is not None:
            adv |= library.library_attacks(
                common, x, y, eps, n_classes=n_classes, norm=norm, steps=cfg.apgd_steps,
                square_iters=cfg.square_iters, seed=cfg.seed + 29, batch=len(x))
        for name, xa in adv.items():
            score[name] = scored(xa)
        attacks = [k for k in score if k != "pgd-more-steps"]
        row = {k: float(v.mean()) for k, v in score.items()}
        row["expected"] = dict(row)  # the flags compare these network-scored values
        worst = np.logical_and.reduce([score[k] for k in attacks])
        row["robust_accuracy_attacks"] = float(worst.mean())
        if two_d:
            gt = exhaustive_expected(E, x_np, y_np, eps, norm=norm,
                                     per_axis=cfg.exhaustive_per_axis,
                                     still_robust=still.get(norm))
            still[norm] = gt
            worst = worst & gt
            row["exhaustive"] = float(gt.mean())
            row["gap_to_ground_truth"] = {k: row[k] - row["exhaustive"] for k in attacks}
            if sd_prob is not None:  # the former surrogate, kept for comparison only
                row["exhaustive_semi_discrete_surrogate"] = float(exhaustive(
                    sd_prob, x_np, y_np, eps, norm=norm,
                    per_axis=cfg.exhaustive_per_axis).mean())
        elif bottleneck:
            # no input grid in D > 2: search an outer box of the encoder's image of the
            # ball in the 2-D feature space; a lower estimate, the attacks an upper one.
            # Points not robust at a smaller eps stay not robust (the images are nested; a
            # point wrongly kept False only lowers the lower estimate)
            lo, hi = feature_box(model, x_np, eps, norm)
            fb = box_search(E_feat, lo, hi, y_np, per_axis=cfg.exhaustive_per_axis,
                            still_robust=still.get(norm))
            still[norm] = fb
            row["feature_box"] = float(fb.mean())
            # points the box search calls robust but an attack broke (grid resolution only)
            row["feature_box_violations"] = int((fb & ~worst).sum())
            row["feature_box_size"] = float(np.median(np.max(hi - lo, axis=1)))
        row["robust_accuracy"] = float(worst.mean())
        results[f"{norm}:{eps}"] = row

    # the EOT curve at the middle eps (linf): increase the draws until accuracy stops falling
    mid = cfg.eps_linf[len(cfg.eps_linf) // 2]
    curve = []
    for n_eot in cfg.eot_curve:
        xa = pgd(model, x, y, mid, norm="linf", steps=cfg.pgd_steps, restarts=1, eot=n_eot,
                 generator=gen)
        curve.append({"eot": n_eot, "accuracy": float(expected_correct(xa).mean())})
    out["eot_curve"] = {"eps": mid, "norm": "linf", "points": curve,
                        "stopped_falling": bool(curve[-1]["accuracy"]
                                                >= min(c["accuracy"] for c in curve) - TOL)}

    # certification: randomized smoothing of the network (with its own noise) at input noise
    # cfg.smoothing, else the network's own total noise sigma sqrt(T)
    if model.sigma > 0 or cfg.smoothing is not None:
        s_in = cfg.smoothing if cfg.smoothing is not None else model.sigma * math.sqrt(
            model.t_end)
        certs = certify_smoothed(model, x[: cfg.certify_points], s_in, n=cfg.certify_n,
                                 generator=gen)
        yc = y_np[: cfg.certify_points]
        out["smoothing"] = {
            "sigma_in": s_in, "n0": 64, "n": cfg.certify_n, "alpha": 0.001,
            "abstain_fraction": float(np.mean([c.prediction == -1 for c in certs])),
            "certified_accuracy": {str(e): float(np.mean([c.prediction == t and c.radius >= e
                                                         for c, t in zip(certs, yc,
                                                                         strict=True)]))
                                   for e in cfg.eps_l2},
            # the Lipschitz (heat-semigroup) certificate: valid, weaker than Cohen's radius
            "heat_lipschitz_certified_accuracy": {
                str(e): float(heat_certified(certs, yc, s_in, e).mean()) for e in cfg.eps_l2}}
    # the certificate against the truth (2-D inputs): certified <= exact <= attack radius of
    # the smoothed network, per point, with the violations counted (bracket.py)
    if two_d and "smoothing" in out and cfg.bracket:
        from .bracket import bracket_2d

        b = bracket_2d(model, x[: cfg.certify_points], out["smoothing"]["sigma_in"],
                       n=cfg.certify_n, seed=cfg.seed + 31)
        out["bracket"] = {k: v for k, v in b.items() if not isinstance(v, np.ndarray)}
    out["attacks"] = results
    out["flags"] = sanity_flags(model, results, cfg, x, tol=2.0 / len(x))
    return out


def _true_prob(probs_fn, pts: torch.Tensor, y: torch.Tensor, n: int) -> torch.Tensor:
    yy = y.repeat(pts.shape[0] // n)
    out = []
    for i in range(0, pts.shape[0], n):  # the CRN surrogate expects batches of n points
        out.append(probs_fn(pts[i:i + n]))
    p = torch.cat(out)
    return p[torch.arange(len(yy)), yy]


def sanity_flags(model, results: dict, cfg: StudyConfig, x: torch.Tensor, tol: float = TOL
                 ) -> dict:
    """The checks printed with every run; each is True when it passes. Comparisons between
    attacks use the deterministic expected score; ``tol`` allows for grid resolution (two
    points by default)."""
    flags = {}
    for norm, grid_e in (("linf", cfg.eps_linf), ("l2", cfg.eps_l2)):
        rows = [results[f"{norm}:{e}"] for e in grid_e]
        ex = [r["expected"] for r in rows]
        flags[f"{norm}: accuracy reaches 0 at the largest eps"] = rows[-1][
            "robust_accuracy"] <= 0.05
        flags[f"{norm}: more PGD steps never raise accuracy"] = all(
            e["pgd-more-steps"] <= e["pgd"] + tol for e in ex)
        flags[f"{norm}: EOT never weaker than PGD"] = all(
            e["eot-pgd"] <= e["pgd"] + tol for e in ex)
        ce = ("fgsm", "pgd", "eot-pgd", "pgd-avg", *(k for k in ex[0] if k.startswith(
            "art-apgd")))
        if all("pgd-margin" in e for e in ex):
            flags[f"{norm}: cross-entropy attacks within two points of the margin attack (no "
                  "saturated softmax: gradient masking suspected otherwise)"] = all(
                min(e[k] for k in ce) <= e["pgd-margin"] + tol for e in ex)
        if all("square" in e for e in ex):
            flags[f"{norm}: the gradient-free search no stronger than the gradient attacks "
                  "(gradient masking suspected otherwise)"] = all(
                min(e[k] for k in (*ce, "pgd-margin")) <= min(
                    e[k] for k in e if k.endswith("square")) + tol for e in ex)
        if "exhaustive" in rows[0]:
            flags[f"{norm}: exhaustive never weaker than any attack (else: bug)"] = all(
                r["exhaustive"] <= min(e[k] for k in e if k != "pgd-more-steps") + tol
                for r, e in zip(rows, ex, strict=True))
            grad = ("fgsm", "pgd", "eot-pgd", "pgd-avg")
            flags[f"{norm}: gradient attacks within 0.1 of the ground truth (no masking)"] = all(
                min(e[k] for k in grad) <= r["exhaustive"] + 0.1
                for r, e in zip(rows, ex, strict=True))
        if "feature_box" in rows[0]:
            flags[f"{norm}: feature-box lower estimate never above the attacks (else: bug)"] = (
                all(r["feature_box"] <= r["robust_accuracy"] + tol for r in rows))
            flags[f"{norm}: feature-box robust points unbroken by the attacks (grid "
                  "resolution allows two)"] = all(r["feature_box_violations"] <= max(
                      2, tol * len(x)) for r in rows)
    with torch.no_grad():
        a = model(x[:8], generator=torch.Generator().manual_seed(1))
        b = model(x[:8], generator=torch.Generator().manual_seed(2))
    if model.sigma > 0:
        flags["noise live at attack time (sigma > 0)"] = not torch.equal(a, b)
    else:
        flags["sigma = 0 path deterministic"] = torch.equal(a, b)
    return flags
