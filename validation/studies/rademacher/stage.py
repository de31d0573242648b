"""The Rademacher study in the report: "diffusion reduces the Rademacher complexity", one stage
per data set (the profile's first config is ``rademacher``, the others ``rademacher-DATA``)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import ClassVar

from validation.doc import Section
from validation.nets.train import data_overrides
from validation.stats.paired import DELTA_RELATIVE
from validation.stats.present import evidence

from ..registry import Claim, SigmaSweepStudy, flagged, linear_caveat, register
from .sweep import RademacherSweep

#: the ascent's relative gap to the closed-form supremum of the linear class above which the
#: lower estimate is not trusted to compare classes (the estimator, not the class, would differ)
ASCENT_GAP = 0.05


def failed_flags(res: dict) -> dict[str, str]:
    """The Rademacher study's sanity flags that failed: Jensen's sandwich on one class, the
    estimate's stability in the noise draws S, and the ascent's gap on the linear class."""
    out = {}
    sand = [r["sandwich"]["holds"] for r in res.get("rows", []) if "sandwich" in r]
    if sand and not all(sand):
        out["Jensen R(U_sigma) <= E R(F_omega) on one class"] = \
            f"violated in {len(sand) - sum(sand)}/{len(sand)} checks"
    stable = [r["draw_stability"]["stable"] for r in res.get("rows", [])
              if "draw_stability" in r]
    if stable and not all(stable):
        out["estimate stable in the noise draws S"] = \
            f"not yet stable in {len(stable) - sum(stable)}/{len(stable)} checks"
    conv = [r["R_lower_converged"] for r in res.get("rows", []) if "R_lower_converged" in r]
    if conv and not all(conv):
        out["lower estimate converged (< 1% change on doubling the ascent)"] = \
            f"not converged in {len(conv) - sum(map(bool, conv))}/{len(conv)} runs"
    asc = res.get("ascent_check")
    if asc and asc["relative_gap"] > ASCENT_GAP:
        out[f"ascent within {ASCENT_GAP:.0%} of the linear class's supremum"] = \
            f"{100 * asc['relative_gap']:.1f}% below"
    return out


def job_spec(job: dict) -> RademacherSweep:
    """The report's study spec of one sweep job (the same code as the report's stage)."""
    p = job["params"]
    return RademacherSweep(data=job["data"], sigmas=(0.0, job["sigma"] or 1.0), seeds=1,
                           epochs=job["epochs"], blocks=job["blocks"], points=p["points"],
                           draws=p["draws"], steps=p["steps"], noise_samples=p["noise_samples"],
                           **data_overrides(job["data"], epochs=False))


@register
class RademacherStudy(SigmaSweepStudy):
    name = "rademacher"
    title = "Rademacher complexity"
    config = RademacherSweep
    version = 3  # 3: the study's result is the whole sweep (rows and verdict)
    sweep_headline = "R_lower"
    sweep_decides = True
    sweep_defaults: ClassVar[dict] = {"points": 100, "draws": 12, "steps": 40,
                                      "noise_samples": 4, "delta": DELTA_RELATIVE}

    def run(self, config: RademacherSweep, folder: Path, models: Path) -> dict:
        from .sweep import run_sweep, write_outputs

        res = run_sweep(config, folder, progress=False, cache=models)
        write_outputs(res, folder, f"Rademacher complexity, {config.data}")
        sand = [r["sandwich"]["holds"] for r in res["rows"] if "sandwich" in r]
        return res | {"data": config.data, "sandwich_holds": all(sand)}

    def claims(self, stages: Mapping[str, dict], results: Mapping[str, dict]) -> list[Claim]:
        return [flagged(f"Diffusion reduces the Rademacher complexity{self.where(stage, res)}",
                        res["verdict"]["verdict"], stage,
                        evidence(res["verdict"]) + linear_caveat(res.get("rows", [])),
                        failed_flags(res))
                for stage, res in stages.items()]

    def section(self, result: dict, stage: str, results: Mapping[str, dict]) -> Section:
        from .sweep import blocks

        return Section(stage, f"{self.title}{self.where(stage, result)}",
                       tuple(blocks(result, f"{stage}/")))

    def sweep_check(self, job: dict) -> None:
        from .sweep import check_points

        check_points(job_spec(job))  # the spec validates the table's values, then the points

    def sweep_job(self, job: dict, root: Path) -> dict:
        from .sweep import rademacher_row

        row = rademacher_row(job_spec(job), job["sigma"], job["seed"], str(root / "models"))
        return {k: row[k] for k in ("R_lower", "R_lower_se", "R_upper", "gap_loss",
                                    "test_acc")} | {"row": row}

    def sweep_verdicts(self, rows: list[dict], sigmas: list[float], params: dict,
                       delta: float) -> dict:
        from .sweep import claim_verdict

        return {"verdict": claim_verdict(rows, sigmas, delta),
                "failed_flags": failed_flags({"rows": rows})}
