"""`cdverify report`: the whole verification in one run, one self-contained report."""

from __future__ import annotations

import argparse
import sys


def add_arguments(p: argparse.ArgumentParser) -> None:
    from .data import NAMES

    p.add_argument("--profile", default="quick", choices=["quick", "full", "smoke"],
                   help="quick (default, < 3 min on 2 cores), full (more seeds, exact "
                   "solutions, digits), smoke (seconds; pipeline check only)")
    p.add_argument("--data", default=None, choices=NAMES,
                   help="2-D data set for all stages (default moons)")
    p.add_argument("--out", default=None, help="report folder (default reports/<timestamp>)")
    p.add_argument("--cache", default=None,
                   help="stage cache shared by runs (default reports/cache): reruns resume")
    p.add_argument("--device", default="cpu",
                   help="cpu (default) or cuda: training on the device; the grid studies and "
                   "attacks run on the CPU")


def run(args: argparse.Namespace) -> int:
    from .report import build
    from .train import resolve_device

    try:
        resolve_device(args.device)
        out = build(args.profile, args.out, args.cache, args.data, device=args.device)
    except ValueError as exc:
        print(f"cdverify report: error: {exc}", file=sys.stderr)
        return 2
    import json

    doc = json.loads((out / "results.json").read_text())
    print(f"report written to {out}/index.html ({doc['meta']['wall_time_s']:.1f} s)")
    for c in doc["claims"]:
        print(f"  [{c['status']:>12}] {c['claim']}")
    return 0
