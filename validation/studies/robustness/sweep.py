"""The robustness sweep: train (cached) and attack every (sigma, seed); tables, plot, verdict.

The command ``cdverify robustness`` and the report's robustness stage are thin layers over
:func:`run_sweep`; :func:`write_outputs` writes robustness.csv/.md/.png.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path

from validation.stats.paired import DELTA_ROBUST_ACCURACY


@dataclass(frozen=True)
class RobustnessSweep:
    """One sweep: ``seeds`` trained models per noise level in ``sigmas`` (0 is the baseline),
    attacked at every eps of ``eps_linf`` and ``eps_l2`` on ``points`` test points; the deployed
    predictor averages ``K`` noise draws; PGD takes ``steps`` steps."""

    data: str = "moons"
    sigmas: tuple[float, ...] = (0.0, 0.1, 0.3, 0.5)
    seeds: int = 3
    epochs: int = 100
    eps_linf: tuple[float, ...] = (0.0, 0.02, 0.05, 0.1, 0.2, 0.4)
    eps_l2: tuple[float, ...] = (0.0, 0.03, 0.07, 0.14, 0.28, 0.56)
    points: int = 60
    K: int = 32
    steps: int = 15
    blocks: int = 10  # L of the trained networks (T = 1)
    device: str = "cpu"
    # training settings other than TrainConfig's defaults (None: the default); digits needs
    # weight decay instead of the flow penalty (train.DATA_OVERRIDES says why)
    weight_decay: float | None = None
    flow_penalty: float | None = None
    delta: float = DELTA_ROBUST_ACCURACY  # smallest effect of interest
    # the per-model search sizes (the quick profile uses smaller ones than these defaults)
    exhaustive_per_axis: int = 17
    expected_draws: int = 32
    random_samples: int = 200
    confirm_draws: int = 256
    certify_points: int = 30
    square_iters: int = 100  # iterations of the gradient-free square search (linf)
    workers: int = 1  # processes for the (sigma, seed) jobs
    library: bool = False  # ART's APGD-CE, APGD-DLR and Square in the AND (cdverify[attacks])
    smoothing: float | None = None  # input noise of the certificate for every model
    certify_n: int = 512
    bracket: bool = False  # 2-D inputs: the certificate checked against the exact radius

    def __post_init__(self):
        sig = tuple(float(s) for s in self.sigmas)
        object.__setattr__(self, "sigmas", sig)
        object.__setattr__(self, "eps_linf", tuple(float(e) for e in self.eps_linf))
        object.__setattr__(self, "eps_l2", tuple(float(e) for e in self.eps_l2))
        if 0.0 not in sig or len(set(sig)) < 2:
            raise ValueError(f"sigmas {sig}: include 0 (the baseline) and one sigma > 0")
        for name in ("eps_linf", "eps_l2"):
            grid = getattr(self, name)
            if not grid or any(b <= a for a, b in itertools.pairwise(grid)) or \
                    grid[0] < 0:
                raise ValueError(f"{name} = {list(grid)}: give increasing radii >= 0, e.g. "
                                 "0, 0.05, 0.1")
        if self.eps_linf[-1] > 1:
            raise ValueError(f"eps_linf = {list(self.eps_linf)}: inputs live in [0, 1]^d, so a "
                             "linf radius above 1 is the whole box; give radii <= 1")
        for name in ("seeds", "epochs", "blocks", "points", "K", "steps", "exhaustive_per_axis",
                     "expected_draws", "random_samples", "confirm_draws", "square_iters",
                     "workers"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} = {getattr(self, name)}: give a count >= 1")
        if not self.delta > 0:
            raise ValueError(f"delta = {self.delta}: the smallest effect of interest must be > 0")


def study_config(spec: RobustnessSweep):
    """The per-model attack study of a sweep."""
    from .study import StudyConfig

    return StudyConfig(eps_linf=spec.eps_linf, eps_l2=spec.eps_l2,
                       points=spec.points, deploy_draws=spec.K, pgd_steps=spec.steps,
                       restarts=1, eot=8, eot_curve=(1, 4, 16), random_samples=spec.random_samples,
                       exhaustive_per_axis=spec.exhaustive_per_axis, grid_n=80,
                       certify_points=spec.certify_points, expected_draws=spec.expected_draws,
                       confirm_draws=spec.confirm_draws, square_iters=spec.square_iters,
                       library=spec.library, smoothing=spec.smoothing,
                       certify_n=spec.certify_n, bracket=spec.bracket)


def robustness_row(spec: RobustnessSweep, sigma: float, seed: int, cache: str) -> dict:
    """One job: train (cached) the model of (sigma, seed) and attack it (cached)."""
    from dataclasses import asdict

    from validation.nets.cached import cached_model, model_file
    from validation.nets.data import make_dataset
    from validation.nets.train import sweep_config
    from validation.store.cache import cached_json

    from .study import robustness_study

    scfg = study_config(spec)
    cfg = sweep_config(spec, sigma, seed)
    data = make_dataset(cfg.data, cfg.n, seed=cfg.seed, noise=cfg.noise)
    model, _ = cached_model(Path(cache), cfg, data, progress=False)
    stage = {"train": asdict(cfg), "study": asdict(scfg)}
    res = cached_json(Path(cache), "robustness", stage, lambda: robustness_study(
        model, data, scfg.__class__(**{**asdict(scfg), "seed": seed}), progress=False),
        uses={"the model": model_file(Path(cache), cfg)})
    res["seed"] = seed
    return res


def run_sweep(spec: RobustnessSweep, out: str | Path, progress: bool = True,
              cache: str | Path | None = None) -> dict:
    """Train (cached under ``cache``, else ``out``) and attack every (sigma, seed); returns
    the per-run rows, the verdict against sigma = 0 and the study config."""
    from dataclasses import asdict

    from validation.store.workers import map_jobs

    sigmas = list(spec.sigmas)
    scfg = study_config(spec)
    jobs = [(spec, s, k, str(cache or out)) for s in sigmas for k in range(spec.seeds)]
    # noisy models cost about twice a plain one (EOT, confirmation draws): they start first
    rows = map_jobs(robustness_row, jobs, workers=spec.workers, progress=progress,
                    desc="robustness sweep", cost=lambda spec, sigma, seed, cache: sigma > 0)
    return {"rows": rows, "sigmas": sigmas, "study": asdict(scfg),
            **claim_verdicts(rows, sigmas, scfg.eps_linf, spec.delta, scfg.eps_l2)}


def robust_auc(row: dict, eps_linf, key: str = "robust_accuracy") -> float:
    """Mean robust accuracy over the linf eps grid: the one number per run of the verdict
    (``key``: "robust_accuracy", the attacks' upper estimate, or "feature_box", the lower)."""
    import numpy as np

    return float(np.mean([row["attacks"][f"linf:{e}"][key] for e in eps_linf]))


def claim_verdicts(rows: list[dict], sigmas, eps_linf, delta: float, eps_l2=()) -> dict:
    """The paired verdicts from the rows of :func:`robustness_row`: "diffusion improves
    robustness" ("verdict") and, where measured, "diffusion lowers the Lipschitz constant of
    the trained networks" ("lipschitz_verdict"). Paired by seed: one seed's models share data,
    initial weights, noise draws and evaluation points."""
    import numpy as np

    from validation.stats.bracket import bracket
    from validation.stats.paired import DELTA_RELATIVE, compare_to_baseline

    verdict = compare_to_baseline({s: {r["seed"]: robust_auc(r, eps_linf) for r in rows
                                       if r["sigma"] == s} for s in sigmas},
                                  lower_is_better=False, delta=delta, span=1.0)
    verdict["statistic"] = "mean robust accuracy over the linf eps grid (higher is better)"
    out = {"verdict": verdict, "failed_flags": failed_flags(rows)}
    # digits: the same claim on the lower estimate through the feature bottleneck (the truth
    # lies between the two statistics; a verdict that agrees on both does not hang on either)
    if rows and all("feature_box" in r["attacks"][f"linf:{e}"] for r in rows for e in eps_linf):
        lower = compare_to_baseline(
            {s: {r["seed"]: robust_auc(r, eps_linf, "feature_box") for r in rows
                 if r["sigma"] == s} for s in sigmas}, lower_is_better=False, delta=delta, span=1.0)
        lower["statistic"] = ("mean over the linf eps grid of the feature-box lower estimate of "
                              "robust accuracy (higher is better)")
        out["lower_estimate_verdict"] = lower
    # the l2 claim at both ends: the attacks' upper estimate and the certified accuracy of
    # the smoothed networks (one input noise s for every sigma), each over the l2 eps grid
    if eps_l2 and rows and all(r.get("smoothing") for r in rows) and len(
            {r["smoothing"]["sigma_in"] for r in rows}) == 1:
        def l2_auc(r, key):
            if key == "certified":
                return float(np.mean([r["smoothing"]["certified_accuracy"][str(e)]
                                      for e in eps_l2]))
            return float(np.mean([r["attacks"][f"l2:{e}"]["robust_accuracy"] for e in eps_l2]))

        ends = {}
        for key in ("attacks", "certified"):
            v = compare_to_baseline({s: {r["seed"]: l2_auc(r, key) for r in rows
                                         if r["sigma"] == s} for s in sigmas},
                                    lower_is_better=False, delta=delta, span=1.0)
            who = "attacks' upper" if key == "attacks" else "certificate's lower"
            v["statistic"] = (f"mean over the l2 eps grid of the {who} estimate of robust "
                              "accuracy (higher is better)")
            ends[key] = v
        out["l2_upper_verdict"], out["certified_verdict"] = ends["attacks"], ends["certified"]
        out["bracket_verdict"] = bracket(ends["attacks"], ends["certified"], label="sigma")
    # the Lipschitz claim about the trained networks themselves: the measured Lip of the
    # noise-averaged probabilities at the test points (autograd, common draws) against sigma
    lips = {s: {r["seed"]: r["lipschitz"]["network_autograd"] for r in rows
                if r["sigma"] == s and "lipschitz" in r} for s in sigmas}
    if all(lips.values()):
        lv = compare_to_baseline(lips, lower_is_better=True, delta=DELTA_RELATIVE,
                                 relative=True)
        lv["statistic"] = ("max |grad_x p_c| of the noise-averaged network at the test points "
                           "(lower is better)")
        out["lipschitz_verdict"] = lv
    return out


def summary_table(res: dict) -> list[dict]:
    """Per (norm, sigma, eps): robust accuracy (mean, sd over seeds), the exhaustive ground
    truth, PGD and EOT-PGD alone, the feature-box lower estimate and its violations (NaN where
    a search does not exist for the data)."""
    import numpy as np

    study = res["study"]
    table = []
    for norm, grid in (("linf", study["eps_linf"]), ("l2", study["eps_l2"])):
        for s in res["sigmas"]:
            rs = [r for r in res["rows"] if r["sigma"] == s]
            for e in grid:
                vals = [r["attacks"][f"{norm}:{e}"] for r in rs]
                ra = np.array([v["robust_accuracy"] for v in vals])
                gt = [v["exhaustive"] for v in vals if "exhaustive" in v]
                old = [v["exhaustive_semi_discrete_surrogate"] for v in vals
                       if "exhaustive_semi_discrete_surrogate" in v]
                fb = [v["feature_box"] for v in vals if "feature_box" in v]
                lib = [min(v[k] for k in v if k.startswith("art-")) for v in vals
                       if any(k.startswith("art-") for k in v)]
                cert = [r["smoothing"]["certified_accuracy"].get(str(e)) for r in rs
                        if norm == "l2" and r.get("smoothing")]
                table.append({"norm": norm, "sigma": s, "eps": e, "robust_mean": ra.mean(),
                              "robust_sd": ra.std(ddof=1) if len(ra) > 1 else 0.0,
                              "exhaustive_mean": float(np.mean(gt)) if gt else float("nan"),
                              "pgd_mean": float(np.mean([v["pgd"] for v in vals])),
                              "eot_mean": float(np.mean([v["eot-pgd"] for v in vals])),
                              "surrogate_exhaustive_mean": float(np.mean(old)) if old
                              else float("nan"),
                              "square_mean": float(np.mean([v["square"] for v in vals]))
                              if all("square" in v for v in vals) else float("nan"),
                              "library_mean": float(np.mean(lib)) if lib else float("nan"),
                              "certified_mean": float(np.mean(cert)) if cert and None not in
                              cert else float("nan"),
                              "feature_box_mean": float(np.mean(fb)) if fb else float("nan"),
                              "feature_box_violations": int(sum(
                                  v.get("feature_box_violations", 0) for v in vals))})
    return table


def failed_flags(rows: list[dict]) -> dict[str, str]:
    """flag -> 'k/n runs' for every sanity flag that failed in at least one run."""
    return {k: f"failed in {len(oks) - sum(oks)}/{len(oks)} runs"
            for k, oks in all_flags(rows).items() if not all(oks)}


def all_flags(rows: list[dict]) -> dict[str, list[bool]]:
    """flag -> its outcome in every run (True: passed)."""
    out: dict = {}
    for r in rows:
        for k, ok in r["flags"].items():
            out.setdefault(k, []).append(bool(ok))
    return out


def _by_eps(acc: dict) -> str:
    from validation.doc import num

    return ", ".join(f"eps {e}: {num(a, 2)}" for e, a in acc.items())


def blocks(res: dict, folder: str = "") -> list:
    """The sweep's report content: the robust-accuracy table (and the feature-box bracket
    where there is one), the verdicts, the sanity flags and seed 0's certificates; the figure
    is named relative to the document (``folder``: the sweep's folder inside it)."""
    import numpy as np

    from validation.doc import NA, Figure, items, mean_sd, num, para, strong, table
    from validation.stats.present import verdict_blocks

    tab = summary_table(res)
    has_gt = any(np.isfinite(t["exhaustive_mean"]) for t in tab)
    has_box = any(np.isfinite(t["feature_box_mean"]) for t in tab)
    out = [para("Robust accuracy of the network's expected predictor (softmax averaged over "
                "common noise draws, confirmed with more draws near the decision boundary): "
                "per point, the worst case over every attack and the exhaustive search, each "
                "adversarial point scored once by that predictor; mean ± sd over seeds. "
                "Exhaustive = the same predictor on a regular grid of each eps-ball (spacing "
                "tied to eps)."),
           table(["norm", "sigma", "eps", "robust acc", "exhaustive", "PGD only", "EOT-PGD"],
                 [[t["norm"], str(t["sigma"]), str(t["eps"]),
                   mean_sd(t["robust_mean"], t["robust_sd"]),
                   num(t["exhaustive_mean"]) if has_gt else f"{NA} (input not 2-D)",
                   num(t["pgd_mean"]), num(t["eot_mean"])] for t in tab])]
    has_lib = any(np.isfinite(t["library_mean"]) for t in tab)
    has_cert = any(np.isfinite(t["certified_mean"]) for t in tab)
    if has_lib or has_cert:
        out += [para("Each family of attacks alone (mean over seeds): ours with gradients "
                     "(PGD), ours without (the Square-style search, linf only), the maintained "
                     "library's worst (ART: APGD-CE, APGD-DLR, Square), and the certified "
                     "accuracy of the randomized-smoothing certificate (l2 only; it certifies "
                     "the smoothed network, a lower estimate of that network's robustness)."),
                table(["norm", "sigma", "eps", "ours PGD", "ours gradient-free", "library",
                       "certified"],
                      [[t["norm"], str(t["sigma"]), str(t["eps"]), num(t["pgd_mean"]),
                        num(t["square_mean"]), num(t["library_mean"]),
                        num(t["certified_mean"])] for t in tab])]
    br = [r for r in res["rows"] if r.get("bracket")]
    if br:
        out += [para("The certificate checked where the truth is known (2-D inputs): per test "
                     "point, the certified radius <= the exact robust radius of the smoothed "
                     "network (its class map by Gaussian quadrature on a grid) <= the radius at "
                     "which l2 PGD on the soft smoothed surrogate first changes its class; "
                     "violations counted per run (expected: alpha x points for the first, 0 for "
                     "the second, beyond half a grid cell)."),
                table(["sigma", "seed", "s", "points", "abstain", "mean certified",
                       "mean exact", "cert > exact", "exact > attack", "alpha x points"],
                      [[str(r["sigma"]), str(r["seed"]), num(r["bracket"]["sigma"]),
                        str(r["bracket"]["points"]), str(r["bracket"]["abstain"]),
                        num(r["bracket"]["mean_certified"]), num(r["bracket"]["mean_exact"]),
                        str(r["bracket"]["violations_certified_above_exact"]),
                        str(r["bracket"]["violations_exact_above_attack"]),
                        num(r["bracket"]["expected_certificate_violations"])] for r in br])]
    if not has_gt:
        out.append(para("No exhaustive search in the input space: the input is not 2-D (a grid "
                        "of each eps-ball in 64 dimensions is out of reach); robust accuracy is "
                        "the worst case over the attacks alone, an upper estimate of the true "
                        "robust accuracy."))
    if has_box:
        out += [para("The bracket through the 2-D feature bottleneck: an outer box of the "
                     "encoder's image of each ball (interval bounds intersected with a linear "
                     "relaxation of tanh; docs/theory.md section 6), searched on a grid by the "
                     "same expected predictor, gives a ", strong("lower"), " estimate; the "
                     "truth lies between it and the attacks' upper estimate. Violations = "
                     "points the box search calls robust but an attack broke (grid resolution; "
                     "the flags require few)."),
                table(["norm", "sigma", "eps", "lower (feature box)", "upper (attacks)",
                       "width", "violations"],
                      [[t["norm"], str(t["sigma"]), str(t["eps"]), num(t["feature_box_mean"]),
                        num(t["robust_mean"]), num(t["robust_mean"] - t["feature_box_mean"]),
                        str(t["feature_box_violations"])] for t in tab])]
    out += verdict_blocks(res["verdict"], "diffusion improves robustness")
    if "lower_estimate_verdict" in res:
        out += verdict_blocks(res["lower_estimate_verdict"], "diffusion improves robustness, "
                              "on the lower estimate through the feature bottleneck")
    if "certified_verdict" in res:
        out += verdict_blocks(res["l2_upper_verdict"], "diffusion improves l2 robustness, on "
                              "the attacks' upper estimate")
        out += verdict_blocks(res["certified_verdict"], "diffusion improves l2 robustness, on "
                              "the certified lower estimate (smoothed networks)")
        out.append(para(f"Bracket: {res['bracket_verdict']['summary']}."))
    if "lipschitz_verdict" in res:
        out += verdict_blocks(res["lipschitz_verdict"], "diffusion lowers the Lipschitz "
                              "constant of the trained networks")
    flags = all_flags(res["rows"])
    out += [para("Sanity flags (all runs):"),
            items(*[f"{'PASS' if all(oks) else 'FAIL'}: {k} ({sum(oks)}/{len(oks)} runs)"
                    for k, oks in flags.items()])]
    seed0 = []
    for r in res["rows"]:
        if r["seed"] != 0:
            continue
        lip, sm, lin = r.get("lipschitz", {}), r.get("smoothing"), r.get("linear_test_acc")
        base = ("" if lin is None else f" (linear baseline {num(lin)}"
                + ("" if r["beats_linear"] else ", NOT beaten: a (nearly) linear model") + ")")
        text = (f"sigma {r['sigma']}: clean {mean_sd(r['clean_accuracy'], r['clean_accuracy_se'])}"
                f"{base}, flips {num(r['flip_fraction'])}; Lip u(., T): PDE grid "
                f"{num(lip.get('pde_grid'))}, autograd {num(lip.get('network_autograd'))}, heat "
                f"bound {num(lip.get('heat_bound'))} (v != 0: reference only)")
        if sm:
            text += (f"; smoothing (sigma_in {num(sm['sigma_in'])}) certified l2 accuracy "
                     f"(Clopper-Pearson, Cohen radius) {_by_eps(sm['certified_accuracy'])}; "
                     "heat-Lipschitz certificate "
                     f"{_by_eps(sm['heat_lipschitz_certified_accuracy'])}; abstain "
                     f"{num(sm['abstain_fraction'], 2)}")
        seed0.append(text)
    out += [para("Clean accuracy (± its Monte Carlo standard error), certified and measured "
                 "Lipschitz constants (seed 0):"), items(*seed0),
            Figure(f"{folder}robustness.png", "robust accuracy against eps (mean ± sd over "
                   "seeds) per sigma, with the searches that bound it from below where they "
                   "exist")]
    return out


def figure(res: dict):
    """Robust accuracy against eps, one panel per norm; the exhaustive ground truth (dotted)
    and the feature-box lower estimate (dashed) drawn and named only where they exist."""
    import matplotlib.pyplot as plt
    import numpy as np
    from matplotlib.lines import Line2D

    tab = summary_table(res)
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.4), layout="constrained")
    extra = []
    for ax, norm in zip(axes, ("linf", "l2"), strict=True):
        for i, s in enumerate(res["sigmas"]):
            t = [r for r in tab if r["norm"] == norm and r["sigma"] == s]
            e = [r["eps"] for r in t]
            colour = f"C{i}"
            ax.errorbar(e, [r["robust_mean"] for r in t], yerr=[r["robust_sd"] for r in t],
                        marker="o", capsize=3, color=colour, label=f"sigma {s} (attacks)")
            for key, style, what in (("exhaustive_mean", ":", "exhaustive ground truth"),
                                     ("feature_box_mean", "--", "feature-box lower estimate")):
                ys = np.array([r[key] for r in t])
                if np.isfinite(ys).any():
                    ax.plot(e, ys, style, color=colour, lw=1.2)
                    if what not in extra:
                        extra.append(what)
        ax.set(xlabel=f"eps ({norm})", ylabel="robust accuracy", title=norm, ylim=(0, 1.02))
    handles, labels = axes[0].get_legend_handles_labels()
    for what in extra:
        handles.append(Line2D([], [], color="k", ls=":" if "exhaustive" in what else "--"))
        labels.append(what)
    axes[1].legend(handles, labels, fontsize=8, loc="upper right")
    fig.suptitle(res.get("title", "robustness"), fontsize=10)
    return fig


def write_outputs(res: dict, out: str | Path, title: str) -> list[str]:
    """robustness.csv, robustness.md (tables, verdict, flags, certificates) and
    robustness.png in ``out``; returns the file names (robustness.json is the caller's)."""
    import csv
    import io

    from validation.doc import Heading, to_markdown
    from validation.doc.figures import save_figure
    from validation.store.io import atomic_write_text

    out = Path(out)
    table = summary_table(res)
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(table[0]))
    w.writeheader()
    w.writerows(table)
    atomic_write_text(out / "robustness.csv", buf.getvalue())
    atomic_write_text(out / "robustness.md", to_markdown([Heading(title, 1), *blocks(res)]))
    save_figure(figure(res | {"title": title}), out / "robustness.png")
    return ["robustness.csv", "robustness.md", "robustness.png", "robustness.json"]
