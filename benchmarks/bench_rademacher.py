"""Batched (vmap over K stacked parameter sets) against a per-draw loop, same problem, K = 32.

    python benchmarks/bench_rademacher.py [--points 200] [--samples 1] [--steps 30]

Both runs use the same signs, starting points and optimiser, so the estimates agree; the ratio
of wall times is printed. Single thread.
"""

from __future__ import annotations

import argparse
import time

import torch

from validation.data import make_dataset
from validation.rademacher import network_estimate
from validation.train import TrainConfig, build_model


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--points", type=int, default=200)
    ap.add_argument("--samples", type=int, default=1, help="common noise draws S")
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--draws", type=int, default=32)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    data = make_dataset("moons", 1200, seed=0)
    model = build_model(TrainConfig(sigma=0.3), data)
    x = data.x_train[: args.points]
    kw = {"draws": args.draws, "steps": args.steps, "noise_samples": args.samples, "seed": 3}
    network_estimate(model, x, **{**kw, "steps": 2})  # warm-up
    t0 = time.perf_counter()
    loop = network_estimate(model, x, batched=False, **kw)
    t_loop = time.perf_counter() - t0
    t0 = time.perf_counter()
    batch = network_estimate(model, x, batched=True, **kw)
    t_batch = time.perf_counter() - t0
    print(f"K = {args.draws}, m = {args.points}, S = {args.samples}, steps = {args.steps}")
    print(f"per-draw loop: {t_loop:.2f} s (estimate {loop.mean:.4f})")
    print(f"batched vmap:  {t_batch:.2f} s (estimate {batch.mean:.4f})")
    print(f"speed ratio: {t_loop / t_batch:.1f}x")


if __name__ == "__main__":
    main()
