"""The agreement study in the report: "a noisy ResNet is the convection-diffusion operator"
(network = semi-discrete = PDE up to O(h)), one stage per (data, sigma)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from validation.doc import Figure, Section
from validation.nets.train import TrainConfig, data_grid, data_overrides

from ..registry import Claim, Study, register


@dataclass(frozen=True, kw_only=True)
class AgreementConfig:
    """One agreement run: the trained network (``train``), the grid of the PDE and of the
    semi-discrete recursion (``grid`` cells per axis), the test points compared and the
    sub-step counts of the step study."""

    train: TrainConfig = field(default_factory=TrainConfig)
    grid: int = 128
    test_points: int = 100
    substeps: tuple[int, ...] = (1, 2, 4, 8, 16)

    def __post_init__(self):
        object.__setattr__(self, "substeps", tuple(int(r) for r in self.substeps))
        if self.grid < 8 or self.test_points < 1:
            raise ValueError(f"grid = {self.grid}, test_points = {self.test_points}: give a "
                             "grid >= 8 cells per axis and >= 1 test point")
        if len(self.substeps) < 2 or any(r < 1 for r in self.substeps):
            raise ValueError(f"substeps {self.substeps}: give at least 2 counts >= 1")

    @classmethod
    def of(cls, data: str, sigma: float, *, epochs: int, grid: int, device: str = "cpu",
           **kw) -> AgreementConfig:
        """The run of ``data`` at ``sigma`` with the data set's own training settings and grid
        (train.DATA_OVERRIDES: digits trains with weight decay on a finer grid)."""
        over = data_overrides(data)
        train = TrainConfig(data=data, sigma=sigma, device=device,
                            epochs=over.pop("epochs", epochs), **over)
        return cls(train=train, grid=data_grid(data, grid), **kw)


def _missed_anchor(result: dict) -> str:
    """The claim row's caveat where the network missed its anchor (it does not beat logistic
    regression on the same split by the margin): the identity is then checked on a (nearly)
    degenerate classifier, which the row says rather than the section alone."""
    acc = result.get("accuracy", {})
    if acc.get("beats_linear", True):
        return ""
    return (f"; the network (test accuracy {acc['test_acc']:.3f}) does not beat its linear "
            f"baseline ({acc['linear_test_acc']:.3f}) by {acc['linear_margin']:g}: checked on "
            "a (nearly) degenerate classifier")


@register
class AgreementStudy(Study):
    name = "agreement"
    title = "Three-way agreement"
    config = AgreementConfig
    version = 2  # 2: decision agreement measured where the data are
    sweep_headline = "gap_sd_pde"
    sweep_defaults: ClassVar[dict] = {"grid": 64, "test_points": 60}
    # on a worker beside the main stages: one model, then the semi-discrete runs on one core
    # with the reference PDE on a thread; the main stages meanwhile take the pending jobs of
    # their sweeps themselves (store.workers: work stealing), so no core waits for it
    side_lane = True

    def stage(self, config: AgreementConfig, index: int = 0) -> str:
        return f"agreement-{config.train.data}-sigma{config.train.sigma}"

    def run(self, config: AgreementConfig, folder: Path, models: Path) -> dict:
        from .experiment import validate

        payload = validate(config.train, folder, grid_n=config.grid,
                           test_points=config.test_points, cache=models, progress=False,
                           substeps=config.substeps)
        return {k: payload[k] for k in ("accuracy", "table", "decision_agreement", "model",
                                        "pde_test_accuracy", "wall_time_s", "agreement",
                                        "data_box", "feature_box")}

    def claims(self, stages: Mapping[str, dict], results: Mapping[str, dict]) -> list[Claim]:
        from .study import agreement_verdict

        ag = {stage.removeprefix("agreement-"): agreement_verdict(r["agreement"])
              for stage, r in stages.items()}
        states = {v["status"] for v in ag.values()}
        status = ("fails" if "fails" in states or not ag else
                  "inconclusive" if "inconclusive" in states else "holds")
        return [Claim("A noisy ResNet is the convection-diffusion operator (network = "
                      "semi-discrete = PDE up to O(h))", status, "agreement", "; ".join(
                          f"{k}: {v['status']}, {v['evidence']}"
                          + (f" ({'; '.join(v['problems'] + v['unresolved'])})"
                             if v["problems"] or v["unresolved"] else "")
                          + _missed_anchor(stages[f"agreement-{k}"])
                          for k, v in ag.items()))]

    def section(self, result: dict, stage: str, results: Mapping[str, dict]) -> Section:
        from .experiment import summary_blocks

        first = next(s for s in results if s.startswith("agreement-")) == stage
        key = stage.removeprefix("agreement-")
        return Section("agreement" if first else stage, f"{self.title} ({key})", (
            *summary_blocks(result, heading=False),
            Figure(f"{stage}/flow_panels.png", "u(., t) of class 1 with the velocity field "
                   "and noisy feature paths, on the data's feature box"),
            Figure(f"{stage}/decision_regions.png", "decision regions of the network and of "
                   "the PDE in feature space, on the data's feature box"),
            Figure(f"{stage}/flow.gif", "the flow of u(., t), class 1, from the output "
                   "(t = 0) to the input (t = T)")))

    def sweep_job(self, job: dict, root: Path) -> dict:
        from validation.nets.cached import cached_model
        from validation.nets.data import make_dataset
        from validation.store.cache import config_key

        from .experiment import validate

        p = job["params"]
        cfg = TrainConfig(data=job["data"], sigma=job["sigma"], seed=job["seed"],
                          blocks=job["blocks"], epochs=job["epochs"],
                          **data_overrides(job["data"], epochs=False))
        data = make_dataset(cfg.data, cfg.n, seed=cfg.seed, noise=cfg.noise)
        model, _ = cached_model(root / "models", cfg, data, progress=False)
        pay = validate(cfg, root / "jobs" / config_key(job), grid_n=p["grid"],
                       test_points=p["test_points"], model=model.cpu(), progress=False)
        ag = pay["agreement"]
        return {"gap_net_sd": ag["gap_net_sd"], "gap_sd_pde": ag["gap_sd_pde"],
                "order_K": ag["k_study"]["order"], "order_grid": ag["grid_study"]["order"],
                "order_step": ag["step_study"]["order_successive"],
                "test_acc": pay["accuracy"]["test_acc"]}
