r"""Sweeps: a grid (job kind x data x sigma x seed x blocks) of agreement / robustness /
Rademacher / check jobs, run by local processes or on an existing Dask distributed cluster,
aggregated into mean +- sd tables and plots. Jobs are idempotent: each result is stored under
the hash of its config, so rerunning a sweep skips finished jobs.
"""

from __future__ import annotations

import itertools
import os
import tomllib
from pathlib import Path

from validation.studies import REGISTRY

#: the job kinds: every registered study with a sweep job, in the registry's order
KINDS = tuple(name for name, st in REGISTRY.items() if st.sweep_defaults is not None)

#: the keys of each kind's TOML table and their defaults (each study's sweep_defaults)
DEFAULTS = {k: REGISTRY[k].sweep_defaults for k in KINDS}


class SweepError(ValueError):
    """Bad sweep configuration."""


SWEEP_KEYS = ("jobs", "data", "sigma", "seed", "blocks", "epochs")


def _is_int(x) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _is_number(x) -> bool:
    import math

    return (isinstance(x, int | float) and not isinstance(x, bool)) and math.isfinite(x)


def _check_value(where: str, key: str, value, default) -> None:
    """value must have the default's type: an integer >= 1, a number > 0 (a float default),
    a list of numbers >= 0, or a string."""
    if isinstance(default, str):
        if not isinstance(value, str):
            raise SweepError(f"{where} {key} = {value!r}: must be a string")
    elif isinstance(default, float):
        if not _is_number(value) or not value > 0:
            raise SweepError(f"{where} {key} = {value!r}: must be a finite number > 0")
    elif isinstance(default, list):
        if not isinstance(value, list) or not value or not all(
                _is_number(v) and v >= 0 for v in value):
            raise SweepError(f"{where} {key} = {value!r}: must be a non-empty list of finite "
                             "numbers >= 0")
    elif not _is_int(value) or value < 1:
        raise SweepError(f"{where} {key} = {value!r}: must be an integer >= 1")


