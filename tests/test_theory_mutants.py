"""Mutation testing of theory/: every deliberate bug in tests/mutants.py is killed by the default
suite (the test files that import theory, tests/mutation.py), not only by its listed killers.

Each mutant is applied to a copy of theory/ beside links to the rest of the repository; the
suite runs there in a subprocess with -x (the listed killers first, so a kill is found early) and
must fail. The control runs the whole suite on the unmutated copy, which must pass (so a kill is
the mutant's doing, not the harness's). Slow: about 60 subprocess runs of pytest; for the score
and the time of each, run ``python tests/mutation.py``.
"""

from __future__ import annotations

import subprocess
import sys

import pytest
from mutants import MUTANTS, Mutant
from mutation import ROOT, copy_tree, ordered, run, run_mutant, suite

pytestmark = pytest.mark.slow


def test_the_copy_is_what_the_tests_import(tmp_path):
    copy_tree(tmp_path, None)
    out = subprocess.run([sys.executable, "-c", "import theory; print(theory.__file__)"],
                         cwd=tmp_path, capture_output=True, text=True)
    assert out.stdout.strip().startswith(str(tmp_path)), out.stdout + out.stderr


def test_the_suite_is_every_default_file_that_imports_theory():
    files = suite()
    assert "tests/test_theory_axioms.py" in files and "tests/test_cli_derive.py" in files
    assert "tests/test_theory_mutants.py" not in files
    assert all(k.split("::")[0] in files for m in MUTANTS for k in m.killers)


def test_control_unmutated_copy_passes_the_suite(tmp_path):
    copy_tree(tmp_path, None)
    res = run(tmp_path, ordered(None))
    assert res.returncode == 0, res.stdout[-3000:]


def test_the_list_covers_every_module_of_theory():
    modules = {p.name for p in (ROOT / "theory").glob("*.py")}
    assert modules == {m.module for m in MUTANTS}


@pytest.mark.parametrize("mutant", MUTANTS, ids=lambda m: f"{m.module}: {m.description}")
def test_mutant_is_killed(mutant: Mutant):
    r = run_mutant(mutant)
    # 1: a test failed; 2: collection failed (an import the tests need is gone). 4 or 5 would
    # mean a wrong node id or no test run: not a kill
    assert r["killed"], f"mutant survived (rc {r['rc']}):\n" + r["tail"]
