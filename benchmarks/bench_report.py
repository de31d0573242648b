"""Wall time of `cdverify report` from a cold cache, per stage, with the cores' use; then the
same command on the warm cache. With ``--baseline DIR`` (a source tree of another revision,
for example ``git worktree add /tmp/base <rev>``) the baseline runs first and the ratio is
printed: the machine's speed drifts by 10-20% over a day, so compare only runs made back to
back.

    python benchmarks/bench_report.py [--profile quick] [--baseline /tmp/base]

Each run is a fresh process with a fresh cache folder (no stage or trained model kept). The
OS file cache may still hold the packages' files from an earlier process: cold cache, not a
cold machine. The cores' use is sampled from /proc/stat every second (Linux), as the seconds
in which fewer than ``nproc - 0.1`` cores were busy.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path


def _cpu_times() -> tuple[int, int] | None:
    """(total, idle) jiffies of all cores, or None where /proc/stat does not exist."""
    try:
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except OSError:
        return None
    return sum(fields), fields[3] + fields[4]  # idle + iowait


def _sample(stop: threading.Event, out: list, cores: int) -> None:
    prev = _cpu_times()
    while prev is not None and not stop.wait(1.0):
        cur = _cpu_times()
        total, idle = cur[0] - prev[0], cur[1] - prev[1]
        out.append(cores * (1 - idle / max(total, 1)))
        prev = cur


def run(src: Path, profile: str) -> dict:
    """One cold run and one warm rerun of the report from the source tree ``src``."""
    folder = Path(tempfile.mkdtemp(prefix="bench-report-"))
    env = {**os.environ, "PYTHONPATH": str(src)}
    cmd = [sys.executable, "-m", "validation.cli", "report", "--profile", profile,
           "--cache", str(folder / "cache")]
    cores = len(os.sched_getaffinity(0))
    busy: list[float] = []
    stop = threading.Event()
    sampler = threading.Thread(target=_sample, args=(stop, busy, cores), daemon=True)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    sampler.start()
    t0 = time.perf_counter()
    subprocess.run([*cmd, "--out", str(folder / "cold")], check=True, capture_output=True,
                   env=env, cwd=folder)
    cold = time.perf_counter() - t0
    stop.set()
    sampler.join()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run([*cmd, "--out", str(folder / "warm")], check=True, capture_output=True,
                   env=env, cwd=folder)
    warm = time.perf_counter() - t0
    doc = json.loads((folder / "cold" / "results.json").read_text())
    stages = {name: res.get("stage_wall_s") for name, res in doc["results"].items()
              if isinstance(res, dict)}
    return {"cold_s": cold, "warm_s": warm,
            "cpu_s": (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime),
            "stages": stages, "claims": [c["status"] for c in doc["claims"]],
            "seconds_not_all_busy": sum(b < cores - 0.1 for b in busy), "cores": cores}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default="quick", choices=("smoke", "quick", "full"))
    ap.add_argument("--baseline", type=Path, default=None,
                    help="source tree of the revision to compare with (run first)")
    args = ap.parse_args(argv)
    here = Path(__file__).resolve().parent.parent
    if args.baseline is not None and not (args.baseline / "validation").is_dir():
        ap.error(f"--baseline {args.baseline}: not a cdverify source tree (no validation/)")
    runs = {}
    if args.baseline is not None:
        runs["baseline"] = run(args.baseline.resolve(), args.profile)
    runs["this tree"] = run(here, args.profile)
    print(f"report --profile {args.profile}, {runs['this tree']['cores']} cores, "
          f"{time.strftime('%Y-%m-%d %H:%M')}")
    print("| tree | cold (s) | CPU (s) | s not all cores busy | warm (s) | per stage (s) |")
    print("|---|---|---|---|---|---|")
    for name, r in runs.items():
        per = ", ".join(f"{k} {v:.1f}" for k, v in r["stages"].items() if v is not None)
        print(f"| {name} | {r['cold_s']:.1f} | {r['cpu_s']:.0f} | {r['seconds_not_all_busy']} "
              f"| {r['warm_s']:.1f} | {per} |")
    if "baseline" in runs:
        b, t = runs["baseline"], runs["this tree"]
        print(f"cold: this tree / baseline = {t['cold_s'] / b['cold_s']:.3f}; the same claims: "
              f"{b['claims'] == t['claims']}")


if __name__ == "__main__":
    main()
