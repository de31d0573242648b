"""`cdverify sweep CONFIG.toml`: a grid of jobs on local processes or a Dask cluster."""

from __future__ import annotations

import argparse
import sys


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("config", help="sweep TOML file (see examples/sweep.toml)")
    p.add_argument("--scheduler", default=None,
                   help="address of an existing Dask distributed scheduler (tcp://host:8786); "
                   "default: local processes")
    p.add_argument("--workers", type=int, default=2, help="local processes (default 2)")
    p.add_argument("--out", default="out/sweep", help="results and cache folder")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from .sweep import (
        SweepError,
        aggregate,
        expand,
        load_config,
        run_dask,
        run_local,
        write_outputs,
    )

    try:
        cfg = load_config(args.config)
    except SweepError as exc:
        print(f"cdverify sweep: error: {exc}", file=sys.stderr)
        return 2
    jobs = expand(cfg)
    out = Path(args.out)
    if args.scheduler:
        results = run_dask(jobs, str(out), args.scheduler)
    else:
        results = run_local(jobs, str(out), args.workers)
    files = write_outputs(aggregate(results), results, out)
    print((out / "sweep.md").read_text())
    print(f"wrote {', '.join(files)} to {out}")
    return 0
