"""`cdverify derive`: output, files and exit status."""

from __future__ import annotations

import json
import sys

import pytest

from validation.cli import main


def test_derive_one_technique_writes_json_and_latex(tmp_path, capsys):
    js, tex = tmp_path / "d.json", tmp_path / "d.tex"
    rc = main(["derive", "--technique", "gaussian", "--json", str(js), "--latex", str(tex)])
    out = capsys.readouterr().out
    assert rc == 0
    assert "[A4]" in out and "Gaussian noise injection" in out and "FAIL" not in out
    doc = json.loads(js.read_text())
    assert doc["passed"] and doc["derivation"]["steps"]
    assert tex.read_text().startswith("\\documentclass")



def test_derive_shows_its_progress_unit_by_unit(capsys, monkeypatch):
    """build_report calls progress once per unit of report_plan, in its order (control: the
    full plan holds the later sections, which a technique subset skips), and the command draws
    the bar on stderr when it is a terminal, the derivation alone on stdout."""
    from theory.report import build_report, report_plan

    seen = []
    build_report(techniques=["dropout", "graph-diffusion"], include_exact=False,
                 progress=seen.append)
    assert seen == report_plan(["dropout", "graph-diffusion"]) == \
        ["derivation", "dropout", "graph-diffusion"]
    full = report_plan()
    assert full[-4:] == ["exact solutions", "bounds", "quadrature", "von Neumann"]
    assert "exact solutions" not in report_plan(include_exact=False)
    assert main(["derive", "--technique", "plain", "--no-exact"]) == 0
    assert "derive (d = 2)" not in capsys.readouterr().err  # not a terminal: no bar
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    assert main(["derive", "--technique", "plain", "--no-exact"]) == 0
    out, err = capsys.readouterr()
    assert "derive (d = 2)" in err and "2/2" in err and "derive (d = 2)" not in out

def test_derive_ablation_and_bad_names(capsys):
    assert main(["derive", "--assume", "A1,A2,A3,A5,A6", "--technique", "plain"]) == 0
    assert "indefinite" in capsys.readouterr().out
    assert main(["derive", "--technique", "nope"]) == 2
    assert "valid names" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:  # refused while parsing, before any derivation
        main(["derive", "--assume", "A0"])
    assert exc.value.code == 2


def test_derive_json_has_expected_and_computed_fields(tmp_path):
    import json

    out = tmp_path / "d.json"
    assert main(["derive", "--technique", "uniform", "--no-exact", "--json", str(out)]) == 0
    doc = json.loads(out.read_text())
    assert doc["versions"]["sympy"] and set(doc["timings_s"]) >= {"derivation", "catalogue"}
    item = doc["sections"][0]["items"][0]
    full = next(c for c in item["checks"] if c["name"].startswith("expansion of (T q - q)/h"))
    # the same operator by both routes (terms may be printed in another order)
    quartic = "(3*S11(x1, x2)**4/40 + S11(x1, x2)**2*S12(x1, x2)**2/4 + 3*S12(x1, x2)**4/40) " \
        "d_x1x1x1x1"  # the uniform law's 9/5 / 24 = 3/40, and its E xi^2 E xi^2 / 4 cross term
    assert full["passed"] and quartic in full["expected"] and quartic in full["computed"]
    assert "d_x1x1x1x1" in item["facts"]["O(h) operator"]
    steps = doc["derivation"]["steps"]
    every = [c for s in steps for c in s["checks"]]
    every += [c for sec in doc["sections"] for it in sec["items"] for c in it["checks"]]
    missing = [c["name"] for c in every if not (c["expected"] and c["computed"])]
    assert len(every) > 20 and not missing, missing
    assert doc["derivation"]["constraints"]  # A4's derived conditions


def test_the_bounds_schemes_graph_and_derivation_checks_state_expected_and_computed():
    # the default run's version of the whole-report test below (slow): every module's checks
    from theory import bounds, graph, scheme_analysis
    from theory.axioms import derive

    checks = [*bounds.bound_checks(), *graph.prove_comparison_condition(2),
              *(c for a in scheme_analysis.analyses() for c in a.checks),
              *(c for s in derive("A1,A2,A3,A4,A5,A6,A7,A8,A9").steps for c in s.checks),
              *(c for s in derive("A1,A2,A3,A5,A6").steps for c in s.checks)]
    missing = [c.name for c in checks if not (c.expected and c.computed)]
    assert len(checks) > 25 and not missing, missing


# slow (23 s): the full theory report, every section
@pytest.mark.slow
def test_every_check_of_the_whole_report_states_expected_and_computed():
    from theory.report import build_report, to_json

    doc = to_json(build_report(include_exact=True))
    every = [c for s in doc["derivation"]["steps"] for c in s["checks"]]
    every += [c for sec in doc["sections"] for it in sec["items"] for c in it["checks"]]
    missing = [c["name"] for c in every if not (c["expected"] and c["computed"])]
    titles = [sec["title"] for sec in doc["sections"]]
    assert len(every) > 100 and not missing, missing
    assert any("quadrature" in t for t in titles) and any("Exact" in t for t in titles)
