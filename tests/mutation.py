"""The mutation harness of theory/: each mutant of tests/mutants.py against the default suite.

A mutant replaces ``old`` by ``new`` in a copy of theory/ (in a temporary folder beside links to
the rest of the repository); the default test files that import theory (not only the mutant's
listed killers, which only go first so that a kill is found early) then run there in a
subprocess with ``-x``. A mutant is killed when a test fails (exit 1) or collection fails
(exit 2); 0 means it survived. Run it whole as a script for the score and the time:

    python tests/mutation.py [--out mutation.json] [--only SUBSTRING]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from mutants import MUTANTS, Mutant

ROOT = Path(__file__).resolve().parents[1]
HERE = Path(__file__).resolve().parent
#: the harness's own files: they do not test theory
NOT_SUITE = {"test_theory_mutants.py"}


def suite() -> list[str]:
    """The default test files that import theory (directly, through a helper module, or by
    name through importlib, as the layout test's public-API check does)."""
    helpers = {p.stem for p in HERE.glob("*.py") if not p.name.startswith("test_")
               and re.search(r"^\s*(from|import) theory", p.read_text(), re.M)}
    pattern = r"^\s*(from|import) (theory" + "".join(f"|{h}" for h in sorted(helpers)) + r")\b"

    def imports(text: str) -> bool:
        return bool(re.search(pattern, text, re.M)) or (
            "importlib.import_module(" in text and '"theory"' in text)

    return sorted(f"tests/{p.name}" for p in HERE.glob("test_*.py")
                  if p.name not in NOT_SUITE and imports(p.read_text()))


def copy_tree(tmp: Path, mutant: Mutant | None) -> None:
    """theory/ copied (and mutated) into tmp, every other part of the repository linked."""
    shutil.copytree(ROOT / "theory", tmp / "theory", ignore=shutil.ignore_patterns("__pycache__"))
    if mutant is not None:
        path = tmp / "theory" / mutant.module
        text = path.read_text()
        if text.count(mutant.old) != 1:
            raise ValueError(f"{mutant.module}: the text to mutate occurs {text.count(mutant.old)}"
                             f" times (update tests/mutants.py): {mutant.old!r}")
        path.write_text(text.replace(mutant.old, mutant.new))
        compile(path.read_text(), str(path), "exec")  # a mutant is valid Python
    for name in ("tests", "numerics", "validation", "examples", "pyproject.toml"):
        (tmp / name).symlink_to(ROOT / name)


def ordered(mutant: Mutant | None) -> list[str]:
    """The suite with the mutant's killers first (nodes, then the rest of their files)."""
    files = suite()
    if mutant is None:
        return files
    first = list(mutant.killers)
    kfiles = {k.split("::")[0] for k in first}
    return first + [f for f in files if f in kfiles] + [f for f in files if f not in kfiles]


def run(tmp: Path, tests: list[str], timeout: float = 3600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pytest", "-x", "-q", "-rf", "-p",
                           "no:cacheprovider", *tests], cwd=tmp, env=dict(os.environ),
                          capture_output=True, text=True, timeout=timeout)


def run_mutant(mutant: Mutant | None) -> dict:
    """{'killed', 'rc', 'seconds', 'by'} for one mutant (None: the unmutated control)."""
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        copy_tree(tmp, mutant)
        t0 = time.perf_counter()
        res = run(tmp, ordered(mutant))
        seconds = time.perf_counter() - t0
    failed = re.findall(r"^FAILED (\S+)", res.stdout, re.M)
    return {"killed": res.returncode in (1, 2), "rc": res.returncode,
            "seconds": round(seconds, 1), "by": failed[0] if failed else
            ("collection" if res.returncode == 2 else ""), "tail": res.stdout[-1500:]}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="mutation.json", help="where the per-mutant JSON goes")
    ap.add_argument("--only", default="", help="run the mutants whose description has this")
    args = ap.parse_args(argv)
    chosen = [m for m in MUTANTS if args.only in m.description]
    rows, t0 = [], time.perf_counter()
    for i, m in enumerate(chosen, 1):
        r = run_mutant(m)
        rows.append({"module": m.module, "description": m.description,
                     **{k: v for k, v in r.items() if k != "tail"}})
        print(f"[{i}/{len(chosen)}] {'killed ' if r['killed'] else 'SURVIVED'} "
              f"{r['seconds']:7.1f} s  {m.module}: {m.description}  {r['by']}", flush=True)
        Path(args.out).write_text(json.dumps({"rows": rows, "suite": suite()}, indent=1))
    killed = sum(r["killed"] for r in rows)
    total = time.perf_counter() - t0
    print(f"mutation score {killed}/{len(rows)} killed in {total:.0f} s over {len(suite())} "
          f"test files")
    Path(args.out).write_text(json.dumps({"rows": rows, "suite": suite(), "killed": killed,
                                          "total": len(rows), "seconds": round(total)},
                                         indent=1))
    return 0 if killed == len(rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
