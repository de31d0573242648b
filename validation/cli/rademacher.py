"""`cdverify rademacher`: empirical Rademacher complexity against the bounds, over a sigma sweep."""

from __future__ import annotations

import argparse

EXAMPLE = "cdverify rademacher --sigmas 0,0.3 --seeds 3 --out out/rademacher"


def add_arguments(p: argparse.ArgumentParser) -> None:
    from validation.stats.paired import DELTA_RELATIVE

    from .common import add_sweep_arguments
    from .types import count, effect

    add_sweep_arguments(p)
    p.add_argument("--points", type=count, default=100, help="sample size m (training points)")
    p.add_argument("--draws", type=count, default=16, help="sign draws K")
    p.add_argument("--steps", type=count, default=60, help="ascent steps per draw")
    p.add_argument("--norm", default="frobenius", choices=["frobenius", "spectral"],
                   help="norm of the weight balls")
    p.add_argument("--noise-samples", type=count, default=4, help="common noise draws S")
    p.add_argument("--delta", type=effect, default=DELTA_RELATIVE,
                   help="smallest effect of interest, a fraction of the sigma = 0 complexity "
                        "('refuted at delta' when no sigma reduces it by that much)")
    p.add_argument("--device", default="cpu", help="cpu or cuda (training only)")
    p.add_argument("--out", default="out/rademacher",
                   help="output folder (also caches the trained models)")


def spec(args: argparse.Namespace):
    from validation.studies.rademacher.sweep import RademacherSweep

    return RademacherSweep(data=args.data, sigmas=args.sigmas, seeds=args.seeds,
                           epochs=args.epochs, points=args.points, draws=args.draws,
                           steps=args.steps, norm=args.norm, noise_samples=args.noise_samples,
                           device=args.device, delta=args.delta, workers=args.workers)


def run(args: argparse.Namespace) -> int:
    from validation.studies.rademacher import sweep as rademacher_sweep

    from .common import run_sweep_command

    return run_sweep_command(args, "rademacher", spec(args), rademacher_sweep,
                             f"Rademacher complexity, {args.data}")
