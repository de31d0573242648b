"""`cdverify solve`: a named example of (CD) by finite differences; figures, GIF and JSON."""

from __future__ import annotations

import argparse

EXAMPLE = "cdverify solve --example rotation --convection central4 --stepper rk4 --out out/rot"


def add_arguments(p: argparse.ArgumentParser) -> None:
    from numerics.schemes import CONVECTION, DIFFUSION, TIME
    from numerics.solve import DT_BOUNDS
    from validation.studies.flows.examples import EXAMPLES

    from .types import count, positive

    p.add_argument("--example", default="rotation", choices=list(EXAMPLES),
                   help="named problem with a closed form")
    p.add_argument("--convection", default="central2", choices=list(CONVECTION),
                   help="convection scheme (numerics.schemes, each with its declared order)")
    p.add_argument("--diffusion", default="central2", choices=list(DIFFUSION),
                   help="diffusion stencil")
    p.add_argument("--stepper", default="crank-nicolson", choices=list(TIME),
                   help="time stepper")
    p.add_argument("--n", type=count, default=None,
                   help="cells per axis (None: 96, or 32 for 3-D examples)")
    p.add_argument("--dt", type=positive, default=None,
                   help="fixed time step (None: chosen from the stability limit)")
    p.add_argument("--dt-bound", default="gershgorin", choices=list(DT_BOUNDS),
                   help="spectral bound behind RK3/RK4's step with central schemes (README)")
    p.add_argument("--frames", type=count, default=12, help="saved times incl. 0 and T (>= 2)")
    p.add_argument("--max-minutes", type=positive, default=60.0,
                   help="stop, before writing anything, a solve whose wall time projected from "
                        "its first steps exceeds this")
    p.add_argument("--out", default="out/solve", help="output folder")


def run(args: argparse.Namespace) -> int:
    from numerics import WallTimeError
    from validation.studies.flows.examples import run_example

    try:
        doc = run_example(args.example, args.out, convection=args.convection,
                          diffusion=args.diffusion, stepper=args.stepper, n=args.n, dt=args.dt,
                          frames=args.frames, max_wall_s=60.0 * args.max_minutes,
                          dt_bound=args.dt_bound)
    except WallTimeError as exc:  # name the option that sets the limit
        raise WallTimeError(f"{exc} (--max-minutes {args.max_minutes:g})") from None
    final = doc["errors"][-1]
    print(f"{args.example}: {doc['stats']['steps']} steps, wall "
          f"{doc['stats']['wall_time_s']:.2f} s, max error at T {final['max_error']:.3e}; wrote "
          f"{', '.join(doc['files'])}, solve.json to {args.out}")
    return 0
