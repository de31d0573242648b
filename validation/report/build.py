r"""`cdverify report`: every claim checked in one run, written as one report.

The stages are the profile's study configs (report.profiles), each run by its registered study
(validation.studies) and cached under ``<cache>/<stage>-<config hash>/``: built in a temporary
folder and renamed when complete, so an interrupted run resumes where it stopped and a finished
stage is never recomputed. The report folder gets index.html (self-contained), report.md,
results.json and every stage's files (CSV tables, PNG figures, GIFs); the Markdown and the HTML
are rendered from one model of the report (report.document).
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from contextlib import nullcontext
from dataclasses import asdict
from pathlib import Path

from validation.store.cache import stage as cached_stage
from validation.store.cache import stage_folder, writable
from validation.store.io import atomic_write_text, copy_file, dumps, package_versions
from validation.store.locks import clean_stale
from validation.store.workers import interrupt_behind, shared_pool, submit
from validation.studies import REGISTRY, Claim, Study, flagged

from .profiles import PROFILE_HELP, PROFILES, Profile, profile

__all__ = ["PROFILES", "PROFILE_HELP", "Interrupted", "build", "claims", "stage_study"]


def stage_study(stage: str) -> Study | None:
    """The registered study a stage name belongs to (its name, or its name and '-...')."""
    for study in REGISTRY.values():
        if stage == study.name or stage.startswith(study.name + "-"):
            return study
    return None


def _by_study(results: Mapping[str, dict]) -> dict[str, dict[str, dict]]:
    out: dict = {}
    for stage, res in results.items():
        study = stage_study(stage)
        if study is not None:
            out.setdefault(study.name, {})[stage] = res
    return out


def claims(results: Mapping[str, dict]) -> list[dict]:
    """The claims table from every stage's result (stage name -> result) and, under
    ``results["sweeps"]``, the included sweeps: each study's claims in the registry's order,
    then the sweeps'."""
    rows: list[Claim] = []
    grouped = _by_study(results)
    for study in REGISTRY.values():
        if study.name in grouped:
            rows += study.claims(grouped[study.name], results)
    for name, sw in results.get("sweeps", {}).items():
        rows += sweep_claims(name, sw)
    return [r.row() for r in rows]


def sweep_claims(name: str, sw: dict) -> list[Claim]:
    """The claims of an included sweep's paired verdicts."""
    from validation.stats.present import evidence

    rows = []
    for v in sw["verdicts"]:
        if "why" in v:  # no sigma = 0 baseline in that sweep: its section says so
            continue
        if "check" in v:  # a check's claims, one row per claim and setting
            rows += REGISTRY["check"].claims({name: v["check"]}, {})
            continue
        what = ("Diffusion improves robustness" if v["kind"] == "robustness" else
                "Diffusion reduces the Rademacher complexity")
        where = f"{v['data']}, L = {v['blocks']}, included {name}"
        failed = v.get("failed_flags")
        rows.append(flagged(f"{what} ({where})", v["verdict"]["verdict"], name,
                            evidence(v["verdict"]), failed))
        low = v.get("lower_estimate_verdict")
        if low:
            rows.append(flagged(f"Diffusion improves robustness ({where}; on the lower "
                                "estimate through the feature bottleneck)", low["verdict"],
                                name, evidence(low), failed))
        if "lipschitz_verdict" in v:
            rows.append(Claim("Diffusion lowers the Lipschitz constant of the trained "
                              f"networks' u(., T) ({where})", v["lipschitz_verdict"]["verdict"],
                              name, evidence(v["lipschitz_verdict"])))
    return rows


def _included_sweeps(folders) -> dict:
    """name -> (the report's record of a finished sweep, its folder); names are unique."""
    import hashlib

    from validation.sweep.run import load_finished

    out: dict = {}
    for folder in folders:
        folder = Path(folder)
        doc = load_finished(folder)
        name = f"sweep-{folder.resolve().name}"
        if name in out:
            raise ValueError(f"two included sweeps share the folder name {folder.name!r}; "
                             "rename one")
        raw = (folder / "sweep.json").read_bytes()
        out[name] = ({"path": str(folder), "config": doc["config"], "verdicts": doc["verdicts"],
                      "rows": doc["rows"], "jobs": len(doc.get("jobs", [])),
                      "reused": doc.get("reused", 0),
                      "sha256": hashlib.sha256(raw).hexdigest()}, folder)
    return out


def _side_stage(cache: str, name: str, key: dict, study: str, config, models: str) -> bool:
    """One side stage on a worker of the shared pool: computed into the cache (or found there);
    whether it was computed."""
    return cached_stage(Path(cache), name, key,
                        lambda folder: REGISTRY[study].run(config, folder, Path(models)))[2]


def _submit_side(cache: Path, name: str, key: dict, study: str, config, models: Path):
    """A Future of the side stage on the shared pool; None where its folder is there already
    (the main loop reads it, and recomputes it itself if it is damaged). A cache that cannot
    take the missing stage is refused here, in this process, before any work."""
    folder = stage_folder(cache, name, key)
    if (folder / "result.json").is_file():
        return None
    writable(cache, f"the complete stage {folder.name}")
    return submit(_side_stage, str(cache), name, key, study, config, str(models))


def _pool_size(plan, side: list[str]) -> int:
    """Processes of the report's shared pool: the most that any stage's config asks for
    (``workers``), and one where side stages run; 0: no pool."""
    asked = max((int(getattr(c, "workers", 1)) for _, c, _ in plan), default=1)
    return asked if asked > 1 else int(bool(side))


class Interrupted(KeyboardInterrupt):
    """Ctrl-C during a report: ``where`` says which stages are complete (and cached)."""

    def __init__(self, where: str):
        super().__init__(where)
        self.where = where


