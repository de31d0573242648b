"""The check in the report and in sweeps: the paper's claims on a trained conv ResNet (the
full profile's MNIST-1D stage ``check``; others ``check-DATA``), one claims-table row per
claim and compared setting, labelled with the data and the architecture.

A sweep job of kind ``check`` is one (data, sigma, seed, blocks): sigma = 0 trains the plain
network and every technique of the table's ``techniques`` (they share the seed's initial
weights), sigma > 0 the paper's method at that sigma; the sweep's verdicts pair them by seed
with the check's own rules (study.verdicts).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import ClassVar

from validation.doc import Section
from validation.doc.numbers import estimate, num
from validation.stats.present import evidence

from ..registry import Claim, Study, flagged, register
from .config import CheckConfig, Setting, parse_techniques

#: what each claim of the check says (its rows name the setting, data and architecture)
CLAIM_TEXT = {"training": "improves the clean test accuracy of the deployed predictor",
              "robustness": "improves linf robust accuracy (attacks, upper estimate)",
              "robustness-l2": "improves l2 robust accuracy (attacks, upper estimate)",
              "robustness-certified": "improves certified l2 accuracy (randomized smoothing, "
                                      "lower estimate)",
              "lipschitz": "lowers the input-gradient norm of the noise-averaged predictor"}

#: a compared setting's paired status (stats.paired) as a claims-table status
STATUS_OF = {"better": "holds", "worse": "fails", "inconclusive": "inconclusive",
             "undecidable": "inconclusive"}


def setting_status(status: str) -> str:
    """The claims-table status of one setting's paired status: better -> holds, worse ->
    fails, 'equivalent within d' and 'no gain >= d' -> refuted at delta, else inconclusive."""
    if status.startswith(("equivalent", "no gain")):
        return "refuted at delta"
    return STATUS_OF.get(status, "inconclusive")


def _technique_name(label: str) -> str:
    name = label.split(" ", 1)[0]
    return {"paper": "The paper's training method", "enresnet": "EnResNet-style noise",
            "dropout": "Dropout on the residual branch"}.get(name, name) + \
        (f" ({label.split(' ', 1)[1]})" if " " in label else "")


def claim_rows(result: dict, stage: str) -> list[Claim]:
    """One row per (claim, compared setting) of a check's verdicts; a row whose networks
    missed their anchor, or whose robustness measurements were flagged suspect, says so."""
    cfg = result["config"]
    from .present import user_stage

    user = user_stage(result, cfg)
    arch = f"({user})" if user else f"L = {cfg['blocks']}, width {cfg['width']}"
    where = (f"{result['data']}, {result.get('model', cfg['model'])} {arch}, "
             f"{cfg['seeds']} paired seeds")
    rows = []
    suspect = result.get("masking_flags") or []
    for claim, v in result["verdicts"].items():
        if claim not in CLAIM_TEXT or not v.get("rows"):
            continue
        for r in v["rows"]:
            failed = {}
            if r.get("anchor", "met") != "met":
                failed["anchor missed"] = r["anchor"]
            if claim.startswith("robustness"):
                mine = [f for f in suspect if f.startswith(f"{r['setting']} seed")
                        or f.startswith("plain seed")]
                if mine:
                    failed["suspect attacks"] = f"{len(mine)} runs"
            # a row without seed-to-seed spread, or of one seed, has no interval and no MDE
            # (null in the results): n/a, as in the check's own tables
            ev = (f"{r['setting']} vs plain: {r['status']}, effect "
                  f"{estimate(r['improvement'], *r['ci95'])}, MDE {num(r['mde'])}, seeds "
                  f"for 80% power {num(r['seeds_needed'])}; family: {evidence(v)}")
            rows.append(flagged(f"{_technique_name(r['setting'])} {CLAIM_TEXT[claim]} "
                                f"({where})", setting_status(r["status"]), stage, ev, failed))
    return rows


@register
class CheckStudy(Study):
    name = "check"
    title = "The paper's claims on a trained conv ResNet"
    config = CheckConfig
    # 2: the Feynman-Kac verdict reads the local orders; 3: and the levels' noiseless flows
    version = 3
    sweep_headline = "accuracy"
    sweep_decides = True
    # sigma 0 jobs train plain and these techniques; every value a CheckConfig field; model
    # "auto": resnet1d on mnist1d, resnet2d on images; stage: a user's model's residual stage
    # (model = "FILE.py:FACTORY"), else ""; delta: the training claim's (robustness 0.02 and
    # Lipschitz 10% as in check)
    sweep_defaults: ClassVar[dict] = {
        "techniques": "dropout", "claims": "training,robustness,lipschitz", "model": "auto",
        "width": 32, "t_end": 1.0, "passes": 16, "attack_points": 100, "attack_passes": 8,
        "pgd_steps": 20, "square_iters": 200, "certify_points": 100, "lipschitz_points": 200,
        "delta": 0.01, "stage": ""}

    def stage(self, config, index: int = 0) -> str:
        return self.name if index == 0 else f"{self.name}-{config.data.split(':', 1)[0]}"

    def run(self, config: CheckConfig, folder: Path, models: Path) -> dict:
        from .study import run_check

        return run_check(config, folder, progress=False, models=Path(models) / "check")

    def claims(self, stages: Mapping[str, dict], results: Mapping[str, dict]) -> list[Claim]:
        return [row for stage, res in stages.items() for row in claim_rows(res, stage)]

    def section(self, result: dict, stage: str, results: Mapping[str, dict]) -> Section:
        from .present import blocks

        return Section(stage, f"{self.title} ({result['data']}, {result['model']})",
                       tuple(blocks(result, result["config"])))

    # -- sweeps ----------------------------------------------------------------------------
    def job_config(self, job: dict) -> CheckConfig:
        """The CheckConfig of one sweep job: its settings are those the job trains."""
        p = job["params"]
        if job["sigma"] > 0:
            settings = (Setting("plain"), Setting("paper", float(job["sigma"])))
        else:
            settings = parse_techniques(p["techniques"])
        claims = tuple(c for c in (x.strip() for x in p["claims"].split(",")) if c)
        model = p["model"]
        if model == "auto":  # the built-in network of the data's rank
            model = "resnet1d" if job["data"] == "mnist1d" else "resnet2d"
        elif ":" not in model and model not in ("resnet1d", "resnet2d"):
            raise ValueError(f"model = {model!r}: valid: auto, resnet1d, resnet2d or "
                             "FILE.py:FACTORY (with stage = its residual stage)")
        return CheckConfig(model=model, stage=p.get("stage") or None, data=job["data"],
                           settings=settings, seeds=1,
                           claims=claims, blocks=job["blocks"], width=p["width"],
                           t_end=p["t_end"], epochs=job["epochs"], passes=p["passes"],
                           attack_points=p["attack_points"], attack_passes=p["attack_passes"],
                           pgd_steps=p["pgd_steps"], square_iters=p["square_iters"],
                           certify_points=p["certify_points"],
                           lipschitz_points=p["lipschitz_points"])

    def sweep_data(self, data: str) -> bool:
        from validation.nets.benchmark_data import is_benchmark

        return is_benchmark(data)

    def sweep_check(self, job: dict) -> None:
        self.job_config(job | {"sigma": 0.0})
        cfg = self.job_config(job)
        if cfg.stage:  # a user's model: its stage read on two points before any job runs
            from validation.nets.benchmark_data import load_benchmark

            from .study import build

            build(cfg, load_benchmark(cfg.data), 0)

    def sweep_job(self, job: dict, root: Path) -> dict:
        from validation.nets.benchmark_data import load_benchmark

        from .study import run_model

        cfg = self.job_config(job)
        data = load_benchmark(cfg.data)
        # sigma > 0: only the paper's method (plain is the sigma = 0 job of the same seed)
        settings = cfg.settings if job["sigma"] == 0 else cfg.settings[1:]
        seed = job["seed"]
        runs = []
        for s in settings:
            # the models of a seed share its initial weights: run_model builds from seed
            r = run_model(cfg, data, s, seed, root / "models" / "check")
            runs.append(r)
        head = runs[0]
        return {"accuracy": head["accuracy"],
                **({"robust_linf": head["robustness"]["robust_linf"]}
                   if "robustness" in head else {}),
                **({"lipschitz": head["lipschitz"]["mean"]} if "lipschitz" in head else {}),
                "row": {"sigma": job["sigma"], "seed": seed, "data": job["data"],
                        "blocks": job["blocks"], "epochs": job["epochs"], "runs": runs}}

    def sweep_verdicts(self, rows: list[dict], sigmas: list[float], params: dict,
                       delta: float) -> dict:
        from dataclasses import replace

        from validation.nets.benchmark_data import load_benchmark

        from .study import assemble

        runs = [r for row in rows for r in row["runs"]]
        first = rows[0]
        job = {"data": first["data"], "sigma": 0.0, "blocks": first["blocks"],
               "epochs": first["epochs"], "params": params}
        cfg = replace(self.job_config(job),
                      settings=parse_techniques(params["techniques"], sigmas),
                      seeds=len({r["seed"] for r in runs}))
        data = load_benchmark(cfg.data)
        built = None
        if cfg.stage:  # a user's model: how its stage was read, as check records it
            from .study import build, stage_summary

            built = stage_summary(build(cfg, data, 0), data, cfg.model)
        result = assemble(cfg, data, runs, sum(r["seconds"] for r in runs),
                          training_delta=delta, stage=built)
        return {"verdict": result["verdicts"].get("training", {"verdict": "not run"}),
                "check": result}