def load_config(path: str | Path) -> dict:
    """Read and validate a sweep TOML file against its schema: unknown tables and keys, and
    values of the wrong type or range, are refused with the key's name."""
    from validation.nets.benchmark_data import is_benchmark
    from validation.nets.data import MAX_SIGMA, NAMES

    try:
        doc = tomllib.loads(Path(path).read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise SweepError(f"cannot read sweep config {path}: {exc}") from exc
    unknown = [k for k in doc if k != "sweep" and k not in KINDS]
    if unknown:
        raise SweepError(f"{path}: unknown table(s) {unknown}; valid: sweep, {', '.join(KINDS)}")
    sw = doc.get("sweep")
    if sw is None:
        raise SweepError(f"{path}: a [sweep] table is required")
    unknown = [k for k in sw if k not in SWEEP_KEYS]
    if unknown:
        raise SweepError(f"{path}: unknown key(s) {unknown} in [sweep]; valid: "
                         f"{', '.join(SWEEP_KEYS)}")
    bad = [k for k in sw.get("jobs", []) if k not in KINDS]
    if bad or not sw.get("jobs"):
        raise SweepError(f"{path}: jobs {sw.get('jobs')} must be a non-empty list of "
                         f"{', '.join(KINDS)}")
    for key in ("data", "sigma", "seed"):
        if not isinstance(sw.get(key), list) or not sw[key]:
            raise SweepError(f"{path}: [sweep] {key} must be a non-empty list")
    bad = [d for d in sw["data"] if not isinstance(d, str) or not (d in NAMES or is_benchmark(d))]
    if bad:
        raise SweepError(f"{path}: [sweep] data {bad} unknown; valid: {', '.join(NAMES)}, "
                         "mnist1d, digits-img, cifar10:ROOT, image-folder:ROOT (check jobs)")
    if not all(_is_number(v) and 0 <= v <= MAX_SIGMA for v in sw["sigma"]):
        raise SweepError(f"{path}: [sweep] sigma = {sw['sigma']!r}: must be finite numbers in "
                         f"[0, {MAX_SIGMA:g}] (beyond it the output is the noise)")
    deciding = [k for k in sw["jobs"] if REGISTRY[k].sweep_decides]
    if deciding and 0 not in sw["sigma"]:
        raise SweepError(f"{path}: [sweep] sigma = {sw['sigma']!r} has no 0: the "
                         f"{', '.join(deciding)} jobs' verdicts pair each sigma with sigma = 0 "
                         "(the baseline); add 0")
    if not all(_is_int(v) and v >= 0 for v in sw["seed"]):
        raise SweepError(f"{path}: [sweep] seed = {sw['seed']!r}: must be integers >= 0")
    blocks = sw.get("blocks", [10])
    if not isinstance(blocks, list) or not blocks or not all(_is_int(v) and v >= 1
                                                             for v in blocks):
        raise SweepError(f"{path}: [sweep] blocks = {blocks!r}: must be integers >= 1")
    _check_value(f"{path}: [sweep]", "epochs", sw.get("epochs", 100), 100)
    for key, values in (("jobs", sw["jobs"]), ("data", sw["data"]), ("sigma", sw["sigma"]),
                        ("seed", sw["seed"]), ("blocks", blocks)):
        repeated = sorted({v for v in values if list(values).count(v) > 1}, key=str)
        if repeated:  # one job counted twice: n = 2 with sd 0 in the paired verdict
            raise SweepError(f"{path}: [sweep] {key} = {values!r} repeats {repeated}; give "
                             "each value once")
    for kind in KINDS:
        table = doc.get(kind, {})
        unknown = [k for k in table if k not in DEFAULTS[kind]]
        if unknown:
            raise SweepError(f"{path}: unknown key(s) {unknown} in [{kind}]; valid: "
                             f"{', '.join(DEFAULTS[kind])}")
        for key, value in table.items():
            _check_value(f"{path}: [{kind}]", key, value, DEFAULTS[kind][key])
    params = {k: {**DEFAULTS[k], **doc.get(k, {})} for k in KINDS}
    for kind in sw["jobs"]:  # what the studies' own configs refuse, refused before any job
        off = [d for d in sw["data"] if not REGISTRY[kind].sweep_data(d)]
        if off:
            raise SweepError(f"{path}: [sweep] data {off} cannot run {kind} jobs; "
                             + ("check jobs run on mnist1d, digits-img, cifar10:ROOT or "
                                "image-folder:ROOT" if kind == "check" else
                                f"{kind} jobs run on {', '.join(NAMES)}"))
        for data in sw["data"]:
            probe = {"kind": kind, "data": data, "sigma": float(max(sw["sigma"])),
                     "seed": 0, "blocks": blocks[0], "epochs": int(sw.get("epochs", 100)),
                     "params": params[kind]}
            try:
                REGISTRY[kind].sweep_check(probe)
            except ValueError as exc:
                raise SweepError(f"{path}: [{kind}]: {exc}") from None
    return {"jobs": sw["jobs"], "data": sw["data"], "sigma": [float(s) for s in sw["sigma"]],
            "seed": [int(s) for s in sw["seed"]], "blocks": blocks,
            "epochs": int(sw.get("epochs", 100)), "params": params}


def expand(cfg: dict) -> list[dict]:
    """The job list: one dict per grid point (JSON-serialisable, hashable by content)."""
    # delta decides the verdict only: kept out of the job (and its hash), read from cfg
    return [{"kind": k, "data": d, "sigma": s, "seed": sd, "blocks": b, "epochs": cfg["epochs"],
             "params": {n: v for n, v in cfg["params"][k].items() if n != "delta"}}
            for k, d, s, sd, b in itertools.product(cfg["jobs"], cfg["data"], cfg["sigma"],
                                                    cfg["seed"], cfg["blocks"])]


def sweep_verdicts(results: list[dict], cfg: dict) -> list[dict]:
    """The paired verdicts of each (kind, data, blocks) group of the jobs whose study decides
    a claim (a ``row`` in their results) against its sigma = 0 jobs (paired by seed), with the
    same rules as the report; delta from the sweep config ``cfg`` (load_config)."""
    groups: dict = {}
    for r in results:
        j = r["job"]
        if "row" in r["result"]:
            groups.setdefault((j["kind"], j["data"], j["blocks"]), []).append(r)
    out = []
    for (kind, data, blocks), rs in sorted(groups.items()):
        rows = [r["result"]["row"] for r in rs]
        sigmas = sorted({row["sigma"] for row in rows})
        seeds = sorted({row["seed"] for row in rows})
        entry = {"kind": kind, "data": data, "blocks": blocks, "sigmas": sigmas,
                 "seeds": len(seeds)}
        if 0.0 not in sigmas or len(sigmas) < 2:
            out.append(entry | {"why": f"no verdict: sigmas {sigmas} need 0 (the baseline) "
                                "and one sigma > 0"})
            continue
        out.append(entry | REGISTRY[kind].sweep_verdicts(rows, sigmas, rs[0]["job"]["params"],
                                                         cfg["params"][kind]["delta"]))
    return out


def run_job(job: dict, root: str) -> dict:
    """Run one job (or return its stored result) by its study's sweep_job. Safe to call in
    any worker process."""
    import torch

    from validation.store.cache import cached_json, config_key

    if job["kind"] not in KINDS:
        raise SweepError(f"unknown job kind {job['kind']!r}; valid: {', '.join(KINDS)}")
    torch.set_num_threads(1)  # one process per core
    root_p = Path(root)
    marker = root_p / "cache" / f"job-{job['kind']}-{config_key(job)}.json"
    reused = marker.exists()

    def compute() -> dict:
        return REGISTRY[job["kind"]].sweep_job(job, root_p)

    result = cached_json(root_p, f"job-{job['kind']}", job, compute)
    return {"job": job, "result": result, "reused": reused, "pid": os.getpid()}


def run_local(jobs: list[dict], root: str, workers: int) -> list[dict]:
    """Local processes (spawned: no state shared with the parent's torch threads)."""
    from validation.store.locks import clean_stale
    from validation.store.workers import map_jobs

    clean_stale(root)  # what killed runs left; live runs' files are kept
    return map_jobs(run_job, [(j, root) for j in jobs], workers=workers, desc="sweep (local)")


def run_dask(jobs: list[dict], root: str, address: str) -> list[dict]:
    """The same jobs on an existing Dask distributed cluster (workers must see ``root`` and
    have cdverify installed)."""
    from distributed import Client

    with Client(address) as client:
        futures = client.map(run_job, jobs, root=str(Path(root).resolve()), pure=False)
        return client.gather(futures)


def aggregate(results: list[dict]) -> list[dict]:
    """Mean +- sd over seeds for each (kind, data, sigma, blocks) and each numeric metric."""
    import numpy as np

    groups: dict = {}
    for r in results:
        j = r["job"]
        groups.setdefault((j["kind"], j["data"], j["sigma"], j["blocks"]), []).append(r["result"])
    rows = []
    for (kind, data, sigma, blocks), rs in sorted(groups.items()):
        row = {"kind": kind, "data": data, "sigma": sigma, "blocks": blocks, "n": len(rs)}
        for key in rs[0]:
            vals = [x[key] for x in rs if isinstance(x.get(key), int | float)
                    and not isinstance(x.get(key), bool)]
            if vals:
                v = np.asarray(vals, float)
                row[key] = float(np.nanmean(v))
                row[f"{key}_sd"] = float(np.nanstd(v, ddof=1)) if len(v) > 1 else 0.0
            elif isinstance(rs[0][key], bool):
                row[key] = all(x[key] for x in rs)
        rows.append(row)
    return rows


#: the claim each job kind's verdict tests
WHAT = {"robustness": "diffusion improves robustness",
        "rademacher": "diffusion reduces the Rademacher complexity",
        "check": "the paper's training method improves clean accuracy"}


def blocks(rows: list[dict], verdicts: list[dict], jobs: int, reused: int,
           folder: str = "") -> list:
    """The sweep's content: mean ± sd tables per job kind, the paired verdicts and the figure
    (named relative to the document; ``folder``: the sweep's folder inside it)."""
    from validation.doc import Figure, Heading, mean_sd, para, strong, table
    from validation.stats.present import verdict_blocks

    out: list = []
    for kind in KINDS:
        kr = [r for r in rows if r["kind"] == kind]
        if not kr:
            continue
        metrics = [k for k in kr[0] if k not in ("kind", "data", "sigma", "blocks", "n")
                   and not k.endswith("_sd")]
        out += [Heading(kind, 3),
                table(["data", "sigma", "blocks", "n", *metrics],
                      [[r["data"], str(r["sigma"]), str(r["blocks"]), str(r["n"]),
                        *[mean_sd(r[m], r.get(m + "_sd", 0.0)) if isinstance(r[m], float)
                          else str(r[m]) for m in metrics]] for r in kr])]
    for v in verdicts:
        head = f"{WHAT[v['kind']]} ({v['data']}, L = {v['blocks']}, {v['seeds']} paired seeds)"
        if "why" in v:
            out.append(para(strong(head), f": {v['why']}"))
            continue
        if "check" in v:  # every claim of a check: its study's own section
            out += [Heading(f"check ({v['data']}, L = {v['blocks']}, {v['seeds']} paired "
                            "seeds)", 3), *REGISTRY["check"].section(v["check"], "", {}).blocks]
            continue
        out += verdict_blocks(v["verdict"], head)
        if "lower_estimate_verdict" in v:
            out += verdict_blocks(v["lower_estimate_verdict"], f"{head}, on the lower estimate "
                                  "through the feature bottleneck")
        if "lipschitz_verdict" in v:
            out += verdict_blocks(v["lipschitz_verdict"], "diffusion lowers the Lipschitz "
                                  f"constant of the trained networks ({v['data']})")
    out += [para(f"{jobs} jobs: {jobs - reused} run, {reused} reused from the cache."),
            Figure(f"{folder}sweep.png", "the headline metric of each job kind against sigma "
                   "(mean ± sd over seeds)")]
    return out


def write_outputs(rows: list[dict], results: list[dict], out: Path, cfg: dict | None = None
                  ) -> list[str]:
    """sweep.csv, sweep.md (tables, and the paired verdicts when ``cfg``, the loaded config,
    is given), sweep.png and sweep.json (rows, jobs, config, verdicts, package versions) in
    ``out``: what ``cdverify report --include-sweep`` reads."""
    import csv
    import io

    import matplotlib.pyplot as plt

    from validation.doc import Heading, to_markdown
    from validation.doc.figures import save_figure
    from validation.store.io import atomic_write_text, package_versions, write_json

    out.mkdir(parents=True, exist_ok=True)
    keys = sorted({k for r in rows for k in r}, key=lambda k: (k not in ("kind", "data",
                                                                         "sigma", "blocks",
                                                                         "n"), k))
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=keys)
    w.writeheader()
    w.writerows(rows)
    atomic_write_text(out / "sweep.csv", buf.getvalue())
    verdicts = sweep_verdicts(results, cfg) if cfg is not None else []
    reused = sum(r["reused"] for r in results)
    atomic_write_text(out / "sweep.md", to_markdown(
        [Heading("Sweep (mean ± sd over seeds)", 1),
         *blocks(rows, verdicts, len(results), reused)]))
    headline = {k: REGISTRY[k].sweep_headline for k in KINDS}
    kinds = [k for k in KINDS if any(r["kind"] == k for r in rows)]
    fig, axes = plt.subplots(1, len(kinds), figsize=(4.5 * len(kinds), 3.8), squeeze=False,
                             layout="constrained")
    for ax, kind in zip(axes[0], kinds, strict=True):
        m = headline[kind]
        for data in sorted({r["data"] for r in rows}):
            kr = [r for r in rows if r["kind"] == kind and r["data"] == data]
            ax.errorbar([r["sigma"] for r in kr], [r[m] for r in kr],
                        yerr=[r[m + "_sd"] for r in kr], marker="o", capsize=3, label=data)
        ax.set(xlabel="sigma", ylabel=m, title=kind)
        ax.legend(fontsize=8)
    save_figure(fig, out / "sweep.png")
    write_json(out / "sweep.json", {"rows": rows, "jobs": results, "config": cfg,
                                    "verdicts": verdicts, "reused": reused,
                                    "versions": package_versions()})
    return ["sweep.csv", "sweep.md", "sweep.png", "sweep.json"]


