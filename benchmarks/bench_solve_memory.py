"""Peak memory of `cdverify solve` (run_example: solve, figures, GIF) against the estimate
its refusal uses (validation.studies.flows.examples.memory_estimate).

    python benchmarks/bench_solve_memory.py                 # the table of the estimate's notes
    python benchmarks/bench_solve_memory.py --one rotation crank-nicolson 512

Each run is a fresh process; the peak is its maximum resident set size less the resident size
after the imports (what the solve itself adds). The example is cut short to t_end = 0.005
(a few steps): the operators, factorisations, stage arrays and figures that set the peak are
the same as in the full run; the snapshots are counted by the estimate separately.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

PROBE = """
import dataclasses, json, resource, sys, tempfile
import matplotlib
matplotlib.use("Agg")
from validation.studies.flows import examples as E
import numerics
name, stepper, n, frames = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
short = dataclasses.replace(E.example(name), t_end=0.005)
E.EXAMPLES[name] = lambda: short
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
with tempfile.TemporaryDirectory() as d:
    E.run_example(name, d, stepper=stepper, n=n, frames=frames, progress=False)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps({"added": peak - base, "estimate": E.memory_estimate(len(short.bounds), n,
                                                                       frames, stepper)}))
"""

ROWS = [("rotation", s, n) for s in ("crank-nicolson", "rk4", "semi-lagrangian", "imex-euler")
        for n in (256, 512, 1024)] + [
    ("spiral-sink-3d", s, n) for s in ("crank-nicolson", "rk4", "semi-lagrangian")
    for n in (32, 64)] + [("advected-gaussian-1d", "rk4", 100_000)]


def measure(example: str, stepper: str, n: int, frames: int = 12) -> dict:
    """{'added': bytes the run added to the process's peak, 'estimate': the refusal's bytes}."""
    out = subprocess.run([sys.executable, "-c", PROBE, example, stepper, str(n), str(frames)],
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--one", nargs=3, metavar=("EXAMPLE", "STEPPER", "N"))
    args = ap.parse_args(argv)
    rows = [(args.one[0], args.one[1], int(args.one[2]))] if args.one else ROWS
    print("| example | stepper | n | cells | added peak (MB) | estimate (MB) | estimate / peak |")
    print("|---|---|---|---|---|---|---|")
    for ex, st, n in rows:
        m = measure(ex, st, n)
        dim = {"spiral-sink-3d": 3, "advected-gaussian-1d": 1}.get(ex, 2)
        print(f"| {ex} | {st} | {n} | {n ** dim} | {m['added'] / 1e6:.0f} | "
              f"{m['estimate'] / 1e6:.0f} | {m['estimate'] / m['added']:.2f} |", flush=True)


if __name__ == "__main__":
    main()
