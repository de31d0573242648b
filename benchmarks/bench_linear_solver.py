"""The implicit steppers' linear solver: 'auto' (BiCGSTAB above ITERATIVE_ABOVE unknowns for
the dimension, the sparse LU below) against the sparse LU, in the same process.

    python benchmarks/bench_linear_solver.py [--stepper crank-nicolson] [--threads 1]

Whole solves (assembly, factorisation or preconditioner, steps) of the `cdverify solve`
examples with their closed forms, at the default implicit step (convective Courant number 1).
Each variant runs twice, alternated; the first run (a fresh problem, as a user meets it) and
the faster of the two are shown, with the ratio LU / auto of the faster runs and the max error
of each against the closed form (they agree to the iterative tolerance).
"""

from __future__ import annotations

import argparse
import os
import time

CASES = (("advected-gaussian-1d", 400, "central2"), ("rotation", 96, "central2"),
         ("rotation", 160, "central2"), ("rotation", 160, "central4"),
         ("spiral-sink-3d", 12, "central2"), ("spiral-sink-3d", 20, "central4"),
         ("spiral-sink-3d", 24, "central2"), ("spiral-sink-3d", 28, "central4"))


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--stepper", default="crank-nicolson",
                    choices=("crank-nicolson", "backward-euler", "semi-lagrangian"))
    ap.add_argument("--threads", default="1", help="BLAS threads (set before numpy loads)")
    args = ap.parse_args(argv)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = args.threads
    import numpy as np

    from numerics import solve
    from validation.studies.flows.examples import example

    print(f"stepper {args.stepper}, {args.threads} thread(s); seconds: first run / faster of 2")
    print("| example | grid | unknowns | auto's solver | LU | auto | LU / auto | max error "
          "LU, auto |")
    print("|---|---|---|---|---|---|---|---|")
    for name, n, scheme in CASES:
        ex = example(name)
        prob = ex.problem(n)
        exact = ex.exact(prob.grid.coords, prob.t_end)
        runs: dict[str, list[float]] = {"direct": [], "auto": []}
        errs, used = {}, ""
        for _ in range(2):
            for choice in runs:
                t0 = time.perf_counter()
                sol = solve(prob, convection=scheme, diffusion=scheme, stepper=args.stepper,
                            linear_solver=choice)
                runs[choice].append(time.perf_counter() - t0)
                errs[choice] = float(np.abs(sol.final[0] - exact).max())
                if choice == "auto":
                    used = sol.stats["linear_solver"]
        lu, auto = (f"{r[0]:.3f} / {min(r):.3f}" for r in runs.values())
        print(f"| {name} {scheme} | {n}^{prob.grid.dim} | {prob.grid.size} | {used} | {lu} | "
              f"{auto} | {min(runs['direct']) / min(runs['auto']):.2f}x | "
              f"{errs['direct']:.3e}, {errs['auto']:.3e} |")


if __name__ == "__main__":
    main()
