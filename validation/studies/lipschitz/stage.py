"""The Lipschitz study in the report: the heat-semigroup bound measured on its extremal datum
(a reference check, v = 0), and the claim "diffusion lowers the Lipschitz constant of the
trained networks", whose measurements the robustness study makes (stage ``robustness``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from validation.doc import Figure, Section, mean_sd, num, para, percent, strong, table
from validation.stats.present import evidence, verdict_blocks

from ..registry import Claim, Study, linear_caveat, register
from .heat import TOLERANCE


@dataclass(frozen=True, kw_only=True)
class LipschitzConfig:
    """The reference check: the unit step's heat flow at ``sigmas`` up to ``t_end`` on
    ``cells`` cells; holds when measured / bound <= 1 + ``tolerance``."""

    sigmas: tuple[float, ...] = (0.1, 0.3, 0.5)
    t_end: float = 1.0
    cells: int = 1200
    tolerance: float = TOLERANCE

    def __post_init__(self):
        object.__setattr__(self, "sigmas", tuple(float(s) for s in self.sigmas))
        if not self.sigmas or any(s <= 0 for s in self.sigmas):
            raise ValueError(f"sigmas {self.sigmas}: give noise levels > 0")
        if not (self.t_end > 0 and self.cells >= 16 and 0 < self.tolerance < 1):
            raise ValueError(f"t_end = {self.t_end}, cells = {self.cells}, tolerance = "
                             f"{self.tolerance}: need t_end > 0, cells >= 16, 0 < tolerance < 1")


def _trained(results: Mapping[str, dict]) -> dict | None:
    return results.get("robustness")


@register
class LipschitzStudy(Study):
    name = "lipschitz"
    title = "Lipschitz bound"
    config = LipschitzConfig
    version = 3  # 3: the tolerance stated, the grid's own change measured
    side_lane = True  # sympy/numpy on one core, no trained model

    def run(self, config: LipschitzConfig, folder: Path, models: Path) -> dict:
        from validation.doc.figures import save_figure

        from .heat import heat_lipschitz_check, lipschitz_figure

        check = heat_lipschitz_check(config.sigmas, config.t_end, config.cells,
                                     tolerance=config.tolerance)
        save_figure(lipschitz_figure(check), folder / "lipschitz.png")
        return check

    def claims(self, stages: Mapping[str, dict], results: Mapping[str, dict]) -> list[Claim]:
        li = next(iter(stages.values()))
        worst = max(r["ratio"] for r in li["rows"])
        rows = [Claim("Reference check: the heat-semigroup Lipschitz bound 1/(sigma sqrt(2 pi "
                      "T)) (pure diffusion v = 0, not the trained networks)",
                      "holds" if li["holds"] else "fails", "lipschitz",
                      "measured/bound = " + ", ".join(num(r["ratio"], 5) for r in li["rows"])
                      + f" (holds: every ratio <= 1 + {li['tolerance']:g}, the discretisation "
                      f"tolerance; largest {num(worst, 5)}; the grid's own change between "
                      f"{li['cells'] // 2} and {li['cells']} cells is at most "
                      f"{percent(max(r['grid_change'] for r in li['rows']), 2)} of the bound)"
                      + (" (attained by the step)" if li["attained"] else ""))]
        rob = _trained(results)
        lv = rob.get("lipschitz_verdict") if rob else None
        rows.append(Claim("Diffusion lowers the Lipschitz constant of the trained networks' "
                          "u(., T)", lv["verdict"] if lv else "inconclusive", "lipschitz",
                          evidence(lv) + linear_caveat(rob.get("rows", [])) if lv
                          else "not measured (feature dimension != 2)"))
        return rows

    def section(self, result: dict, stage: str, results: Mapping[str, dict]) -> Section:
        li = result
        blocks = [table(["sigma", "measured Lip u(., 1)", "bound", "ratio",
                         f"change from {li['cells'] // 2} cells"],
                        [[str(r["sigma"]), num(r["measured"], 5), num(r["bound"], 5),
                          num(r["ratio"], 5), percent(r["grid_change"], 2)]
                         for r in li["rows"]]),
                  para(f"Step function, pure diffusion, Crank-Nicolson on {li['cells']} cells; "
                       "the bound is attained by the step (theory.bounds), so a measured ratio "
                       f"slightly above 1 is discretisation error: the check holds when every "
                       f"ratio is at most 1 + {li['tolerance']:g}, and the last column shows the "
                       "discretisation's own change under refinement. This is a reference check "
                       "of the bound: the trained networks have v != 0.")]
        rob = _trained(results)
        by = {}
        for r in (rob or {}).get("rows", []):
            if "lipschitz" in r:
                by.setdefault(r["sigma"], []).append(r["lipschitz"]["network_autograd"])
        if by:
            import numpy as np

            blocks += [para("Trained networks (the claim \"diffusion lowers the Lipschitz "
                            "constant\"): max |grad_x p_c| of the noise-averaged network at the "
                            "test points, mean ± sd over seeds."),
                       table(["sigma", "measured Lip", "seeds"],
                             [[str(s), mean_sd(float(np.mean(v)), float(np.std(v, ddof=1))
                                               if len(v) > 1 else 0.0), str(len(v))]
                              for s, v in by.items()])]
            lv = rob.get("lipschitz_verdict")
            if lv:
                blocks += verdict_blocks(lv, "diffusion lowers the Lipschitz constant of the "
                                         "trained networks")
            else:
                blocks.append(para(strong("No verdict"), ": a sigma has no measurement."))
        blocks.append(Figure(f"{stage}/lipschitz.png", "measured Lipschitz constant of the "
                             "step's heat flow against the bound, by sigma"))
        return Section("lipschitz", self.title, tuple(blocks))
