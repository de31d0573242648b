"""The graph study in the report: tau* and its violation, the continuum limit, and the COIN
classification claim per data set (docs/graphs.md)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from validation.doc import Section

from ..registry import Claim, Study, register
from .study import GraphStudy


@register
class GraphDiffusionStudy(Study):
    name = "graph"
    title = "Graph diffusion (COIN)"
    config = GraphStudy
    version = 2

    def run(self, config: GraphStudy, folder: Path, models: Path) -> dict:
        from .study import public, run_study, write_outputs

        res = run_study(config, progress=False)
        write_outputs(res, folder)
        return public(res)

    def claims(self, stages: Mapping[str, dict], results: Mapping[str, dict]) -> list[Claim]:
        from .study import claims

        return [Claim(**row) for res in stages.values() for row in claims(res)]

    def section(self, result: dict, stage: str, results: Mapping[str, dict]) -> Section:
        from .study import blocks

        return Section(stage, self.title, tuple(blocks(result, f"{stage}/")))
