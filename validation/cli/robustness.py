"""`cdverify robustness`: attacks, ground truth, certificates and the verdict over a sigma sweep."""

from __future__ import annotations

import argparse

EXAMPLE = "cdverify robustness --sigmas 0,0.3 --seeds 3 --out out/robustness"


def add_arguments(p: argparse.ArgumentParser) -> None:
    from validation.stats.paired import DELTA_ROBUST_ACCURACY

    from .common import add_sweep_arguments
    from .types import count, effect, nonnegative_list, positive

    add_sweep_arguments(p)
    p.add_argument("--eps", default="0,0.02,0.05,0.1,0.2,0.4", type=nonnegative_list,
                   help="linf eps grid ([0,1] inputs)")
    p.add_argument("--eps-l2", default="0,0.03,0.07,0.14,0.28,0.56", type=nonnegative_list,
                   help="l2 eps grid")
    p.add_argument("--points", type=count, default=60, help="test points attacked")
    p.add_argument("--K", type=count, default=32, help="noise draws of the deployed predictor")
    p.add_argument("--steps", type=count, default=15, help="PGD steps")
    p.add_argument("--delta", type=effect, default=DELTA_ROBUST_ACCURACY,
                   help="smallest effect of interest: a gain in mean robust accuracy (linf "
                        "grid) below it is no improvement ('refuted at delta')")
    p.add_argument("--device", default="cpu", help="cpu or cuda (training only)")
    p.add_argument("--library", action="store_true",
                   help="add the maintained attack library (ART: APGD-CE, APGD-DLR, Square) "
                   "to the AND over attacks (pip install 'cdverify[attacks]')")
    p.add_argument("--smoothing", type=positive, default=None,
                   help="input noise s of the randomized-smoothing certificate for every "
                   "model (default: each network's own sigma sqrt(T), none at sigma = 0)")
    p.add_argument("--bracket", action="store_true",
                   help="2-D inputs: check certified <= exact <= attack radius of the smoothed "
                   "network at every certified point")
    p.add_argument("--out", default="out/robustness",
                   help="output folder (also caches the trained models)")


def spec(args: argparse.Namespace):
    from validation.studies.robustness.sweep import RobustnessSweep

    return RobustnessSweep(data=args.data, sigmas=args.sigmas, seeds=args.seeds,
                           epochs=args.epochs, eps_linf=args.eps, eps_l2=args.eps_l2,
                           points=args.points, K=args.K, steps=args.steps, device=args.device,
                           delta=args.delta, workers=args.workers, library=args.library,
                           smoothing=args.smoothing, bracket=args.bracket)


def run(args: argparse.Namespace) -> int:
    from validation.studies.robustness import sweep as robustness_sweep

    from .common import run_sweep_command

    return run_sweep_command(args, "robustness", spec(args), robustness_sweep,
                             f"Robustness, {args.data}")
