"""`cdverify graph`: tau* and its violation, the continuum limit, and the COIN claim."""

from __future__ import annotations

import argparse

EXAMPLE = "cdverify graph --data moons,digits --seeds 10 --out out/graph"


def add_arguments(p: argparse.ArgumentParser) -> None:
    from validation.studies.graph.study import GraphStudy

    from .types import count, data_list, effect, positive, positive_list, size_list

    d = GraphStudy()
    p.add_argument("--data", type=data_list, default=",".join(d.data),
                   help="data sets of the classification claim")
    p.add_argument("--seeds", type=count, default=d.seeds,
                   help="paired seeds per data set (each fixes samples, labels and weights)")
    p.add_argument("--K", type=count, default=d.K, help="diffusion layers")
    p.add_argument("--tau", type=positive, default=d.tau, help="diffusion step tau")
    p.add_argument("--labels", type=count, default=d.labels_per_class,
                   help="labelled samples per class")
    p.add_argument("--epochs", type=count, default=d.epochs, help="training epochs")
    p.add_argument("--tau-factors", type=positive_list,
                   default=",".join(map(str, d.tau_factors)), help="tau / tau* of the tau sweep")
    p.add_argument("--limit-ns", type=size_list, default=",".join(map(str, d.limit_ns)),
                   help="sample sizes of the heat-flow convergence study")
    p.add_argument("--reps", type=count, default=d.reps, help="sample sets per size")
    p.add_argument("--delta", type=effect, default=d.delta,
                   help="smallest accuracy gain of interest ('refuted at delta' below it)")
    p.add_argument("--workers", type=count, default=d.workers,
                   help="worker processes for the COIN pairs, tau sweeps and limit studies "
                        "(with 2 or more, this process also takes the jobs none has started)")
    p.add_argument("--out", default="out/graph", help="output folder")


def run(args: argparse.Namespace) -> int:
    import sys
    from pathlib import Path

    from validation.studies.graph.study import GraphStudy, run_study, tau_warnings, write_outputs

    spec = GraphStudy(data=args.data, seeds=args.seeds, K=args.K, tau=args.tau,
                      labels_per_class=args.labels, epochs=args.epochs,
                      tau_factors=args.tau_factors, limit_ns=args.limit_ns, reps=args.reps,
                      delta=args.delta, workers=args.workers)
    warnings = tau_warnings(spec)  # before any work
    if warnings:
        print("\n".join(f"cdverify graph: warning: {w}" for w in warnings), file=sys.stderr)
    res = run_study(spec)
    files = write_outputs(res, args.out)
    print((Path(args.out) / "graph.md").read_text())
    print(f"wrote {', '.join(files)} to {args.out} in {res['wall_time_s']:.1f} s")
    return 0
