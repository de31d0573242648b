"""`cdverify sweep CONFIG.toml`: a grid of jobs on local processes or a Dask cluster."""

from __future__ import annotations

import argparse

EXAMPLE = "cdverify sweep examples/sweep.toml --workers 2 --out out/sweep"


def add_arguments(p: argparse.ArgumentParser) -> None:
    from .types import count

    p.add_argument("config", help="sweep TOML file (see examples/sweep.toml)")
    p.add_argument("--scheduler", default=None,
                   help="address of an existing Dask distributed scheduler (tcp://host:8786; "
                   "None: local processes)")
    p.add_argument("--workers", type=count, default=2, help="local processes")
    p.add_argument("--out", default="out/sweep", help="results and cache folder")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from validation.sweep.run import (
        aggregate,
        expand,
        load_config,
        run_dask,
        run_local,
        write_outputs,
    )

    cfg = load_config(args.config)  # the schema check, before any job runs
    jobs = expand(cfg)
    out = Path(args.out)
    if args.scheduler:
        results = run_dask(jobs, str(out), args.scheduler)
    else:
        results = run_local(jobs, str(out), args.workers)
    files = write_outputs(aggregate(results), results, out, cfg)
    print((out / "sweep.md").read_text())
    print(f"wrote {', '.join(files)} to {out}; add it to a report with "
          f"`cdverify report --include-sweep {out}`")
    return 0
