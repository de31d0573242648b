r"""``cdverify check``: the paper's claims on a network someone would train, decided by paired
seeds.

Design: for seed s every setting (plain, the paper's method at each sigma, EnResNet-style noise,
dropout) shares the data split, the initial weights (the network is built with seed s before
the technique is attached), the shuffling order and the evaluation points; the settings differ
only in the technique. Each claim's per-seed values go to :func:`validation.stats.paired.
compare_to_baseline` with plain as the baseline: paired t-tests (Holm over settings), 95%
intervals, TOST at the claim's smallest effect of interest, minimum detectable effect and seeds
needed.

Anchors first: logistic regression on the same split (MNIST-1D: within 2 points of the published
32%) and the plain network against its anchor (MNIST-1D: the published CNN's 94%; other data:
the linear baseline plus its margin). Every verdict row says whether its networks met the anchor.

Trained networks and their measurements are cached under OUT/models/ (checkpoints resume), so an
interrupted check continues where it stopped.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from validation.nets.adapter import (
    AdapterError,
    ResidualStage,
    StageSpec,
    forked,
    random_at_evaluation,
    refuse_input_changes,
)
from validation.nets.baseline import MARGIN
from validation.nets.benchmark_data import MNIST1D_PUBLISHED, load_benchmark
from validation.nets.fit import FitConfig, fit
from validation.nets.techniques import refuse_recomputed_stage, refuse_trainable_weights
from validation.stats.bracket import CERTIFIED_FLOOR, bracket
from validation.stats.paired import compare_to_baseline
from validation.store.io import loads, write_json
from validation.store.locks import say
from validation.store.seal import seal_problem, write_sealed_json
from validation.store.workers import one_torch_thread

from . import measure
from .config import DELTA_LIPSCHITZ, DELTA_ROBUST, DELTA_TRAINING, CheckConfig, Setting

#: bump when a measurement or its verdict changes (2: the Feynman-Kac agreement's local
#: orders; 3: the measured test points, a fixed permutation's first n; 4: the agreement's
#: levels checked by their noiseless flows): cached measurements of an older version are
#: taken again, the networks kept
MEASURE_VERSION = 4

#: how far below the published logistic-regression accuracy the reproduced one may fall
LINEAR_TOLERANCE = 0.02

RADEMACHER_SKIP = ("skipped: the lower estimate by ascent fits the whole class of this "
                   "architecture to random sign labels of the training points, one full "
                   "training per sign draw (at least 20 draws per model for a 10% standard "
                   "error), which costs 20 x the training time of every model; not affordable "
                   "in a check, and the Rademacher study (cdverify rademacher) covers the "
                   "2-D flows where it is")


def build(cfg: CheckConfig, data, seed: int) -> ResidualStage:
    """The network of ``seed`` (built-in factory or the user's) through the adapter."""
    if cfg.model in ("resnet1d", "resnet2d") or ":" not in cfg.model:
        from validation.nets.convnets import build_network, conv_stage

        return conv_stage(build_network(cfg.model, data, blocks=cfg.blocks, width=cfg.width,
                                        t_end=cfg.t_end, seed=seed))
    from validation.nets.user import seeded_model

    # a copy: a forward that changes its input in place is refused below, not let loose on
    # the data set's own array
    probe = torch.as_tensor(data.x_train[:2]).clone()

    def refused(exc: Exception) -> AdapterError:
        return AdapterError(f"--model {cfg.model}: its forward refuses {data.name} inputs of "
                            f"shape {tuple(probe.shape)}: {type(exc).__name__}: {exc}")

    try:  # lazy modules draw at their first call: seeded too
        model = seeded_model(cfg.model, seed, probe)
    except AdapterError:
        raise
    except Exception as exc:
        raise refused(exc) from None
    model = model.float()  # (CheckConfig has refused a factory without a stage)
    stage = ResidualStage(model, StageSpec(cfg.stage, cfg.t_end))
    try:
        with torch.no_grad():
            refuse_input_changes(model.eval(), probe)
            out = model.eval()(probe)
    except AdapterError:
        raise
    except Exception as exc:
        raise refused(exc) from None
    if out.shape != (2, data.n_classes):
        raise AdapterError(f"--model {cfg.model}: output of shape {tuple(out.shape)} on 2 "
                           f"inputs; {data.name} needs (2, {data.n_classes}) logits")
    refuse_probabilities(cfg.model, out)
    refuse_detached_input(cfg, model, probe)
    # every measure is per point (accuracy, attacks, certificates, dp/dx by the sum over a
    # batch): a deployed output that depends on the rest of its batch makes them depend on
    # how points are batched, and the Lipschitz rows silently wrong. (A model random at
    # evaluation of its own cannot be told apart this way.) Before the probe, whose reading
    # of such a stage would warn first.
    with torch.no_grad(), torch.random.fork_rng(devices=[]):
        alone = model(probe[:1])
    change = float((alone[0] - out[0]).abs().max())
    if not random_at_evaluation(model, probe) and \
            change > 1e-4 * (1.0 + float(out[0].abs().max())):
        raise AdapterError(
            f"--model {cfg.model}: in evaluation mode its output for a point depends on the "
            f"other points of the batch (it changes by {change:.3g} between a batch of 1 and "
            "one of 2): batch statistics at evaluation (e.g. BatchNorm with "
            "track_running_stats=False); the check measures per point: use running statistics")
    stage.probe(probe)  # the blocks chained, the feature shape kept: before any training
    trained = [s.technique for s in cfg.settings if s.strength > 0]
    refuse_recomputed_stage(stage, trained, probe)
    refuse_trainable_weights(stage, trained, probe)
    return stage


def refuse_probabilities(model: str, out: torch.Tensor) -> None:
    """Refuse outputs that are probabilities (non-negative rows summing to 1: a softmax in
    the forward). Training, the attacks and the deployed predictor take them for logits:
    cross-entropy then softmaxes them again, its gradients shrink by the softmax's slope, and
    gradient attacks that fail for that reason would count as robustness. Log-probabilities
    serve (softmax(log p) = p)."""
    rows = out.detach().double().sum(1)
    if bool((out >= 0).all()) and bool(torch.allclose(rows, torch.ones_like(rows), atol=1e-5)):
        raise AdapterError(
            f"--model {model}: its outputs are probabilities (non-negative, each row sums to "
            f"1 on the probe: {', '.join(f'{v:.3g}' for v in out[0].tolist()[:3])}, ...); "
            "the check trains and attacks through cross-entropy on logits: return the scores "
            "before the softmax (log_softmax also serves)")


#: the claims that differentiate the logits with respect to the input (attacks, dp/dx)
INPUT_GRADIENT_CLAIMS = ("robustness", "lipschitz")


def refuse_detached_input(cfg: CheckConfig, model: torch.nn.Module, probe: torch.Tensor
                          ) -> None:
    """Refuse, before any training, a forward whose logits do not reach the input through
    autograd (a no_grad block or a detach in front of the stage) where a claim needs input
    gradients: the attacks failed after training with torch's 'not used in the graph'."""
    need = [c for c in cfg.claims if c in INPUT_GRADIENT_CLAIMS]
    if not need or not probe.is_floating_point():
        return
    x = probe.detach().clone().requires_grad_(True)
    with torch.enable_grad(), forked(x):
        out = model.eval()(x)
        grad = (torch.autograd.grad(out.sum(), x, allow_unused=True)[0]
                if out.requires_grad else None)
    if grad is None:
        raise AdapterError(
            f"--model {cfg.model}: its logits do not depend on the input through autograd (a "
            "torch.no_grad() block or a .detach() before the stage?), and the claims "
            f"{', '.join(need)} differentiate them with respect to the input: compute the "
            "forward with gradients, or leave those claims out (--claims)")


def fit_config(cfg: CheckConfig, setting: Setting, seed: int) -> FitConfig:
    return FitConfig(technique=setting.technique, strength=setting.strength, epochs=cfg.epochs,
                     lr=cfg.lr, batch_size=cfg.batch_size, weight_decay=cfg.weight_decay,
                     augment=cfg.augmentation, seed=seed, device=cfg.device)


#: the fields of a CheckConfig that make the network (with its FitConfig); the others (attack
#: points, certificates, the agreement's levels, ...) only measure it
NETWORK_FIELDS = ("model", "stage", "data", "blocks", "width", "t_end")


def _folder(models: Path, setting: Setting, seed: int, key: dict) -> Path:
    # the training key's hash in the name: a shared models folder never resumes another
    # network's run, and a change of what is measured keeps the network
    from validation.store.cache import config_key

    label = setting.label.replace(" ", "_").replace("=", "")
    return models / f"{label}-seed{seed}-{config_key(key)[:8]}"


def run_model(cfg: CheckConfig, data, setting: Setting, seed: int, models: Path,
              progress: bool = False, stage: ResidualStage | None = None) -> dict:
    """Train (or resume) one network and measure every requested claim on it (cached under
    ``models``), on one torch thread: a conv network's reductions round differently with the
    thread count, so its weights and numbers would depend on the machine's cores and on where
    it ran. ``stage``: the untrained network of ``seed`` when the caller has built it."""
    fcfg = fit_config(cfg, setting, seed)
    # through JSON, so that it compares equal to the key read back (tuples become lists);
    # torch_threads: every network computes on one torch thread (see run_check)
    key = json.loads(json.dumps({"check": cfg.as_dict() | {"settings": None, "seeds": None,
                                                          "workers": None},
                                 "fit": asdict(fcfg), "torch_threads": 1}))
    train_key = {"network": {k: key["check"][k] for k in NETWORK_FIELDS}, "fit": key["fit"],
                 "torch_threads": 1}
    folder = _folder(Path(models), setting, seed, train_key)
    done = folder / "measure.json"
    if done.is_file():
        blob = loads(done.read_text())
        problem = seal_problem(blob)
        if blob.get("key") == key and problem is None:
            if blob.get("measure_version", 1) == MEASURE_VERSION:
                return blob["result"]
            # measured under an older rule: the trained network is kept (its checkpoint
            # resumes at its last epoch), the measurements are taken again
            say(f"cache: {done} was measured by an older version of the check "
                f"({blob.get('measure_version', 1)}, now {MEASURE_VERSION}); measuring again")
        elif problem is None:  # the same network (the folder is named by the training key)
            say(f"cache: {done} was measured with other options; measuring again, the trained "
                "network kept")
        if problem is not None:  # an edited measurement or checkpoint: measure (and train) anew
            say(f"cache: {done} {problem}; training and measuring it again")
            done.unlink(missing_ok=True)
            (folder / "checkpoint.pt").unlink(missing_ok=True)
    with one_torch_thread():
        return _train_and_measure(cfg, data, setting, seed, fcfg, key, train_key, folder,
                                  progress, stage)


def _train_and_measure(cfg: CheckConfig, data, setting: Setting, seed: int, fcfg: FitConfig,
                       key: dict, train_key: dict, folder: Path, progress: bool,
                       stage: ResidualStage | None) -> dict:
    done = folder / "measure.json"
    stage = stage if stage is not None else build(cfg, data, seed)
    t0 = time.perf_counter()
    history = fit(stage, data.x_train, data.y_train, fcfg, checkpoint=folder / "checkpoint.pt",
                  progress=progress)
    # the epochs' own times, kept in the checkpoint: a network resumed at its last epoch, or
    # after an interrupt, reports all of its training, not the resumed part
    train_s = float(sum(history["seconds"]))
    stage.model.to("cpu").eval()
    res: dict = {"setting": setting.label, "technique": setting.technique,
                 "strength": setting.strength, "seed": seed, "train_seconds": train_s,
                 "epoch_seconds": float(np.mean(history["seconds"])),
                 "train_loss": history["train_loss"][-1]}
    res["accuracy"] = measure.accuracy(stage, data, setting, cfg, seed)
    if "robustness" in cfg.claims:
        res["robustness"] = measure.robustness(stage, data, setting, cfg, seed)
    if "lipschitz" in cfg.claims:
        res["lipschitz"] = measure.lipschitz(stage, data, setting, cfg, seed)
    if "agreement" in cfg.claims:
        res["agreement"] = measure.agreement(stage, data, setting, cfg, seed)
    res["seconds"] = time.perf_counter() - t0
    write_sealed_json(done, {"key": key, "train_key": train_key,
                             "measure_version": MEASURE_VERSION, "result": res},
                      config=key, seed=seed,
                      uses={"the checkpoint": folder / "checkpoint.pt"})
    return res


def anchors(cfg: CheckConfig, data, runs: list[dict]) -> dict:
    """The anchor table: logistic regression on the same split and the plain network."""
    from sklearn.linear_model import LogisticRegression

    flat = lambda a: a.reshape(len(a), -1)  # noqa: E731
    clf = LogisticRegression(max_iter=3000).fit(flat(data.x_train), data.y_train)
    linear = float(clf.score(flat(data.x_test), data.y_test))
    plain = [r["accuracy"] for r in runs if r["technique"] == "plain"]
    rows = []
    if data.name == "mnist1d":
        pub = MNIST1D_PUBLISHED["logistic regression"]
        rows.append({"model": "logistic regression", "measured": linear, "anchor": pub,
                     "source": "Greydanus 2020", "met": abs(linear - pub) <= LINEAR_TOLERANCE,
                     "rule": f"within {LINEAR_TOLERANCE:g} of the published"})
        target, source, rule = MNIST1D_PUBLISHED["CNN"], "Greydanus 2020 (CNN)", \
            "at or above the published CNN"
    else:
        rows.append({"model": "logistic regression", "measured": linear, "anchor": None,
                     "source": "same split (no published number on it)", "met": True,
                     "rule": "measured"})
        # capped at 1: where the linear model is (nearly) perfect no network can beat it by
        # the margin (an anchor of 1.02 was missed by every network)
        target, source, rule = min(linear + MARGIN, 1.0), "logistic regression + margin", \
            f"at or above the linear baseline + {MARGIN:g} (at most 1)"
    mean_plain = float(np.mean(plain)) if plain else float("nan")
    seeds = f"{len(plain)} seed{'s' * (len(plain) != 1)}"
    rows.append({"model": f"{cfg.model} plain (mean of {seeds}, lowest "
                          f"{min(plain, default=float('nan')):.3f})",
                 "measured": mean_plain, "anchor": target, "source": source,
                 "met": bool(mean_plain >= target), "rule": rule})
    return {"rows": rows, "network_anchor": target, "linear": linear,
            "met": all(r["met"] for r in rows)}


def _claim_values(runs: list[dict], settings, pick) -> dict:
    by: dict = {}
    for s in settings:
        vals = {r["seed"]: pick(r) for r in runs if r["setting"] == s.label}
        vals = {k: v for k, v in vals.items() if v is not None}
        if vals:
            by[s.label] = vals
    return by


def verdicts(cfg: CheckConfig, runs: list[dict], anchor: dict, *,
             training_delta: float = DELTA_TRAINING) -> dict:
    """Each claim's paired verdict, with the anchor status of every row (``training_delta``:
    the training claim's smallest effect of interest)."""
    specs = {"training": (lambda r: r["accuracy"], False, training_delta, False,
                          "clean test accuracy of the deployed predictor"),
             "robustness": (lambda r: r.get("robustness", {}).get("robust_linf"), False,
                            DELTA_ROBUST, False, "robust accuracy under every linf attack "
                            f"at eps = {cfg.radii[0]:g} (upper estimate)"),
             "robustness-l2": (lambda r: r.get("robustness", {}).get("robust_l2"), False,
                               DELTA_ROBUST, False, "robust accuracy under every l2 attack at "
                               f"eps = {cfg.radii[1]:g} (upper estimate, deployed network)"),
             "robustness-certified": (
                 lambda r: (r.get("robustness", {}).get("certified") or {}).get("at_eps_l2"),
                 False, DELTA_ROBUST, False, f"certified l2 accuracy at eps = {cfg.radii[1]:g} "
                 f"of the smoothed network (s = {cfg.smoothing:g}; lower estimate)"),
             "lipschitz": (lambda r: r.get("lipschitz", {}).get("mean"), True, DELTA_LIPSCHITZ,
                           True, "mean spectral norm of dp/dx at test points")}
    out = {}
    acc = {s.label: np.mean([r["accuracy"] for r in runs if r["setting"] == s.label])
           for s in cfg.settings}
    for claim, (pick, lower, delta, relative, what) in specs.items():
        if claim.split("-")[0] not in cfg.claims:
            continue
        if claim == "robustness-certified" and cfg.certify_points == 0:
            continue
        by = _claim_values(runs, cfg.settings, pick)
        if "plain" not in by or len(by) < 2:
            out[claim] = {"verdict": "not run", "summary": "no paired values", "rows": []}
            continue
        v = compare_to_baseline(by, lower_is_better=lower, delta=delta, relative=relative,
                                label="setting", baseline="plain",
                                span=None if claim == "lipschitz" else 1.0)  # accuracies
        for row in v["rows"]:
            met = acc[row["setting"]] >= anchor["network_anchor"]
            row["anchor"] = "met" if met else (
                f"missed: accuracy {acc[row['setting']]:.3f} < {anchor['network_anchor']:.3f}")
        if not anchor["met"]:
            v["summary"] += "; the plain network missed its anchor: decided on networks below " \
                            "the published baseline"
        if claim == "robustness-certified":
            low = [r["setting"] for r in v["rows"]
                   if max(r["mean"], r["baseline"]) < CERTIFIED_FLOOR]
            if low:
                v["summary"] += (f"; at its floor (certified accuracy < {CERTIFIED_FLOOR:g} for "
                                 f"both networks) for {', '.join(low)}: no evidence either way")
        v["measure"] = what
        out[claim] = v
    if "robustness-l2" in out and "robustness-certified" in out:
        out["robustness-bracket"] = bracket(out["robustness-l2"], out["robustness-certified"])
    if "rademacher" in cfg.claims:
        out["rademacher"] = {"verdict": "skipped", "summary": RADEMACHER_SKIP, "rows": []}
    return out


def agreement_table(runs: list[dict]) -> list[dict]:
    """Per paper's-method setting: gaps, orders, the seeds whose levels converge and the
    verdicts over seeds."""
    from validation.studies.feynman_kac import levels_converge

    rows = []
    for label in dict.fromkeys(r["setting"] for r in runs if r.get("agreement")):
        ag = [r["agreement"] for r in runs if r["setting"] == label and r.get("agreement")]
        rows.append({"setting": label, "seeds": len(ag),
                     "gap_mean": float(np.mean([a["gap_network_pde"] for a in ag])),
                     "gap_se_mean": float(np.mean([a["gap_network_pde_stderr"] for a in ag])),
                     "order_median": float(np.nanmedian([a["order"] for a in ag])),
                     "levels_converge": sum(levels_converge(a) for a in ag),
                     "finest": sorted({a["substeps"][-1] for a in ag if "substeps" in a}),
                     "holds": sum(a["status"] == "holds" for a in ag),
                     "fails": sum(a["status"] == "fails" for a in ag),
                     "inconclusive": sum(a["status"] == "inconclusive" for a in ag)})
    return rows


#: rough relative cost of a network by technique (measured per network on MNIST-1D: plain
#: 28 s, the paper's method 66-72 s, dropout 34 s): the costliest start first
JOB_COST = {"paper": 2.5, "enresnet": 2.5, "dropout": 1.2}


@lru_cache(maxsize=2)
def _benchmark(name: str):
    return load_benchmark(name)


def model_job(cfg: CheckConfig, data, setting: Setting, seed: int, models: str) -> dict:
    """One network of run_check on a worker: ``data`` or the benchmark ``cfg.data`` (loaded
    once per process)."""
    return run_model(cfg, data if data is not None else _benchmark(cfg.data), setting, seed,
                     Path(models))


def run_check(cfg: CheckConfig, out: str | Path, *, progress: bool = True, data=None,
              models: str | Path | None = None) -> dict:
    """Every model of every (setting, seed), the anchors, the verdicts; check.json written
    atomically with config, seed and versions (and rows.csv, summary.md by the presenter).
    Trained models and their measurements are cached under ``models`` (default OUT/models)."""
    out = Path(out)
    models = Path(models) if models is not None else out / "models"
    given = data
    # through the per-process cache: a caller that takes jobs reads it, not a second copy
    data = data if data is not None else _benchmark(cfg.data)
    # a model that refuses the data stops here, before any training; the first job trains it
    first = build(cfg, data, 0)
    jobs = [(s, seed) for seed in range(cfg.seeds) for s in cfg.settings]
    t0 = time.perf_counter()
    if cfg.workers > 1 and len(jobs) > 1:
        from validation.store.workers import map_jobs

        # a worker loads the benchmark by name unless the caller gave its own data
        runs = map_jobs(model_job, [(cfg, given, s, seed, str(models)) for s, seed in jobs],
                        workers=cfg.workers, progress=progress, desc="check networks",
                        cost=lambda cfg, d, s, seed, m: JOB_COST.get(s.technique, 1.0))
    else:
        from tqdm import tqdm

        runs = [run_model(cfg, data, s, seed, models, progress=progress,
                          stage=first if i == 0 else None)
                for i, (s, seed) in enumerate(tqdm(jobs, desc="check", disable=not progress))]
    built = stage_summary(first, data, cfg.model if cfg.stage else None)
    result = assemble(cfg, data, runs, time.perf_counter() - t0, stage=built)
    write_json(out / "check.json", result, config=cfg.as_dict(), seed=f"0..{cfg.seeds - 1}")
    from .present import write_outputs

    write_outputs(result, cfg, out)
    return result


def same_initialisation(model: str, x: torch.Tensor) -> bool:
    """Whether the user's factory ``model`` returns the same weights under two seeds (it
    sets its own seed, say): its paired seeds then share one initialisation, and their
    spread leaves the initialisation's out. Lazy modules get their weights from a pass on
    x, as in build. The global generator is left as it was."""
    from validation.nets.user import seeded_model

    a, b = (seeded_model(model, seed, x).state_dict() for seed in (0, 1))
    return a.keys() == b.keys() and all(
        torch.equal(a[k], b[k]) for k in a if a[k].is_floating_point())


def stage_summary(stage: ResidualStage, data, model: str | None = None) -> dict:
    """The residual stage as built (a user's model has its own depth and width, not the
    built-in models' --blocks and --width): its path, blocks (and distinct modules: fewer
    where weights are tied across steps), feature shape, how its blocks are read, the blocks
    random in training and the dropout modules among them (live in every setting), whether
    the forward is random at evaluation and, given the user's factory ``model``, whether it
    ignores the seed (same_initialisation)."""
    x = torch.as_tensor(data.x_train[:2])
    with torch.no_grad():
        z = stage.features(x)
    own = {"same_init_every_seed": same_initialisation(model, x)} if model else {}
    return own | {"path": stage.spec.path, "blocks": stage.n_blocks,
            "random_in_training": stage.random_in_training(x),
            "random_at_eval": bool(stage.random_at_eval),
            "feature_shape": list(z.shape[1:]), "reading": stage.spec.reading,
            "scale": stage.spec.scale, "scales": list(stage.spec.scales),
            "distinct_blocks": len(stage.distinct), "plain_layers": stage.plain_layers,
            "bound": stage.bound_text,
            "dropout_in_training": stage.dropout_in_training,
            "dropout_blocks": stage.dropout_blocks}


def assemble(cfg: CheckConfig, data, runs: list[dict], seconds: float, *,
             training_delta: float = DELTA_TRAINING, stage: dict | None = None) -> dict:
    """A check's result from its per-model runs: anchors, verdicts, the agreement table,
    suspect rows, the catalogue's generators and the costs (what check.json holds);
    ``stage``: the stage as built (stage_summary)."""
    anchor = anchors(cfg, data, runs)
    return {"data": data.name, "model": cfg.model, "config": cfg.as_dict(),
            **({"stage": stage} if stage is not None else {}),
            "radii": list(cfg.radii), "smoothing": cfg.smoothing,
            "shape": list(data.shape), "n_train": len(data.x_train),
            "n_test": len(data.x_test), "anchors": anchor,
            "verdicts": verdicts(cfg, runs, anchor, training_delta=training_delta),
            "agreement": agreement_table(runs),
            "masking_flags": [f"{r['setting']} seed {r['seed']}: {', '.join(flags)}"
                              for r in runs
                              if (flags := r.get("robustness", {}).get("suspect"))],
            "catalogue": {s.label: _generator(s) for s in cfg.settings},
            "costs": _costs(runs), "runs": runs, "seconds": seconds}


def _generator(s: Setting) -> str:
    from validation.nets.techniques import technique

    return technique(s.technique).generator_text(s.strength)


def _costs(runs: list[dict]) -> dict:
    by: dict = {}
    for r in runs:
        by.setdefault(r["setting"], []).append(r)
    return {k: {"train_seconds": float(np.mean([r["train_seconds"] for r in v])),
                "epoch_seconds": float(np.mean([r["epoch_seconds"] for r in v])),
                "total_seconds": float(np.mean([r["seconds"] for r in v]))}
            for k, v in by.items()}
