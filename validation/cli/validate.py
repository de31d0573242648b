"""`cdverify validate`: train (or load) a diffusion ResNet and run the three-way agreement."""

from __future__ import annotations

import argparse

EXAMPLE = "cdverify validate --data moons --sigma 0.3 --epochs 60 --out out/validate"


def add_arguments(p: argparse.ArgumentParser) -> None:
    from validation.nets.data import NAMES

    from .types import agreement_grid, count, noise_level, nonnegative, positive, seed

    p.add_argument("--data", default="moons", choices=NAMES,
                   help="data set (digits: 64 pixels, encoded into 2-D features)")
    p.add_argument("--sigma", type=noise_level, default=0.3, help="noise level (0: plain ResNet)")
    p.add_argument("--blocks", type=count, default=10, help="number of residual blocks L")
    p.add_argument("--T", dest="t_end", type=positive, default=1.0, help="depth T (h = T/L)")
    p.add_argument("--epochs", type=count, default=100, help="training epochs")
    p.add_argument("--seed", type=seed, default=0, help="seed of data split, weights and noise")
    p.add_argument("--weight-decay", type=nonnegative, default=0.0, help="Adam weight decay")
    p.add_argument("--flow-penalty", type=nonnegative, default=0.02,
                   help="lambda of the kinetic-energy penalty lambda int |v|^2 dt: keeps the flow "
                   "(and the PDE box) moderate")
    p.add_argument("--grid", type=agreement_grid, default=128,
                   help="grid cells per axis for PDE/recursion (the grid study also runs at a "
                   "quarter and twice of it)")
    p.add_argument("--test-points", type=count, default=100, help="test points compared")
    p.add_argument("--model", default=None, help="load this model.pt instead of training")
    p.add_argument("--device", default="cpu", help="cpu or cuda (training only)")
    p.add_argument("--out", default="out/validate", help="output folder")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from validation.nets.train import TrainConfig, load_model, refuse_overrides, resolve_device
    from validation.studies.agreement.experiment import validate

    resolve_device(args.device)
    model = None
    if args.model:
        model, cfg = load_model(args.model, args.device)
        defaults = argparse.ArgumentParser()
        add_arguments(defaults)  # a model's own config replaces the training options
        refuse_overrides(args.model, cfg, vars(args), vars(defaults.parse_args([])))
    else:
        cfg = TrainConfig(data=args.data, sigma=args.sigma, blocks=args.blocks,
                          t_end=args.t_end, epochs=args.epochs, seed=args.seed,
                          weight_decay=args.weight_decay,
                          flow_penalty=args.flow_penalty, device=args.device)
    validate(cfg, args.out, grid_n=args.grid, test_points=args.test_points, model=model)
    print((Path(args.out) / "summary.md").read_text())
    return 0
