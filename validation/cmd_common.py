"""Shared driver of the sweep commands (`cdverify robustness`, `cdverify rademacher`)."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

from .io import write_json


def run_sweep_command(args: argparse.Namespace, name: str, sweep: Callable,
                      write_outputs: Callable, title: str) -> int:
    """sweep -> tables, plot, JSON (with config, seed range and versions) -> print summary."""
    out = Path(args.out)
    start = time.perf_counter()
    try:
        res = sweep(args, out)
    except ValueError as exc:
        print(f"cdverify {name}: error: {exc}", file=sys.stderr)
        return 2
    files = write_outputs(res, out, title)
    res["wall_time_s"] = time.perf_counter() - start
    write_json(out / f"{name}.json", res, config={k: v for k, v in vars(args).items()
                                                 if not k.startswith("_")})
    print((out / f"{name}.md").read_text())
    print(f"wrote {', '.join(files)} to {out} in {res['wall_time_s']:.1f} s")
    return 0
