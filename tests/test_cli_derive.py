"""`cdverify derive`: output, files and exit status."""

from __future__ import annotations

import json

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


def test_derive_ablation_and_bad_names(capsys):
    assert main(["derive", "--assume", "A1,A2,A3,A5,A6", "--technique", "plain"]) == 0
    assert "indefinite" in capsys.readouterr().out
    assert main(["derive", "--technique", "nope"]) == 2
    assert "valid names" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:  # refused while parsing, before any derivation
        main(["derive", "--assume", "A0"])
    assert exc.value.code == 2
