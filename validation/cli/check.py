"""`cdverify check`: the paper's claims (training method, robustness, Lipschitz, agreement,
Rademacher) on a conv ResNet or a user's network over paired seeds."""

from __future__ import annotations

import argparse

EXAMPLE = ("cdverify check --model resnet1d --data mnist1d --sigmas 0,0.1,0.3 "
           "--techniques enresnet,dropout --seeds 10 --out out/check")


def _claims(text: str) -> tuple[str, ...]:
    from validation.studies.check.config import CLAIMS

    items = tuple(s.strip() for s in text.split(","))
    bad = [c for c in items if c not in CLAIMS]
    if bad or not items:
        raise argparse.ArgumentTypeError(f"unknown claim {bad[0] if bad else text!r}; valid: "
                                         f"{', '.join(CLAIMS)}")
    return items


def add_arguments(p: argparse.ArgumentParser) -> None:
    from .types import count, count0, noise_levels, positive, substep_list

    p.add_argument("--model", default="resnet1d",
                   help="resnet1d (C x W inputs), resnet2d (C x H x W), or FILE.py:FACTORY / "
                   "module:FACTORY (a function of no arguments returning the nn.Module)")
    p.add_argument("--stage", default=None,
                   help="a user model's residual stage, e.g. layer1 (or a slice: layer2[1:]; "
                   "[1:4] alone: blocks 1-3 of a model that is one nn.Sequential)")
    p.add_argument("--data", default="mnist1d",
                   help="mnist1d, digits-img, cifar10:ROOT or image-folder:ROOT (local folders)")
    p.add_argument("--sigmas", type=noise_levels, default=(0.0, 0.1, 0.3),
                   help="the paper's method at these sigma (0: the plain baseline)")
    p.add_argument("--techniques", default="enresnet,dropout",
                   help="other techniques, NAME or NAME=STRENGTH (enresnet: c, dropout: p); "
                   "'' for none")
    p.add_argument("--seeds", type=count, default=10, help="paired seeds 0..N-1")
    p.add_argument("--claims", type=_claims,
                   default=("training", "robustness", "lipschitz", "agreement", "rademacher"),
                   help="comma-separated claims")
    p.add_argument("--blocks", type=count, default=4, help="residual blocks L (built-in models)")
    p.add_argument("--width", type=count, default=32, help="channels (built-in models)")
    p.add_argument("--T", dest="t_end", type=positive, default=1.0, help="T of the stage")
    p.add_argument("--epochs", type=count, default=20, help="training epochs per network")
    p.add_argument("--lr", type=positive, default=1e-2, help="one-cycle peak learning rate")
    p.add_argument("--passes", type=count, default=16,
                   help="passes the deployed predictor averages")
    p.add_argument("--attack-points", type=count, default=200,
                   help="test points attacked (and whose input-gradients are measured)")
    p.add_argument("--certify-points", type=count0, default=100,
                   help="test points certified by randomized smoothing (0: no certificate)")
    p.add_argument("--certify-n", type=count, default=1000,
                   help="draws of the smoothing bound (the largest radius is 2.46 s at 1000)")
    p.add_argument("--smoothing", type=positive, default=None,
                   help="input noise s of randomized smoothing (default: the l2 radius / 2)")
    p.add_argument("--no-library", dest="library", action="store_false",
                   help="leave out the maintained attack library (ART) even where installed")
    p.add_argument("--substeps", type=substep_list, default="auto",
                   help="sub-step counts per block of the agreement's levels, e.g. 1,2,4,8,16 "
                   "(1 first: the network); auto: 1..16, doubled up to 64 while the noiseless "
                   "flows do not converge at order 1")
    p.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    p.add_argument("--workers", type=count, default=2,
                   help="processes for the networks (each on one torch thread wherever it runs, "
                        "so the numbers do not depend on it; this process also takes networks)")
    p.add_argument("--out", default="out/check", help="output folder (models cached inside)")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from validation.nets.benchmark_data import BENCHMARK_NAMES, is_benchmark
    from validation.nets.errors import AdapterError

    # the refusals that need only the values come before the imports of torch
    if 0.0 not in args.sigmas:
        raise AdapterError(f"--sigmas {','.join(map(str, args.sigmas))}: include 0, the plain "
                           "baseline every setting is paired with")
    if not is_benchmark(args.data):
        raise AdapterError(f"--data {args.data!r}; valid: {', '.join(BENCHMARK_NAMES)}")

    from validation.nets.convnets import FACTORIES
    from validation.nets.train import resolve_device
    from validation.studies.check import CheckConfig, parse_techniques, run_check

    if ":" not in args.model and args.model not in FACTORIES:
        raise AdapterError(f"--model {args.model!r}: valid: {', '.join(FACTORIES)} or "
                           "FILE.py:FACTORY")
    resolve_device(args.device)
    settings = parse_techniques(args.techniques, args.sigmas)
    if len(settings) < 2:
        raise AdapterError("nothing to compare: give a sigma > 0 or --techniques")
    cfg = CheckConfig(model=args.model, stage=args.stage, data=args.data, settings=settings,
                      seeds=args.seeds, claims=args.claims, blocks=args.blocks,
                      width=args.width, t_end=args.t_end, epochs=args.epochs, lr=args.lr,
                      passes=args.passes, attack_points=args.attack_points,
                      lipschitz_points=args.attack_points, device=args.device,
                      certify_points=args.certify_points, certify_n=args.certify_n,
                      smoothing_sigma=args.smoothing, library=args.library,
                      substeps=args.substeps, workers=args.workers)
    run_check(cfg, args.out)
    print((Path(args.out) / "summary.md").read_text())
    return 0
