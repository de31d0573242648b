"""`cdverify report`: outputs, resume after an interrupt, and rendering in a real browser."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from validation.cli import main
from validation.pipeline.report import build


@pytest.fixture(scope="module")
def smoke_report(tmp_path_factory):
    root = tmp_path_factory.mktemp("report")
    out = build("smoke", root / "run", root / "cache", progress=False)
    return out


def test_report_writes_every_artefact(smoke_report):
    out = smoke_report
    doc = json.loads((out / "results.json").read_text())
    names = [c["claim"] for c in doc["claims"]]
    assert len(names) == 6 and all(c["status"] in ("holds", "fails", "inconclusive")
                                   for c in doc["claims"])
    assert doc["claims"][0]["status"] == "holds"  # the derivation from the axioms
    html = (out / "index.html").read_text()
    assert 'id="claims"' in html and "data:image/png;base64," in html
    assert "data:image/gif;base64," in html and "http" not in html.split("<body>")[0]
    for f in ("report.md", "robustness/robustness.csv", "rademacher/rademacher.csv",
              "flows/rotation/flow.gif", "derive/derive.tex"):
        assert (out / f).stat().st_size > 0, f
    assert doc["meta"]["versions"]["torch"]


def test_interrupted_report_resumes_with_the_same_numbers(smoke_report, tmp_path, monkeypatch):
    out = smoke_report
    reference = json.loads((out / "results.json").read_text())
    monkeypatch.setenv("CDVERIFY_STOP_AFTER", "robustness")
    with pytest.raises(KeyboardInterrupt):
        build("smoke", tmp_path / "a", tmp_path / "cache", progress=False)
    done = sorted(p.name.split("-")[0] for p in (tmp_path / "cache").iterdir()
                  if p.is_dir() and not p.name.startswith((".", "models")))
    assert "robustness" in done and "rademacher" not in done
    monkeypatch.delenv("CDVERIFY_STOP_AFTER")
    resumed = json.loads((build("smoke", tmp_path / "b", tmp_path / "cache", progress=False)
                          / "results.json").read_text())
    assert resumed["claims"] == reference["claims"]
    for key in ("robustness", "rademacher", "lipschitz", "flows"):
        a, b = dict(resumed["results"][key]), dict(reference["results"][key])
        a.pop("stage_wall_s"), b.pop("stage_wall_s")
        assert a == b, key


def test_report_cli_rejects_unknown_profile(capsys):
    with pytest.raises(SystemExit):
        main(["report", "--profile", "huge"])
    assert "invalid choice" in capsys.readouterr().err


def test_index_html_renders_in_headless_chromium(smoke_report, tmp_path):
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.skip("no chromium installed (apt-get install chromium): browser check not run")
    out = smoke_report
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={tmp_path / 'profile'}", "--enable-logging=stderr", "--v=0"]
    res = subprocess.run([browser, *flags, "--dump-dom", (out / "index.html").as_uri()],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]
    dom = res.stdout
    assert '<table id="claims">' in dom and "Diffusion improves robustness" in dom
    assert dom.count("<img") >= 6
    console_errors = [line for line in res.stderr.splitlines()
                      if "CONSOLE" in line or "Uncaught" in line]
    assert not console_errors, console_errors
