"""The flows study: named problems of (CD) with closed-form solutions, solved by finite
differences, plotted and animated (examples.py); the error at T against the closed form."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from validation.doc import Figure, Section, items, num, para

from ..registry import Claim, Study, register


@dataclass(frozen=True, kw_only=True)
class FlowsConfig:
    """The examples solved (examples.EXAMPLES names), with ``n`` cells per axis (``n_1d`` for
    1-D examples), ``frames`` saved times and one scheme for all."""

    examples: tuple[str, ...] = ("rotation", "ornstein-uhlenbeck", "advected-gaussian-1d")
    n: int = 96
    n_1d: int = 256
    frames: int = 9
    convection: str = "central4"
    diffusion: str = "central4"
    stepper: str = "rk4"

    def __post_init__(self):
        from .examples import EXAMPLES

        object.__setattr__(self, "examples", tuple(self.examples))
        bad = [e for e in self.examples if e not in EXAMPLES]
        if bad:
            raise ValueError(f"unknown example(s) {bad}; valid: {', '.join(EXAMPLES)}")
        for name in ("n", "n_1d", "frames"):
            if int(getattr(self, name)) < 2:
                raise ValueError(f"{name} = {getattr(self, name)}: give a count >= 2")


@register
class FlowsStudy(Study):
    name = "flows"
    title = "PDE flows of features"
    config = FlowsConfig
    version = 2
    side_lane = True  # sympy/numpy on one core, no trained model

    def run(self, config: FlowsConfig, folder: Path, models: Path) -> dict:
        from .examples import run_example

        out = {}
        for ex in config.examples:
            doc = run_example(ex, folder / ex, convection=config.convection,
                              diffusion=config.diffusion, stepper=config.stepper,
                              n=config.n if "1d" not in ex else config.n_1d,
                              frames=config.frames, progress=False)
            out[ex] = {"max_error_T": doc["errors"][-1]["max_error"],
                       "steps": doc["stats"]["steps"], "files": doc["files"],
                       "description": doc["example"]}
        return out

    def claims(self, stages: Mapping[str, dict], results: Mapping[str, dict]) -> list[Claim]:
        return []

    def section(self, result: dict, stage: str, results: Mapping[str, dict]) -> Section:
        runs = {k: v for k, v in result.items() if isinstance(v, dict)}
        blocks = [para("Named problems with closed-form solutions, solved by finite "
                       "differences; the error is the maximum over the grid at T against the "
                       "closed form."),
                  items(*[f"{k}: max error at T {num(v['max_error_T'])} ({v['steps']} steps)"
                          for k, v in runs.items()])]
        for k, v in runs.items():
            for f in v.get("files", []):
                what = ("animation of the flow" if f.endswith(".gif") else
                        "space-time plot" if f.startswith("space_time") else
                        "snapshots with the velocity field and characteristics")
                blocks.append(Figure(f"{stage}/{k}/{f}", f"{k}: {what}"))
        return Section("flows", self.title, tuple(blocks))
