"""The Rademacher lower estimate: K sign draws optimised together against a per-draw loop.

    python benchmarks/bench_rademacher.py [--points 100,200,500] [--draws 32] [--steps 30]

Same signs, starting points and optimiser in every variant, so the estimates agree (printed).
Variants: the per-draw loop (float64, the baseline), vmap over functional_call (float64, the
former batched code), one stacked batched pass (float64), the same in float32 (the Rademacher
sweep's default). Ratios are baseline time / variant time, in the same process, at 1 thread
and at 2 threads.
"""

from __future__ import annotations

import argparse
import time

import torch

from validation.nets.data import make_dataset
from validation.nets.train import TrainConfig, build_model
from validation.studies.rademacher.estimate import network_estimate

VARIANTS = (("per-draw loop, float64", False, "float64"),
            ("vmap, float64", "vmap", "float64"),
            ("stacked, float64", True, "float64"),
            ("stacked, float32", True, "float32"))


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--points", default="100,200,500", help="sample sizes m")
    ap.add_argument("--samples", type=int, default=2, help="common noise draws S")
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--draws", type=int, default=32)
    ap.add_argument("--threads", default="1,2")
    args = ap.parse_args(argv)
    data = make_dataset("moons", 1200, seed=0)
    model = build_model(TrainConfig(sigma=0.3), data)
    print(f"K = {args.draws}, S = {args.samples}, steps = {args.steps}, sigma = 0.3, L = 10")
    print("| threads | m | " + " | ".join(v[0] for v in VARIANTS) + " |")
    print("|---" * (2 + len(VARIANTS)) + "|")
    for threads in (int(t) for t in args.threads.split(",")):
        torch.set_num_threads(threads)
        for m in (int(p) for p in args.points.split(",")):
            x = data.x_train[:m]
            kw = {"draws": args.draws, "steps": args.steps, "noise_samples": args.samples,
                  "seed": 3}
            network_estimate(model, x, **{**kw, "steps": 2})  # warm-up
            times, means = [], []
            for _, batched, dtype in VARIANTS:
                t0 = time.perf_counter()
                est = network_estimate(model, x, batched=batched, dtype=dtype, **kw)
                times.append(time.perf_counter() - t0)
                means.append(est.mean)
            cells = [f"{t:.2f} s ({times[0] / t:.1f}x)" for t in times]
            print(f"| {threads} | {m} | " + " | ".join(cells) + " |")
            spread = max(means) - min(means)
            print(f"|   | estimates agree to {spread:.1e} ({means[0]:.6f}) |")


if __name__ == "__main__":
    main()