def load_finished(folder: str | Path) -> dict:
    """A finished sweep's sweep.json, checked: it holds its config and every job that the
    config expands to has a result (else SweepError naming what is missing)."""
    from validation.store.io import loads

    path = Path(folder) / "sweep.json"
    try:
        doc = loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise SweepError(f"cannot read {path}: {exc}; run `cdverify sweep CONFIG --out "
                         f"{folder}` first") from exc
    if not isinstance(doc, dict):
        raise SweepError(f"{path} holds a JSON {type(doc).__name__}, not the object `cdverify "
                         f"sweep` writes; rerun the sweep with --out {folder}")
    if not doc.get("config"):
        raise SweepError(f"{path} has no config (written by an older cdverify): rerun the "
                         "sweep, its finished jobs are reused from the cache")
    from validation.store.cache import config_key

    need = ("jobs", "data", "sigma", "seed", "blocks", "epochs", "params")
    cfg = doc["config"]
    missing = [k for k in need if k not in cfg] if isinstance(cfg, dict) else list(need)
    jobs = doc.get("jobs", [])
    if missing or not isinstance(jobs, list) or not all(isinstance(r, dict) and "job" in r
                                                        for r in jobs):
        raise SweepError(f"{path} is not a sweep.json that `cdverify sweep` wrote ("
                         + (f"its config lacks {', '.join(missing)}" if missing else
                            "its jobs are not a list of results") + "); rerun the sweep with "
                         f"--out {folder}")
    try:
        want = {config_key(j) for j in expand(cfg)}
    except (KeyError, TypeError, AttributeError) as exc:
        raise SweepError(f"{path}: its config does not expand to jobs ({type(exc).__name__}: "
                         f"{exc}); rerun the sweep with --out {folder}") from None
    have = {config_key(r["job"]) for r in jobs}
    if want - have:
        raise SweepError(f"sweep {folder} is not finished: {len(want - have)} of {len(want)} "
                         "jobs have no result; rerun `cdverify sweep` on its config")
    return doc

