"""Chunks bounded in bytes (CHUNK_BYTES) against the former row counts, in the same process:
the deployed predictor's passes (``predict_proba``, 4096 rows per chunk before) and the
Feynman-Kac levels (``coupled_levels``, 32 draws per chunk before) on a conv stage.

    python benchmarks/bench_chunks.py [--data digits-img] [--width 32] [--points 450]

One torch thread; each variant run twice, alternated, the faster run shown. Wall, user and
kernel (system) seconds; the kernel's share is the
page faults of tensors too large for the allocator to keep (mapped afresh at every operation).
The unbounded baseline runs with the bound lifted (CHUNK_BYTES set to 2^62 for that run); the
numbers differ between the two runs (the draws go to other rows), their distribution does not.
"""

from __future__ import annotations

import argparse
import resource
import time

import torch

import validation.nets.techniques as techniques
import validation.studies.feynman_kac as fk
from validation.nets.benchmark_data import load_benchmark
from validation.nets.convnets import build_network, conv_stage


def timed(fn) -> tuple[float, float, float]:
    """(wall, user, system) seconds of fn()."""
    r0, t0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    fn()
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    return time.perf_counter() - t0, r1.ru_utime - r0.ru_utime, r1.ru_stime - r0.ru_stime


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="digits-img")
    ap.add_argument("--width", type=int, default=32)
    ap.add_argument("--blocks", type=int, default=4)
    ap.add_argument("--points", type=int, default=450, help="test points predicted")
    ap.add_argument("--fk-points", type=int, default=64)
    ap.add_argument("--fk-draws", type=int, default=32)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    data = load_benchmark(args.data)
    torch.manual_seed(0)
    net = build_network("resnet2d" if data.x_train.ndim == 4 else "resnet1d", data,
                        blocks=args.blocks, width=args.width)
    stage = conv_stage(net)
    x = torch.as_tensor(data.x_test[: args.points])
    stage.probe(x[:2])
    z = stage.features(x[:1])
    print(f"{args.data}: features {' x '.join(map(str, z.shape[1:]))} "
          f"({z.numel() * z.element_size()} bytes per row), one thread")
    jobs = {
        f"predict_proba, {args.points} points x 16 passes": lambda: techniques.predict_proba(
            stage, x, "paper", 0.1, passes=16, seed=0),
        f"coupled_levels, {args.fk_points} points x {args.fk_draws} draws, r = 1..16":
            lambda: fk.coupled_levels(stage, x[: args.fk_points], sigma=0.1,
                                      substeps=(1, 2, 4, 8, 16), draws=args.fk_draws),
    }
    bound = techniques.CHUNK_BYTES
    print("| work | unbounded: wall / user / kernel s | bounded | ratio |")
    print("|---|---|---|---|")
    for name, job in jobs.items():
        job()  # warm-up (kernels, first allocations)
        runs = {}
        for _ in range(2):  # alternated, the faster of two each (the machine drifts)
            for key, value in (("base", 2**62), ("now", bound)):
                techniques.CHUNK_BYTES = fk.CHUNK_BYTES = value
                t = timed(job)
                runs[key] = min(runs.get(key, t), t)
        techniques.CHUNK_BYTES = fk.CHUNK_BYTES = bound
        base, now = runs["base"], runs["now"]
        print(f"| {name} | {' / '.join(f'{v:.2f}' for v in base)} | "
              f"{' / '.join(f'{v:.2f}' for v in now)} | {base[0] / now[0]:.2f}x |")


if __name__ == "__main__":
    main()
