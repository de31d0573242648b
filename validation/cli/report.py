"""`cdverify report`: the whole verification in one run, one self-contained report."""

from __future__ import annotations

import argparse

EXAMPLE = "cdverify report --profile quick --out reports/today --cache reports/cache"


def add_arguments(p: argparse.ArgumentParser) -> None:
    from validation.nets.data import NAMES
    from validation.report.build import PROFILE_HELP, PROFILES

    p.add_argument("--profile", default="quick", choices=list(PROFILES), help=PROFILE_HELP)
    p.add_argument("--data", default="moons", choices=NAMES,
                   help="data set of the 2-D stages (digits: 64 pixels, encoded into 2-D "
                   "features)")
    p.add_argument("--out", default=None, help="report folder (None: reports/<timestamp>)")
    p.add_argument("--cache", default="reports/cache",
                   help="stage cache shared by runs: reruns resume, concurrent runs share stages")
    p.add_argument("--include-sweep", action="append", default=[], metavar="DIR",
                   help="folder of a finished `cdverify sweep` (repeatable): its paired "
                   "verdicts join the claims table, its tables a section")
    p.add_argument("--device", default="cpu",
                   help="cpu or cuda: training on the device; the grid studies and attacks run on "
                   "the CPU")


def run(args: argparse.Namespace) -> int:
    from validation.nets.train import resolve_device
    from validation.report.build import build
    from validation.store.io import loads

    resolve_device(args.device)
    out = build(args.profile, args.out, args.cache, args.data, device=args.device,
                include_sweeps=tuple(args.include_sweep))
    doc = loads((out / "results.json").read_text())
    print(f"report written to {out}/index.html ({doc['meta']['wall_time_s']:.1f} s)")
    if args.profile == "smoke":
        print("  smoke profile: a pipeline check; its verdicts carry no weight")
    print("\n".join(f"  [{c['status']:>12}] {c['claim']}" for c in doc["claims"]))
    return 0
