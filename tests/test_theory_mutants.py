"""Mutation testing of theory/: every deliberate bug in tests/mutants.py is killed by its tests.

Each mutant is applied to a copy of theory/ in a temporary folder beside links to the rest of
the repository (tests, numerics, validation, pyproject.toml); its killer tests then run there in
a subprocess (the working folder comes first on sys.path, so the copy is what they import) and
must fail. The control runs the same
tests on the unmutated copy, which must pass (so a kill is the mutant's doing, not the
harness's). Slow: about 40 subprocess runs of pytest.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from mutants import MUTANTS, Mutant

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def _copy(tmp: Path, mutant: Mutant | None) -> dict:
    shutil.copytree(ROOT / "theory", tmp / "theory",
                    ignore=shutil.ignore_patterns("__pycache__"))
    if mutant is not None:
        path = tmp / "theory" / mutant.module
        text = path.read_text()
        assert text.count(mutant.old) == 1, f"{mutant.module}: the text to mutate occurs " \
            f"{text.count(mutant.old)} times (update tests/mutants.py): {mutant.old!r}"
        path.write_text(text.replace(mutant.old, mutant.new))
        compile(path.read_text(), str(path), "exec")  # a mutant is valid Python
    for name in ("tests", "numerics", "validation", "examples", "pyproject.toml"):
        (tmp / name).symlink_to(ROOT / name)
    return dict(os.environ)


def _run(tmp: Path, env: dict, tests) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider",
                           *tests], cwd=tmp, env=env, capture_output=True, text=True,
                          timeout=900)


def test_the_copy_is_what_the_tests_import(tmp_path):
    env = _copy(tmp_path, None)
    out = subprocess.run([sys.executable, "-c", "import theory; print(theory.__file__)"],
                         cwd=tmp_path, env=env, capture_output=True, text=True)
    assert out.stdout.strip().startswith(str(tmp_path)), out.stdout + out.stderr


def test_control_unmutated_copy_passes_every_killer(tmp_path):
    killers = sorted({k for m in MUTANTS for k in m.killers})
    res = _run(tmp_path, _copy(tmp_path, None), killers)
    assert res.returncode == 0, res.stdout[-3000:]


def test_the_list_covers_every_module_of_theory():
    modules = {p.name for p in (ROOT / "theory").glob("*.py")}
    assert modules == {m.module for m in MUTANTS}


@pytest.mark.parametrize("mutant", MUTANTS, ids=lambda m: f"{m.module}: {m.description}")
def test_mutant_is_killed(mutant, tmp_path):
    res = _run(tmp_path, _copy(tmp_path, mutant), mutant.killers)
    # 1: a test failed; 2: collection failed (an import the tests need is gone). 4 or 5 would
    # mean a wrong node id or no test run: not a kill
    assert res.returncode in (1, 2), f"mutant survived (rc {res.returncode}):\n" \
        + res.stdout[-2000:]
