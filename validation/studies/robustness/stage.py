"""The robustness study in the report: "diffusion improves robustness", one stage per data
set (the profile's first config is the stage ``robustness``, the others ``robustness-DATA``)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import ClassVar

from validation.doc import Section
from validation.nets.train import data_overrides
from validation.stats.paired import DELTA_ROBUST_ACCURACY
from validation.stats.present import evidence

from ..registry import Claim, SigmaSweepStudy, flagged, linear_caveat, register
from .sweep import RobustnessSweep

# the per-model search sizes of a sweep job: the report's RobustnessSweep defaults
SEARCH = ("exhaustive_per_axis", "expected_draws", "random_samples", "confirm_draws",
          "certify_points")


def job_spec(job: dict) -> RobustnessSweep:
    """The report's study spec of one sweep job, so that a sweep runs the same code as the
    report. A spec names its sigmas; a job runs only its own (sigma, seed)."""
    p = job["params"]
    return RobustnessSweep(data=job["data"], sigmas=(0.0, job["sigma"] or 1.0), seeds=1,
                           epochs=job["epochs"], blocks=job["blocks"], points=p["points"],
                           eps_linf=tuple(p["eps"]), eps_l2=tuple(p["eps_l2"]), K=p["K"],
                           steps=p["pgd_steps"], **{k: p[k] for k in SEARCH},
                           **data_overrides(job["data"], epochs=False))


@register
class RobustnessStudy(SigmaSweepStudy):
    name = "robustness"
    title = "Robustness"
    config = RobustnessSweep
    version = 4  # 4: the study's result is the whole sweep (rows and verdicts)
    sweep_headline = "robust_auc_linf"
    sweep_decides = True
    # delta: the smallest effect of interest of the paired verdict
    sweep_defaults: ClassVar[dict] = {
        "points": 40, "K": 16, "pgd_steps": 10, "eps": [0.0, 0.05, 0.1, 0.2, 0.4],
        "eps_l2": [0.0, 0.07, 0.14, 0.28, 0.56], "delta": DELTA_ROBUST_ACCURACY,
        **{k: getattr(RobustnessSweep, k) for k in SEARCH}}

    def run(self, config: RobustnessSweep, folder: Path, models: Path) -> dict:
        from .sweep import run_sweep, write_outputs

        res = run_sweep(config, folder, progress=False, cache=models)
        write_outputs(res, folder, f"Robustness, {config.data}")
        return res | {"data": config.data}

    def claims(self, stages: Mapping[str, dict], results: Mapping[str, dict]) -> list[Claim]:
        rows = []
        for stage, res in stages.items():
            where = self.where(stage, res)
            from .sweep import failed_flags

            failed = failed_flags(res["rows"]) if "rows" in res else res.get("failed_flags")
            caveat = linear_caveat(res.get("rows", []))
            rows.append(flagged(f"Diffusion improves robustness{where}",
                                res["verdict"]["verdict"], stage,
                                evidence(res["verdict"]) + caveat, failed))
            low = res.get("lower_estimate_verdict")
            if low:
                rows.append(flagged(f"Diffusion improves robustness ({res['data']}; on the "
                                    "lower estimate through the feature bottleneck)",
                                    low["verdict"], stage, evidence(low) + caveat, failed))
        return rows

    def section(self, result: dict, stage: str, results: Mapping[str, dict]) -> Section:
        from .sweep import blocks

        return Section(stage, f"{self.title}{self.where(stage, result)}",
                       tuple(blocks(result, f"{stage}/")))

    def sweep_check(self, job: dict) -> None:
        job_spec(job)  # the spec validates the table's values (RobustnessSweep, RademacherSweep)

    def sweep_job(self, job: dict, root: Path) -> dict:
        import numpy as np

        from .sweep import robust_auc, robustness_row

        spec = job_spec(job)
        row = robustness_row(spec, job["sigma"], job["seed"], str(root / "models"))
        box = [row["attacks"][f"linf:{e}"].get("feature_box") for e in spec.eps_linf]
        return {"clean_acc": row["clean_accuracy"],
                "robust_auc_linf": robust_auc(row, spec.eps_linf),
                **({"feature_box_auc_linf": float(np.mean(box))} if None not in box else {}),
                "flags_pass": bool(all(row["flags"].values())), "row": row}

    def sweep_verdicts(self, rows: list[dict], sigmas: list[float], params: dict,
                       delta: float) -> dict:
        from .sweep import claim_verdicts

        return claim_verdicts(rows, sigmas, params["eps"], delta)
