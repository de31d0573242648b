"""The Rademacher lower estimate: K sign draws optimised together against a per-draw loop.

    python benchmarks/bench_rademacher.py [--points 100,200,500] [--draws 32] [--steps 30]

Same signs, starting points and optimiser in every variant, so the estimates agree (printed).
Variants: the per-draw loop (float64, the baseline), vmap over functional_call (float64, the
former batched code), one stacked batched pass (float64), the same in float32 (the Rademacher
sweep's default). Ratios are baseline time / variant time, in the same process, at 1 thread
and at 2 threads.

The last column is the floor that no batching of the K draws can go below: the same number of
forward and backward passes of ONE network over the K x S x m rows that the K networks see
together (the same arithmetic as the stacked pass, with one weight matrix per layer instead of
K, and no projection or ascent step). baseline / floor is the largest speed-up batching can give
at that m: where it is below 10, the loop is already bound by arithmetic, not by Python.
"""

from __future__ import annotations

import argparse
import time

import torch

from validation.nets.data import make_dataset
from validation.nets.models import stacked_logits
from validation.nets.train import TrainConfig, build_model
from validation.studies.rademacher.estimate import common_noise, network_estimate

VARIANTS = (("per-draw loop, float64", False, "float64"),
            ("vmap, float64", "vmap", "float64"),
            ("stacked, float64", True, "float64"),
            ("stacked, float32", True, "float32"))


def floor_time(model, x, draws: int, samples: int, steps: int, dtype=torch.float32) -> float:
    """Seconds of ``steps + 1`` forward passes and ``steps`` backward passes of one network over
    the draws x samples x m rows (the stacked pass's arithmetic with a single parameter set)."""
    import copy

    net = copy.deepcopy(model).to(dtype)
    m = x.shape[0]
    noise = common_noise(net, m, samples, 1)
    rows = draws * max(samples, 1) if noise is not None else draws
    X = torch.tensor(x, dtype=dtype).repeat(rows, 1)
    noise = None if noise is None else [n.to(dtype).repeat(draws, 1) for n in noise]
    params = {n: p.detach().clone()[None].requires_grad_(True)
              for n, p in net.named_parameters()}
    t0 = time.perf_counter()
    for _ in range(steps):
        logits = stacked_logits(net, params, X, noise)
        (logits[..., 1] - logits[..., 0]).mean().backward()
        for p in params.values():
            p.grad = None
    with torch.no_grad():
        stacked_logits(net, params, X, noise)
    return time.perf_counter() - t0


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
    print("| threads | m | " + " | ".join(v[0] for v in VARIANTS) + " | floor, float32 |")
    print("|---" * (3 + len(VARIANTS)) + "|")
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
            times.append(floor_time(model, x, args.draws, args.samples, args.steps))
            cells = [f"{t:.2f} s ({times[0] / t:.1f}x)" for t in times]
            print(f"| {threads} | {m} | " + " | ".join(cells) + " |")
            spread = max(means) - min(means)
            print(f"|   | estimates agree to {spread:.1e} ({means[0]:.6f}) |")


if __name__ == "__main__":
    main()
