"""The inspection in the report: the flow of a trained conv ResNet of the toolkit's own
(resnet1d on MNIST-1D in the full profile), trained as ``cdverify check`` trains it and read
through the adapter as ``cdverify inspect`` reads a user's network. It describes, it decides
no claim: its section sits beside the check's verdicts."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

from validation.doc import Section
from validation.nets.adapter import AdapterError

from ..registry import Claim, Study, register


@dataclass(frozen=True, kw_only=True)
class InspectConfig:
    """A built-in network, its training and what the inspection measures on the test split."""

    model: str = "resnet1d"
    data: str = "mnist1d"
    blocks: int = 4
    width: int = 32
    t_end: float = 1.0
    epochs: int = 20
    technique: str = "plain"  # plain, or paper (then inspected with its sigma injected)
    strength: float = 0.0
    seed: int = 0
    points: int = 256
    passes: int = 32
    jacobian_points: int = 8
    agreement_draws: int = 256
    agreement_points: int = 32
    substeps: tuple[int, ...] | str = "auto"
    device: str = "cpu"

    def __post_init__(self) -> None:
        if self.technique not in ("plain", "paper"):
            raise AdapterError(f"technique = {self.technique!r}; the inspection trains plain "
                               "or paper (its diffusion is then injected by the adapter)")
        if int(self.jacobian_points) < 0:
            raise AdapterError(f"jacobian_points = {self.jacobian_points}; must be >= 0")
        for name in ("blocks", "width", "epochs", "points", "passes", "agreement_points"):
            if int(getattr(self, name)) < 1:
                raise AdapterError(f"{name} = {getattr(self, name)}; must be >= 1")
        from validation.stats.fit import substeps_problem

        if problem := substeps_problem(self.substeps):
            raise AdapterError(f"substeps = {self.substeps}: {problem}")
        if not (self.strength >= 0 and math.isfinite(self.strength)):
            raise AdapterError(f"strength = {self.strength}; must be a finite number >= 0")
        if self.technique == "plain" and self.strength != 0:
            raise AdapterError("strength must be 0 for plain")


@register
class InspectStudy(Study):
    name = "inspect"
    title = "The flow of a trained conv ResNet"
    config = InspectConfig
    # 2: the Feynman-Kac verdict reads the local orders; 3: and the levels' noiseless flows
    version = 3

    def run(self, config: InspectConfig, folder: Path, models: Path) -> dict:
        from validation.nets.benchmark_data import load_benchmark
        from validation.nets.convnets import build_network, conv_stage
        from validation.nets.fit import FitConfig, fit
        from validation.store.cache import config_key

        from .study import run_inspect

        data = load_benchmark(config.data)
        stage = conv_stage(build_network(config.model, data, blocks=config.blocks,
                                         width=config.width, t_end=config.t_end,
                                         seed=config.seed))
        fcfg = FitConfig(technique=config.technique, strength=config.strength,
                         epochs=config.epochs, seed=config.seed, device=config.device)
        ckpt = Path(models) / "inspect" / f"{config_key(asdict(config))}.pt"
        history = fit(stage, data.x_train, data.y_train, fcfg, checkpoint=ckpt, progress=False)
        stage.model.to("cpu").eval()
        cfg = asdict(config) | {"stage": "stage"}
        res = run_inspect(stage, data.x_test, data.y_test, folder, sigma=config.strength,
                          points=config.points, passes=config.passes,
                          jacobian_points=config.jacobian_points, seed=config.seed,
                          config=cfg, agreement_draws=config.agreement_draws,
                          agreement_points=config.agreement_points,
                          substeps=config.substeps)
        return res | {"config": cfg, "data": data.name,
                      "train_loss": history["train_loss"][-1]}

    def claims(self, stages: Mapping[str, dict], results: Mapping[str, dict]) -> list[Claim]:
        return []  # a description: the check's and the agreement studies' claims decide

    def section(self, result: dict, stage: str, results: Mapping[str, dict]) -> Section:
        from .study import blocks

        cfg = result["config"]
        label = (f"{cfg['model']} on {result['data']}, {cfg['technique']}"
                 + (f" sigma = {cfg['strength']:g}" if cfg["technique"] == "paper" else "")
                 + f", seed {cfg['seed']}")
        return Section(stage, f"{self.title} ({label})", tuple(blocks(result, cfg,
                                                                      f"{stage}/")))
