"""The toolkit's training loop (validation.nets.fit: adapter, technique hooks, one-cycle
schedule, tqdm, an atomic checkpoint after every epoch) against a bare torch loop of the same
model, data, optimiser, schedule and batches, in the same process: the per-epoch ratio.

    python benchmarks/bench_train_loop.py [--data mnist1d] [--epochs 4] [--technique plain]

Both loops train identical copies from the same initial weights; the first epoch of each is
reported apart (cold: allocator and kernels warming up), the median of the rest as warm. The
issue's target: the toolkit's loop costs at most 10% more per epoch (ratio <= 1.10).
"""

from __future__ import annotations

import argparse
import copy
import statistics
import tempfile
import time
from pathlib import Path

import torch
from torch import nn

from validation.nets.benchmark_data import load_benchmark
from validation.nets.convnets import build_network, conv_stage
from validation.nets.fit import FitConfig, fit
from validation.nets.techniques import injected


def bare(model, x, y, cfg: FitConfig, stage) -> list[float]:
    """The same training in the plainest torch: no checkpoint, no progress bar."""
    X, Y = torch.as_tensor(x), torch.as_tensor(y)
    steps = (len(X) + cfg.batch_size - 1) // cfg.batch_size
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr / 25, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, cfg.lr, total_steps=cfg.epochs * steps)
    g = torch.Generator().manual_seed(cfg.seed + 11)
    noise = torch.Generator().manual_seed(cfg.seed + 13)
    times = []
    with injected(stage, cfg.technique, cfg.strength, noise):
        for _ in range(cfg.epochs):
            t0 = time.perf_counter()
            model.train()
            for idx in torch.randperm(len(X), generator=g).split(cfg.batch_size):
                loss = nn.functional.cross_entropy(model(X[idx]), Y[idx])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
            times.append(time.perf_counter() - t0)
    return times


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="mnist1d")
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--technique", default="plain")
    ap.add_argument("--strength", type=float, default=0.0)
    args = ap.parse_args(argv)
    data = load_benchmark(args.data)
    name = "resnet1d" if len(data.shape) == 2 else "resnet2d"
    model = build_network(name, data, seed=0)
    twin = copy.deepcopy(model)
    cfg = FitConfig(technique=args.technique, strength=args.strength, epochs=args.epochs)
    with tempfile.TemporaryDirectory() as tmp:
        t_bare = bare(twin, data.x_train, data.y_train, cfg, conv_stage(twin))
        t0 = time.perf_counter()
        hist = fit(conv_stage(model), data.x_train, data.y_train, cfg,
                   checkpoint=Path(tmp) / "ck.pt", progress=True)
        fit_wall = time.perf_counter() - t0
    t_fit = hist["seconds"]
    warm_b, warm_f = statistics.median(t_bare[1:]), statistics.median(t_fit[1:])
    print(f"{args.data}, {name}, technique {args.technique} {args.strength:g}, "
          f"{torch.get_num_threads()} torch threads")
    print("| loop | first epoch s (cold) | median later epoch s (warm) |")
    print("|---|---|---|")
    print(f"| bare torch (baseline) | {t_bare[0]:.3f} | {warm_b:.3f} |")
    print(f"| validation.nets.fit | {t_fit[0]:.3f} | {warm_f:.3f} |")
    print(f"| validation.nets.fit, whole call per epoch (checkpoints, set-up included) | | "
          f"{fit_wall / args.epochs:.3f} |")
    print(f"ratio (warm) fit / bare = {warm_f / warm_b:.3f}; whole call / bare mean = "
          f"{fit_wall / sum(t_bare):.3f}  (target <= 1.10)")


if __name__ == "__main__":
    main()
