"""Shared driver of the sweep commands (`cdverify robustness`, `cdverify rademacher`)."""

from __future__ import annotations

import argparse
import time
from dataclasses import asdict
from pathlib import Path
from types import ModuleType


def add_sweep_arguments(p: argparse.ArgumentParser) -> None:
    """The options every sigma sweep shares: data set, noise levels, seeds, epochs."""
    from validation.nets.data import NAMES
    from validation.nets.train import TrainConfig

    from .types import count, noise_levels

    p.add_argument("--data", default="moons", choices=NAMES,
                   help="data set (digits: 64 pixels, encoded into 2-D features)")
    p.add_argument("--sigmas", default="0,0.1,0.3,0.5", type=noise_levels,
                   help="comma-separated noise levels >= 0, including 0 (the baseline)")
    p.add_argument("--seeds", type=count, default=3, help="trained models per sigma")
    p.add_argument("--epochs", type=count, default=TrainConfig().epochs, help="training epochs")
    p.add_argument("--workers", type=count, default=1,
                   help="worker processes for the (sigma, seed) jobs (one torch thread each; "
                        "with 2 or more, this process also takes the jobs none has started)")


def run_sweep_command(args: argparse.Namespace, name: str, spec, module: ModuleType,
                      title: str) -> int:
    """``module.run_sweep(spec)`` -> tables and plot (``module.write_outputs``), NAME.json with
    the config, seed range and versions -> print the summary."""
    from validation.store.io import write_json
    from validation.store.locks import clean_stale

    out = Path(args.out)
    clean_stale(out)  # temporary files of killed runs; live runs' files are kept
    start = time.perf_counter()
    res = module.run_sweep(spec, out)
    files = module.write_outputs(res, out, title)
    res["wall_time_s"] = time.perf_counter() - start
    write_json(out / f"{name}.json", res, config=asdict(spec),
               seed=f"0..{spec.seeds - 1} per sigma")
    print((out / f"{name}.md").read_text())
    print(f"wrote {', '.join(files)} to {out} in {res['wall_time_s']:.1f} s")
    return 0
