"""The depth study in the report: "trained networks approach their PDE as h = T/L -> 0", one
stage per data set."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from validation.doc import Section, num

from ..registry import Claim, Study, register
from .study import DepthStudy


@register
class DepthLimitStudy(Study):
    name = "depth"
    title = "Depth limit"
    config = DepthStudy
    version = 4

    def stage(self, config: DepthStudy, index: int = 0) -> str:
        return f"depth-{config.data}"

    def run(self, config: DepthStudy, folder: Path, models: Path) -> dict:
        from .study import run_depth_study

        return run_depth_study(config, models, progress=False)

    def claims(self, stages: Mapping[str, dict], results: Mapping[str, dict]) -> list[Claim]:
        return [Claim(f"Depth limit ({stage.removeprefix('depth-')}): trained networks "
                      "approach their PDE as h = T/L -> 0", dep["status"], "depth",
                      dep["finding"] + "; mean gap " + ", ".join(
                          f"L {t['blocks']}: {num(t['gap_mean'])}" for t in dep["table"]))
                for stage, dep in stages.items()]

    def section(self, result: dict, stage: str, results: Mapping[str, dict]) -> Section:
        from .study import depth_blocks

        first = next(s for s in results if s.startswith("depth-")) == stage
        return Section("depth" if first else stage,
                       f"{self.title} ({stage.removeprefix('depth-')})",
                       tuple(depth_blocks(result)))
