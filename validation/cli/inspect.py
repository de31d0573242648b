"""`cdverify inspect`: read any torch residual network's stage as a flow and describe it on data."""

from __future__ import annotations

import argparse

EXAMPLE = ("cdverify inspect --model examples/byo_resnet.py:make_model --stage layer1 "
           "--data digits --out out/inspect")


def add_arguments(p: argparse.ArgumentParser) -> None:
    from .types import count, count0, noise_level, positive, seed, substep_list

    p.add_argument("--model", required=True,
                   help="FILE.py:FACTORY or module:FACTORY (a function of no arguments that "
                   "returns the nn.Module), or a toolkit model.pt (stage 'blocks')")
    p.add_argument("--stage", default=None,
                   help="path of the residual stage (a ModuleList, Sequential or ModuleDict of "
                   "blocks of one feature shape), e.g. layer1, enc.layers[0]; a slice, layer2[1:]"
                   " (after a downsampling block), or [1:4] of a model that is one Sequential")
    p.add_argument("--weights", default=None, help="a state dict to load into the model")
    p.add_argument("--data", default="moons",
                   help="a data set name (moons, circles, blobs, spirals, checkerboard, digits; "
                   "mnist1d, digits-img, cifar10:ROOT, image-folder:ROOT: their test split) or "
                   "an .npz file with an array x (and labels y)")
    p.add_argument("--T", dest="t_end", type=positive, default=1.0, help="T of the stage (h = T/L)")
    p.add_argument("--sigma", type=noise_level, default=0.0,
                   help="inject the paper's diffusion sigma sqrt(h) xi after every block")
    p.add_argument("--points", type=count, default=256, help="data points inspected")
    p.add_argument("--passes", type=count, default=32,
                   help="repeated passes for the measured diffusion Cov(Delta) / (2h)")
    p.add_argument("--jacobian-points", type=count0, default=8,
                   help="points at which each block's Jacobian norms are computed (0: none)")
    p.add_argument("--agreement-draws", type=int, default=256,
                   help="with --sigma > 0: coupled draws of the Feynman-Kac agreement (network "
                   "= semi-discrete = PDE in any dimension); 0 skips it")
    p.add_argument("--agreement-points", type=count, default=32,
                   help="points of the Feynman-Kac agreement")
    p.add_argument("--substeps", type=substep_list, default="auto",
                   help="sub-step counts per block of the agreement's levels, e.g. 1,2,4,8,16 "
                   "(1 first: the network); auto: 1..16, doubled up to 64 while the noiseless "
                   "flows do not converge at order 1")
    p.add_argument("--seed", type=seed, default=0, help="seed of the points and the noise")
    p.add_argument("--out", default="out/inspect", help="output folder")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    import torch

    from validation.nets.adapter import AdapterError
    from validation.nets.user import load_data, load_stage
    from validation.studies.inspect import run_inspect

    if args.agreement_draws < 0 or args.agreement_draws == 1:
        raise AdapterError(f"--agreement-draws {args.agreement_draws}: use 0 (skip) or >= 2")
    torch.manual_seed(args.seed)  # before the factory: --seed decides untrained weights too
    stage = load_stage(args.model, args.stage, weights=args.weights, t_end=args.t_end)
    x, y = load_data(args.data, seed=args.seed)
    config = {k: getattr(args, k) for k in ("model", "stage", "weights", "data", "t_end",
                                            "sigma", "points", "passes", "jacobian_points",
                                            "substeps")}
    run_inspect(stage, x, y, args.out, sigma=args.sigma, points=args.points,
                passes=args.passes, jacobian_points=args.jacobian_points, seed=args.seed,
                config=config, agreement_draws=args.agreement_draws,
                agreement_points=args.agreement_points, substeps=args.substeps)
    print((Path(args.out) / "summary.md").read_text())
    return 0