def _copy_outputs(out: Path, folders: dict[str, Path]) -> None:
    for name, folder in folders.items():
        # an included sweep's folder also holds its job cache: its outputs only
        for f in (folder.glob("sweep.*") if name.startswith("sweep-") else folder.rglob("*")):
            if f.is_file() and f.suffix in (".png", ".gif", ".csv", ".md", ".tex", ".json"):
                copy_file(f, out / name / f.relative_to(folder))


def build(profile_name: str = "quick", out: str | Path | None = None,
          cache: str | Path | None = None, data: str | None = None, progress: bool = True,
          device: str = "cpu", include_sweeps: tuple[str | Path, ...] = (),
          side_lane: bool | None = None) -> Path:
    """Run every stage of the profile (cached, claimed against concurrent runs) and write the
    report; returns the report folder. ``include_sweeps``: folders of finished ``cdverify
    sweep`` runs whose paired verdicts join the claims table (checked before any stage runs).
    ``side_lane``: run the one-core studies (Study.side_lane) on a worker of the report's
    shared pool while the others run (default: where this process may use 2 or more cores);
    the results are the same either way. The stages' worker jobs share that pool (one start-up
    for the report, not one a stage). Ctrl-C raises :class:`Interrupted` naming the complete
    stages."""
    from tqdm import tqdm

    from .document import write_report

    prof: Profile = profile(profile_name)
    if data:
        from validation.nets.data import NAMES

        if data not in NAMES:
            raise ValueError(f"unknown data set {data!r}; valid: {', '.join(NAMES)}")
        prof = prof.on_data(data)
    prof = prof.on_device(device)  # training on the GPU; the keys change, CPU runs stay apart
    sweeps = _included_sweeps(include_sweeps)  # a missing or unfinished sweep fails now
    start = time.perf_counter()
    stamp = time.strftime("%Y%m%d-%H%M%S")
    out = Path(out) if out else Path("reports") / stamp
    cache = Path(cache) if cache else Path("reports") / "cache"
    models = cache / "models"
    clean_stale(cache)
    plan = list(prof.stages())
    results: dict = {}
    folders: dict = {}
    computed: list[str] = []
    keys = {name: {"study": study.name, "config": asdict(config), "v": study.version}
            for study, config, name in plan}
    if side_lane is None:
        side_lane = len(os.sched_getaffinity(0)) >= 2
    side = [n for s, _, n in plan if s.side_lane] if side_lane else []
    if len(side) == len(plan):  # nothing to run beside them
        side = []
    # the main stages first; the side stages, computed meanwhile, are then read back
    order = [p for p in plan if p[2] not in side] + [p for p in plan if p[2] in side]
    size = _pool_size(plan, side)
    try:
        with shared_pool(size) if size else nullcontext():
            lane = {n: _submit_side(cache, n, keys[n], s.name, c, models)
                    for s, c, n in plan if n in side}
            for study, config, name in tqdm(order, desc=f"report ({profile_name})",
                                            disable=not progress):
                side_fresh = False
                if lane.get(name) is not None:
                    try:
                        side_fresh = lane[name].result()
                    except Exception:  # computed below, where its error surfaces whole
                        pass
                # a side stage is complete in the cache now (read back), or it failed on its
                # worker and is computed here
                res, folder, fresh = cached_stage(
                    cache, name, keys[name],
                    lambda folder, s=study, c=config: s.run(c, folder, models))
                if fresh or side_fresh:
                    computed.append(name)
                results[name] = res
                folders[name] = folder
    except (KeyboardInterrupt, Exception) as exc:
        if interrupt_behind(exc) is None:
            raise
        # what the cache holds, not how far this loop got: a signal can arrive after a stage's
        # folder is complete and before its call returns
        complete = [n for _, _, n in plan
                    if (stage_folder(cache, n, keys[n]) / "result.json").is_file()]
        # the side stages complete out of the profile's order: name each complete stage
        done = (f"after stage{'s' if len(complete) > 1 else ''} {', '.join(complete)}"
                if complete else "before the first stage completed")
        raise Interrupted(f"{done} (of {', '.join(n for _, _, n in plan)}); the "
                          f"complete stages are kept in {cache}") from (
            None if str(exc).startswith("stopped after stage") else exc)
    # the profile's order, whatever order the stages completed in
    results = {n: results[n] for _, _, n in plan}
    folders = {n: folders[n] for _, _, n in plan}
    computed = [n for _, _, n in plan if n in computed]
    if sweeps:
        results["sweeps"] = {name: sw for name, (sw, _) in sweeps.items()}
        folders.update({name: folder for name, (_, folder) in sweeps.items()})
    compute = {n: results[n].get("stage_wall_s", 0.0) for _, _, n in plan}
    meta = {"profile": profile_name, "data": prof.data, "config": asdict(prof),
            "timestamp": stamp, "wall_time_s": time.perf_counter() - start,
            "computed_s": sum(compute[n] for n in computed),
            "reused_compute_s": sum(v for n, v in compute.items() if n not in computed),
            "computed": computed, "reused": [n for _, _, n in plan if n not in computed],
            "versions": package_versions(), "cache": str(cache),
            "included_sweeps": {n: {"path": sw["path"], "sha256": sw["sha256"]}
                                for n, (sw, _) in sweeps.items()}}
    out.mkdir(parents=True, exist_ok=True)
    _copy_outputs(out, folders)
    table = claims(results)
    atomic_write_text(out / "results.json", dumps(
        {"claims": table, "results": results, "meta": meta}, indent=2))
    write_report(out, prof, results, table, meta)
    return out
