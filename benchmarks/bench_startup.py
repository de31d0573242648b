"""Start-up time of the command line: what a user waits for before `--version` or a one-line
refusal, against the time to import torch alone (the baseline, in the same run).

    python benchmarks/bench_startup.py [--repeat 5]

Each command runs in a fresh process (nothing imported yet); the first run of each is reported
as cold (the OS file cache may still hold the files from an earlier process: this is not a
cold machine), the median of the rest as warm.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

COMMANDS = {
    "python -c 'import torch' (baseline)": [sys.executable, "-c", "import torch"],
    "cdverify --version": [sys.executable, "-m", "validation.cli", "--version"],
    "cdverify derive --assume A10 (refused)": [sys.executable, "-m", "validation.cli",
                                               "derive", "--assume", "A10"],
    "cdverify validate --seed -1 (refused)": [sys.executable, "-m", "validation.cli",
                                              "validate", "--seed", "-1"],
    # refused once the study's own config has checked the value: pays for its imports
    "cdverify graph --limit-ns 5,6,7,8 (refused)": [sys.executable, "-m", "validation.cli",
                                                    "graph", "--limit-ns", "5,6,7,8"],
    "cdverify check --data nosuch (refused)": [sys.executable, "-m", "validation.cli",
                                               "check", "--data", "nosuch"],
}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args(argv)
    rows = {}
    for name, cmd in COMMANDS.items():
        times = []
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            subprocess.run(cmd, capture_output=True)
            times.append(time.perf_counter() - t0)
        rows[name] = (times[0], statistics.median(times[1:]) if len(times) > 1 else times[0])
    base = rows[next(iter(COMMANDS))][1]
    print("| command | first run (s) | warm median (s) | warm / import torch |")
    print("|---|---|---|---|")
    for name, (cold, warm) in rows.items():
        print(f"| {name} | {cold:.3f} | {warm:.3f} | {warm / base:.2f} |")


if __name__ == "__main__":
    main()
