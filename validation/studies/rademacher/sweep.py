"""The Rademacher sweep: train (cached) and estimate the empirical Rademacher complexity of every
(sigma, seed) against the norm bounds; tables, log-scale plot, verdict.

``cdverify rademacher`` and the report's Rademacher stage are thin layers over
:func:`run_sweep`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from validation.stats.paired import DELTA_RELATIVE


@dataclass(frozen=True)
class RademacherSweep:
    """``seeds`` models per noise level in ``sigmas`` (0 is the baseline); the estimate uses
    ``points`` training points, ``draws`` sign draws, ``steps`` ascent steps in the ``norm``
    ball and ``noise_samples`` common noise draws S."""

    data: str = "moons"
    sigmas: tuple[float, ...] = (0.0, 0.1, 0.3, 0.5)
    seeds: int = 3
    epochs: int = 100
    points: int = 100
    draws: int = 16
    steps: int = 60
    norm: str = "frobenius"
    noise_samples: int = 4
    blocks: int = 10  # L of the trained networks (T = 1)
    device: str = "cpu"
    # training settings other than TrainConfig's defaults (None: the default); digits needs
    # weight decay instead of the flow penalty (train.DATA_OVERRIDES says why)
    weight_decay: float | None = None
    flow_penalty: float | None = None
    dtype: str = "float32"  # of the ascent: half the time; calibration kept to 1e-6 (tests)
    # doublings of the ascent's steps spent on convergence (estimate.converged_estimate): each
    # costs as much as all the steps before it; a run that has not converged is flagged and
    # its remaining change widens the verdict's intervals
    doublings: int = 2
    workers: int = 1  # processes for the (sigma, seed) jobs
    delta: float = DELTA_RELATIVE  # smallest effect of interest, relative

    def __post_init__(self):
        sig = tuple(float(s) for s in self.sigmas)
        object.__setattr__(self, "sigmas", sig)
        if 0.0 not in sig or len(set(sig)) < 2:
            raise ValueError(f"sigmas {sig}: include 0 (the baseline) and one sigma > 0")
        if self.dtype not in ("float64", "float32"):
            raise ValueError(f"dtype {self.dtype!r}: valid are float64, float32")
        if self.norm not in ("frobenius", "spectral"):
            raise ValueError(f"norm {self.norm!r}: valid are frobenius, spectral")
        if int(self.doublings) < 1:
            raise ValueError(f"doublings = {self.doublings}: give at least 1 (convergence is "
                             "judged by the change under one doubling of the steps)")
        for name in ("seeds", "epochs", "blocks", "points", "draws", "steps", "noise_samples",
                     "workers"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} = {getattr(self, name)}: give a count >= 1")
        if not self.delta > 0:
            raise ValueError(f"delta = {self.delta}: the smallest effect of interest must be > 0")


def rademacher_row(spec: RademacherSweep, sigma: float, seed: int, cache: str) -> dict:
    """One job: the (cached) model of (sigma, seed), its lower estimate at the seed's common
    radii (the trained norms of its sigma = 0 model: noise and weight size are not
    confounded), the valid upper bound and the reference bounds (cached)."""
    from dataclasses import asdict

    from validation.nets.cached import cached_model, model_file
    from validation.nets.data import make_dataset
    from validation.nets.train import evaluate, sweep_config
    from validation.store.cache import cached_json

    from .estimate import (
        CONVERGENCE_TOL,
        common_noise,
        converged_estimate,
        norm_bounds,
        residual_upper_bound,
        sandwich_check,
        stability_in_draws,
        sup_norm_bound,
        trained_radii,
    )

    cache_dir = Path(cache)
    cfg = sweep_config(spec, sigma, seed)
    data = make_dataset(cfg.data, cfg.n, seed=cfg.seed, noise=cfg.noise)  # shared by sigma
    model, _hist = cached_model(cache_dir, cfg, data, progress=False)
    model = model.cpu()
    m0 = model if sigma == 0 else cached_model(cache_dir, sweep_config(spec, 0.0, seed), data,
                                               progress=False)[0].cpu()
    radii = trained_radii(m0, spec.norm)
    x = data.x_train[: spec.points]
    # v4: converged from the seed's start family
    est_cfg = {"train": asdict(cfg), "points": spec.points, "draws": spec.draws,
               "steps": spec.steps, "norm": spec.norm, "S": spec.noise_samples,
               "radii": radii, "dtype": spec.dtype, "tol": CONVERGENCE_TOL,
               "doublings": spec.doublings, "v": 4}

    def compute():
        # the same start family for every sigma of the seed: every sigma's trained weights,
        # so that a difference between sigmas is not a difference of where the ascent began
        family = [{n: p.detach() for n, p in
                   (model if s == sigma else cached_model(
                       cache_dir, sweep_config(spec, s, seed), data,
                       progress=False)[0].cpu()).named_parameters()}
                  for s in spec.sigmas]
        e = converged_estimate(model, x, draws=spec.draws, steps=spec.steps, norm=spec.norm,
                               noise_samples=spec.noise_samples, seed=1000 + seed,
                               radii=radii, dtype=spec.dtype, starts=family,
                               max_doublings=spec.doublings)
        ev = evaluate(model, data)
        # a bound valid for the class estimated: the same balls, the same S noise paths
        noise = common_noise(model, len(x), spec.noise_samples, 1)
        peel = residual_upper_bound(model, x, radii, noise=noise)["bound"]
        sup = sup_norm_bound(model, x, radii, noise=noise)["bound"]
        row = {"sigma": sigma, "seed": seed, "R_lower": e.mean, "R_lower_se": e.stderr,
               "R_lower_opt_gap": e.details["opt_gap"],
               "R_lower_converged": e.details["converged"], "R_lower_runs": e.details["runs"],
               "R_upper": min(peel, sup), "upper_over_lower": min(peel, sup) / e.mean,
               "R_upper_peeling": peel, "R_upper_sup": sup,
               **norm_bounds(model, x), **ev,
               "gap_acc": ev["train_acc"] - ev["test_acc"],
               "gap_loss": ev["test_loss"] - ev["train_loss"],
               "heat_lipschitz_bound": "n/a: the trained velocity is not 0 (the heat-"
               "semigroup bound assumes pure diffusion)"}
        if sigma > 0 and seed == 0:
            kw = {"draws": spec.draws, "steps": spec.steps, "norm": spec.norm,
                  "seed": 1000 + seed, "radii": radii, "dtype": spec.dtype}
            row["sandwich"] = sandwich_check(model, x, samples=spec.noise_samples,
                                             realisations=3, **kw)
            row["draw_stability"] = stability_in_draws(
                model, x, samples=(1, spec.noise_samples, 4 * spec.noise_samples), **kw)
        return row

    # the models it reads: every sigma's of the seed (the start family)
    used = {f"the sigma = {s:g} model": model_file(cache_dir, sweep_config(spec, s, seed))
            for s in dict.fromkeys((*spec.sigmas, sigma, 0.0))}
    return cached_json(cache_dir, "rademacher", est_cfg, compute, uses=used)


def claim_verdict(rows: list[dict], sigmas, delta: float) -> dict:
    """The paired verdict of "diffusion reduces the Rademacher complexity" from the rows of
    :func:`rademacher_row` (paired by seed: common data, initial weights, radii and sign
    draws within a seed); delta is relative to the sigma = 0 value."""
    import numpy as np

    from validation.stats.paired import compare_to_baseline

    by = {s: {r["seed"]: r for r in rows if r["sigma"] == s} for s in sigmas}
    # each estimate lies below its supremum by up to its optimisation gap: a paired difference
    # can move by the larger of its two gaps, which widens every decision's interval
    slack = {s: float(np.mean([max(by[s][k].get("R_lower_opt_gap", 0.0),
                                   by[0.0][k].get("R_lower_opt_gap", 0.0))
                               for k in by[s] if k in by[0.0]] or [0.0]))
             for s in sigmas if s > 0}
    verdict = compare_to_baseline(
        {s: {k: r["R_lower"] for k, r in by[s].items()} for s in sigmas},
        lower_is_better=True, delta=delta, relative=True, slack=slack)
    verdict["statistic"] = "lower estimate of the empirical Rademacher complexity at common radii"
    return verdict


def check_points(spec: RademacherSweep):
    """The data set of the sweep's settings, after refusing more points than its training
    split has (before any job: a clamped value would be recorded as the one asked for)."""
    from validation.nets.data import make_dataset
    from validation.nets.train import TrainConfig

    data = make_dataset(spec.data, TrainConfig().n, seed=0, noise=TrainConfig().noise)
    if spec.points > len(data.x_train):
        raise ValueError(f"--points {spec.points}: the {spec.data} training split has "
                         f"{len(data.x_train)} points; give at most {len(data.x_train)}")
    return data


def _job_cost(spec: RademacherSweep, sigma: float, seed: int, cache: str) -> float:
    """A job's relative cost, for the order in which the workers start them: measured on the
    quick profile's moons jobs (one thread), 0.8 s at sigma = 0, 2.0 s at sigma > 0, 4.2 s
    for the sigma > 0 job of seed 0 (the sandwich and draw-stability checks)."""
    return 1.0 if sigma == 0 else 2.5 if seed else 5.2


def run_sweep(spec: RademacherSweep, out: str | Path, progress: bool = True,
              cache: str | Path | None = None) -> dict:
    """Train (cached) and estimate for every (sigma, seed); returns rows and the verdict."""
    from validation.store.workers import map_jobs

    from .estimate import linear_class_estimate

    sigmas = list(spec.sigmas)
    d0 = check_points(spec)
    jobs = [(spec, s, seed, str(cache or out)) for s in sigmas for seed in range(spec.seeds)]
    rows = map_jobs(rademacher_row, jobs, workers=spec.workers, progress=progress,
                    desc="rademacher sweep", cost=_job_cost)
    verdict = claim_verdict(rows, sigmas, spec.delta)
    # how far below the supremum the same projected ascent stops on a class with a closed form
    asc, exact = linear_class_estimate(d0.x_train[: spec.points], 1.0, draws=spec.draws,
                                       steps=spec.steps, seed=1000, dtype=spec.dtype)
    ascent = {"ascent": asc.mean, "exact": exact.mean,
              "relative_gap": (exact.mean - asc.mean) / exact.mean}
    return {"rows": rows, "verdict": verdict, "sigmas": sigmas, "ascent_check": ascent,
            "radii": "the trained norms of the sigma = 0 model of the same seed, per parameter"}


#: the columns of rademacher.csv (path_norm: a norm, not a bound)
COLUMNS = ("sigma", "seed", "R_lower", "R_lower_se", "R_upper", "upper_over_lower",
           "R_upper_sup", "R_upper_peeling", "golowich_rakhlin_shamir",
           "bartlett_foster_telgarsky", "path_norm", "train_acc", "test_acc", "linear_test_acc",
           "gap_acc", "gap_loss")

#: the summarised quantities, mean and sd over seeds per sigma
SUMMARY = ("R_lower", "R_upper", "upper_over_lower", "R_upper_peeling",
           "golowich_rakhlin_shamir", "bartlett_foster_telgarsky", "path_norm", "gap_acc",
           "gap_loss", "test_acc", "linear_test_acc")


def summary(res: dict) -> list[dict]:
    """Per sigma: {key: (mean, sd, min, max)} over seeds for each of SUMMARY."""
    import numpy as np

    out = []
    for s in res["sigmas"]:
        rs = [r for r in res["rows"] if r["sigma"] == s]
        row = {"sigma": s}
        for key in SUMMARY:
            v = np.array([r.get(key, float("nan")) for r in rs], float)
            row[key] = (float(v.mean()), float(v.std(ddof=1)) if len(v) > 1 else 0.0,
                        float(v.min()), float(v.max()))
        out.append(row)
    return out


def blocks(res: dict, folder: str = "") -> list:
    """The sweep's report content: the estimates and bounds by sigma, the ascent's check on
    the linear class, the verdict, the Jensen sandwich and the figure (named relative to the
    document; ``folder``: the sweep's folder inside it)."""
    from validation.doc import Figure, items, mean_sd, num, para, relative_gap, strong, table
    from validation.stats.present import verdict_blocks

    def ms(v):
        return mean_sd(v[0], v[1])

    summ = summary(res)
    out = [para("Empirical Rademacher complexity (lower estimate by projected ascent) of the "
                "architecture's class in norm balls common to every sigma of a seed: the "
                "trained norms of that seed's sigma = 0 model. R upper is the smaller of two "
                "bounds valid for this class (every weight and bias in its ball, the same noise "
                "paths): the sup-norm bound sup_f max_i |f(x_i)| (rademacher.sup_norm_bound) "
                "and residual peeling (rademacher.residual_upper_bound, shown beside it); GRS "
                "and BFT are reference numbers (their assumptions do not hold for this class)."),
           table(["sigma", "R lower (mean ± sd)", "R upper (valid)", "upper / lower",
                  "peeling (valid)", "GRS", "BFT", "test acc", "linear baseline", "gap acc",
                  "gap loss"],
                 [[str(r["sigma"]), *[ms(r[k]) for k in (
                     "R_lower", "R_upper", "upper_over_lower", "R_upper_peeling",
                     "golowich_rakhlin_shamir", "bartlett_foster_telgarsky", "test_acc",
                     "linear_test_acc", "gap_acc", "gap_loss")]] for r in summ])]
    conv = [r.get("R_lower_converged") for r in res["rows"] if "R_lower_converged" in r]
    if conv:
        gaps = [r["R_lower_opt_gap"] for r in res["rows"] if "R_lower_opt_gap" in r]
        out.append(para(f"The lower estimate is run to convergence from the same start family "
                        "for every sigma of a seed (every sigma's trained weights), doubling the "
                        "ascent until the mean moves by less than 1% (at most "
                        f"{max(len(r.get('R_lower_runs', [0])) for r in res['rows']) - 1} "
                        "doublings here): converged in "
                        f"{sum(map(bool, conv))}/{len(conv)} runs; the last doubling's change, "
                        f"the remaining optimisation gap's estimate, is {num(max(gaps))} at most "
                        f"(mean {num(sum(gaps) / len(gaps))}), and the verdict's intervals are "
                        "widened by it."))
    asc = res.get("ascent_check")
    if asc:
        out.append(para(f"The same ascent on the linear class (closed-form supremum): "
                        f"{num(asc['ascent'], 4)} against exact {num(asc['exact'], 4)}, "
                        f"{relative_gap(asc['ascent'], asc['exact'])}."))
    weak = [r for r in res["rows"] if r.get("beats_linear") is False]
    if weak:
        out.append(para(strong(f"{len(weak)} of {len(res['rows'])} models do not beat the "
                               f"linear baseline by {weak[0]['linear_margin']} test accuracy: "
                               "(nearly) linear classifiers, on which the comparison across "
                               "sigma says little.")))
    out.append(para("Two different comparisons: the verdict below compares the trained "
                    "networks across sigma (the same norm balls per seed, different trained "
                    "networks); the Jensen statement of the theory is about one class, with and "
                    "without the noise averaged (the sandwich further down). Of the two valid "
                    "bounds the trivial one wins by orders of magnitude: the peeling bound's "
                    "factor per block, 1 + h a1 a2, multiplies over the blocks, while sup |f| "
                    "grows only additively (|tanh| <= 1)."))
    out += verdict_blocks(res["verdict"], "diffusion reduces the Rademacher complexity")
    sand = [r for r in res["rows"] if "sandwich" in r]
    if sand:
        lines = []
        for r in sand:
            sw, st = r["sandwich"], r["draw_stability"]
            means = ", ".join(f"S = {x['S']}: {num(x['mean'], 4)}" for x in st["rows"])
            lines.append(f"sigma {r['sigma']}: {num(sw['R_diffused'], 4)} <= "
                         f"{num(sw['E_omega_R_single'], 4)}: "
                         f"{'holds' if sw['holds'] else 'VIOLATED'}; {means}: "
                         f"{'stable' if st['stable'] else 'not yet stable'}")
        out += [para("Jensen on the same class (same balls, same signs): R(U_sigma) <= "
                     "E_omega R(F_omega), and stability in the noise draws S:"), items(*lines)]
    out += [para("Bounds: " + res["rows"][0]["status"] + ". R lower is a lower estimate of "
                 "the supremum (projected gradient ascent over the norm balls shared by every "
                 "sigma of a seed)."),
            Figure(f"{folder}rademacher.png", "estimates and bounds against sigma (log scale; "
                   "bars: range over seeds) and the observed gaps (linear scale)")]
    return out


def figure(res: dict, title: str):
    """Estimates and bounds against sigma on a log axis, the bars spanning the seeds' range
    (never below 0, so no bar runs off the axis), and the observed generalisation gaps, which
    can be negative, on a linear axis of their own; legends beside the axes."""
    import matplotlib.pyplot as plt
    import numpy as np

    summ = summary(res)
    sig = np.array([s["sigma"] for s in summ])
    fig, (ax, gx) = plt.subplots(1, 2, figsize=(11, 4.2), layout="constrained",
                                 gridspec_kw={"width_ratios": [1.5, 1]})
    hidden = []  # (quantity, sigma) whose range reaches <= 0: not drawable on a log axis
    for key, label, style in (("R_lower", "empirical R (lower estimate)", "o-"),
                              ("R_upper", "upper bound valid for the class", "v-"),
                              ("R_upper_peeling", "peeling bound (valid, loose)", "x:"),
                              ("golowich_rakhlin_shamir", "GRS (reference)", "s--"),
                              ("bartlett_foster_telgarsky", "BFT (reference)", "^--")):
        mean, lo, hi = (np.array([s[key][i] for s in summ]) for i in (0, 2, 3))
        ok = np.isfinite(mean) & (lo > 0)
        hidden += [f"{label} at sigma {s:g}" for s, k in zip(sig, ok, strict=True) if not k]
        if not ok.any():
            continue
        ax.errorbar(sig[ok], mean[ok], yerr=[mean[ok] - lo[ok], hi[ok] - mean[ok]], fmt=style,
                    label=label, capsize=3)
    for srow in summ:  # the bound / empirical ratio, printed at each sigma
        if np.isfinite(srow["upper_over_lower"][0]):
            ax.annotate(f"x{srow['upper_over_lower'][0]:.2g}",
                        (srow["sigma"], srow["R_upper"][0]), textcoords="offset points",
                        xytext=(4, 4), fontsize=7)
    ax.set(yscale="log", xlabel="sigma", ylabel="Rademacher complexity (log)", title=title)
    if hidden:  # named, never dropped silently
        ax.text(0.01, 0.01, "not on the log axis (a seed <= 0): " + "; ".join(hidden),
                transform=ax.transAxes, fontsize=6, va="bottom", wrap=True)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    for key, label, style in (("gap_loss", "test - train loss", "d-"),
                              ("gap_acc", "train - test accuracy", "o:")):
        mean, lo, hi = (np.array([s[key][i] for s in summ]) for i in (0, 2, 3))
        gx.errorbar(sig, mean, yerr=[mean - lo, hi - mean], fmt=style, label=label, capsize=3)
    gx.axhline(0, color="k", lw=0.6)
    gx.set(xlabel="sigma", ylabel="observed gap", title="generalisation gaps")
    gx.legend(fontsize=7)
    return fig


def write_outputs(res: dict, out: str | Path, title: str) -> list[str]:
    """Table (CSV, Markdown) and the figure (PNG) of estimates, bounds and gaps against
    sigma; returns the file names (rademacher.json is the caller's)."""
    import csv
    import io

    from validation.doc import Heading, to_markdown
    from validation.doc.figures import save_figure
    from validation.store.io import atomic_write_text

    out = Path(out)
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(COLUMNS)
    for r in res["rows"]:
        w.writerow([r.get(c, float("nan")) for c in COLUMNS])  # rows cached before a column
    atomic_write_text(out / "rademacher.csv", buf.getvalue())
    atomic_write_text(out / "rademacher.md", to_markdown([Heading(title, 1), *blocks(res)]))
    save_figure(figure(res, title), out / "rademacher.png")
    return ["rademacher.csv", "rademacher.md", "rademacher.png", "rademacher.json"]
