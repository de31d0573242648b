"""`cdverify solve`: run a named example problem, write figures, the GIF and a JSON of stats."""

from __future__ import annotations

import argparse
import sys


def add_arguments(p: argparse.ArgumentParser) -> None:
    from numerics.schemes import CONVECTION, DIFFUSION, TIME

    from .cli_types import count, positive

    p.add_argument("--example", default="rotation",
                   help="rotation, shear, ornstein-uhlenbeck, advected-gaussian, "
                   "spiral-sink-3d, advected-gaussian-1d (default: %(default)s)")
    p.add_argument("--convection", default="central2", choices=list(CONVECTION))
    p.add_argument("--diffusion", default="central2", choices=list(DIFFUSION))
    p.add_argument("--stepper", default="crank-nicolson", choices=list(TIME))
    p.add_argument("--n", type=count, default=None,
                   help="cells per axis (default 96; 32 for 3-D examples)")
    p.add_argument("--dt", type=positive, default=None, help="fixed time step (default: automatic)")
    p.add_argument("--frames", type=count, default=12, help="saved times incl. 0 and T")
    p.add_argument("--out", default="out/solve", help="output folder (default %(default)s)")


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from numerics import NumericsError, solve
    from numerics.plots import flow_gif, panels, slices, space_time
    from numerics.trajectories import characteristics
    from theory.errors import TheoryError
    from validation.examples import example
    from validation.io import save_figure, write_json

    try:
        ex = example(args.example)
        if args.n is None:
            args.n = 32 if len(ex.bounds) == 3 else 96
        prob = ex.problem(args.n)
        if args.frames < 2:
            raise NumericsError(f"--frames {args.frames}: at least 2 (t = 0 and T) are needed")
        times = np.linspace(0, ex.t_end, args.frames)
        sol = solve(prob, convection=args.convection, diffusion=args.diffusion,
                    stepper=args.stepper, dt=args.dt, save_times=list(times), progress=True)
    except (NumericsError, TheoryError) as exc:
        print(f"cdverify solve: error: {exc}", file=sys.stderr)
        return 2
    from pathlib import Path

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    errors = []
    for t, snap in zip(sol.times, sol.snapshots, strict=True):
        e = snap[0] - ex.exact(prob.grid.coords, t)
        errors.append({"t": float(t), "max_error": float(np.abs(e).max()),
                       "rms_error": float(np.sqrt(np.mean(e**2)))})


    def save(fig, name):
        save_figure(fig, out / name)

    files = []
    traj = None
    label = f"{ex.name}: {args.convection}/{args.diffusion}/{args.stepper}"
    if prob.grid.dim >= 2:
        lo = [b[0] for b in prob.grid.bounds]
        hi = [b[1] for b in prob.grid.bounds]
        rng = np.random.default_rng(0)
        starts = lo + (np.asarray(hi) - lo) * rng.uniform(0.2, 0.8, size=(12, prob.grid.dim))
        traj = characteristics(starts, ex.point_velocity, ex.t_end, 200)
        pick = np.linspace(0, ex.t_end, min(4, args.frames))
    if prob.grid.dim == 2:
        fig = panels(sol, velocity=prob.velocity_at, trajectories=traj, times=pick, title=label)
        save(fig, "panels.png")
        files.append("panels.png")
    elif prob.grid.dim == 3:
        fig = slices(sol, trajectories=traj, times=pick, title=label)
        save(fig, "slices.png")
        files.append("slices.png")
    else:
        ax = space_time(sol, title=f"{ex.name}: space-time")
        save(ax.figure, "space_time.png")
        files.append("space_time.png")
    flow_gif(sol, out / "flow.gif", trajectories=traj)
    files.append("flow.gif")
    config = {k: v for k, v in vars(args).items() if not k.startswith("_")}
    stats = {k: (float(v) if isinstance(v, np.floating) else v) for k, v in sol.stats.items()}
    write_json(out / "solve.json", {"example": ex.description, "stats": stats,
                                    "errors": errors, "files": files}, config=config, seed=0)
    final = errors[-1]
    print(f"{ex.name}: {stats['steps']} steps, wall {stats['wall_time_s']:.2f} s, "
          f"max error at T {final['max_error']:.3e}; wrote {', '.join(files)}, solve.json "
          f"to {out}")
    return 0
