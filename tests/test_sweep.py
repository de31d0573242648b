"""Sweeps: config validation, a small sweep on a local Dask cluster, idempotent reruns."""

from __future__ import annotations

import json

import pytest
from sweeps import TINY, finished_tiny_sweep

from validation.sweep.run import SweepError, aggregate, expand, load_config, load_finished, run_dask


def test_bad_configs_are_rejected(tmp_path):
    p = tmp_path / "bad.toml"
    p.write_text('[sweep]\njobs = ["training"]\ndata = ["moons"]\nsigma = [0]\nseed = [0]\n')
    with pytest.raises(SweepError, match="agreement, robustness, rademacher"):
        load_config(p)
    p.write_text('[sweep]\njobs = ["rademacher"]\ndata = "moons"\nsigma = [0]\nseed = [0]\n')
    with pytest.raises(SweepError, match="data must be a non-empty list"):
        load_config(p)


def test_small_sweep_on_a_local_dask_cluster_and_rerun_skips(tmp_path):
    from distributed import LocalCluster

    cfg_path = tmp_path / "s.toml"
    cfg_path.write_text(TINY)
    jobs = expand(load_config(cfg_path))
    assert len(jobs) == 8
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster:
        first = run_dask(jobs, str(tmp_path / "out"), cluster.scheduler_address)
        again = run_dask(jobs, str(tmp_path / "out"), cluster.scheduler_address)
    assert not any(r["reused"] for r in first) and all(r["reused"] for r in again)
    assert len({r["pid"] for r in first}) == 2  # both worker processes did work
    assert [r["result"] for r in first] == [r["result"] for r in again]
    rows = aggregate(first)
    rad = [r for r in rows if r["kind"] == "rademacher"]
    assert [r["sigma"] for r in rad] == [0.0, 0.3] and all(r["n"] == 2 for r in rad)
    assert all("R_lower_sd" in r for r in rad)
    json.dumps(rows)  # the aggregate is JSON-ready


GOOD = """[sweep]
jobs = ["robustness"]
data = ["moons"]
sigma = [0.0, 0.3]
seed = [0]
"""


@pytest.mark.parametrize("extra,message", [
    ("epoch = 1\n", "unknown key(s) ['epoch'] in [sweep]; valid: jobs, data"),
    ('epochs = "ten"\n', "[sweep] epochs = 'ten': must be an integer >= 1"),
    ("epochs = 0\n", "[sweep] epochs = 0: must be an integer >= 1"),
    ("blocks = [0]\n", "[sweep] blocks = [0]: must be integers >= 1"),
    ("[robustness]\npoint = 3\n", "unknown key(s) ['point'] in [robustness]"),
    ("[robustness]\nK = 1.5\n", "[robustness] K = 1.5: must be an integer >= 1"),
    ("[robustness]\neps = [-0.1]\n", "[robustness] eps = [-0.1]: must be a non-empty list"),
    ("[nosuch]\nx = 1\n", "unknown table(s) ['nosuch']"),
    # values the schema's types accept but the study's own config refuses, before any job
    ("[robustness]\neps = [0.2, 0.1]\n", "[robustness]: eps_linf = [0.2, 0.1]: give increasing"),
    ("[robustness]\neps = [0.0, 5.0]\n", "a linf radius above 1 is the whole box"),
])
def test_sweep_config_schema_refuses_bad_keys_and_values(tmp_path, extra, message):
    from validation.sweep.run import SweepError, load_config

    path = tmp_path / "s.toml"
    path.write_text(GOOD + extra)
    with pytest.raises(SweepError) as exc:
        load_config(path)
    assert message in str(exc.value), str(exc.value)


@pytest.mark.parametrize("line,message", [
    ('data = ["nosuch"]', "[sweep] data ['nosuch'] unknown; valid: moons"),
    ("sigma = [-1.0]", "[sweep] sigma = [-1.0]: must be finite numbers in [0, 10]"),
    ("sigma = [0.0, 1e6]", "[sweep] sigma = [0.0, 1000000.0]: must be finite numbers in [0, 10]"),
    ("sigma = [0.1, 0.3]", "[sweep] sigma = [0.1, 0.3] has no 0: the robustness "
     "jobs' verdicts pair each sigma with sigma = 0"),
    ("seed = [true]", "[sweep] seed = [True]: must be integers >= 0"),
    ("sigma = [0.0, 0.3, 0.3]", "[sweep] sigma = [0.0, 0.3, 0.3] repeats [0.3]; give each "
     "value once"),
    ("seed = [0, 0]", "[sweep] seed = [0, 0] repeats [0]"),
    ('data = ["moons", "moons"]', "[sweep] data = ['moons', 'moons'] repeats ['moons']"),
])
def test_sweep_config_schema_refuses_bad_grid_values(tmp_path, line, message):
    from validation.sweep.run import SweepError, load_config

    key = line.split(" = ")[0]
    text = "\n".join(line if ln.startswith(key + " =") else ln for ln in GOOD.splitlines())
    path = tmp_path / "s.toml"
    path.write_text(text + "\n")
    with pytest.raises(SweepError) as exc:
        load_config(path)
    assert message in str(exc.value), str(exc.value)
    assert load_config(_write(tmp_path / "ok.toml", GOOD))["sigma"] == [0.0, 0.3]


def _write(path, text):
    path.write_text(text)
    return path


def test_sweep_runs_the_report_studies_and_decides_paired(tmp_path):
    """A sweep's robustness jobs are the report's study: the report's own sweep on the same
    settings (another cache) gives the same rows and verdict; a sweep missing a job, or none,
    cannot be included."""
    from validation.studies.robustness.sweep import RobustnessSweep, run_sweep

    out = finished_tiny_sweep(tmp_path / "out")
    doc = load_finished(out)
    for f in out.rglob("*.json"):  # strict JSON: no bare NaN (jq, JavaScript)
        json.loads(f.read_text(), parse_constant=lambda c, f=f: pytest.fail(f"{f}: bare {c}"))
    by_kind = {v["kind"]: v for v in doc["verdicts"]}
    assert set(by_kind) == {"robustness", "rademacher"}
    assert all(v["seeds"] == 2 and v["sigmas"] == [0.0, 0.3] for v in doc["verdicts"])
    assert "Verdict on 'diffusion improves robustness (moons" in (out / "sweep.md").read_text()
    spec = RobustnessSweep(data="moons", sigmas=(0.0, 0.3), seeds=2, epochs=4, blocks=3,
                           points=12, K=4, steps=3, eps_linf=(0.0, 0.6), eps_l2=(0.0, 0.9))
    ref = run_sweep(spec, tmp_path / "ref", progress=False)
    rows = sorted((r["result"]["row"] for r in doc["jobs"] if r["job"]["kind"] == "robustness"),
                  key=lambda r: (r["sigma"], r["seed"]))
    assert json.dumps(rows, sort_keys=True) == json.dumps(
        sorted(ref["rows"], key=lambda r: (r["sigma"], r["seed"])), sort_keys=True)
    assert json.dumps(ref["verdict"]) == json.dumps(by_kind["robustness"]["verdict"])
    partial = tmp_path / "partial"
    partial.mkdir()
    raw = json.loads((out / "sweep.json").read_text())
    raw["jobs"] = raw["jobs"][1:]
    (partial / "sweep.json").write_text(json.dumps(raw))
    with pytest.raises(SweepError, match="1 of 8 jobs have no result"):
        load_finished(partial)
    with pytest.raises(SweepError, match="cannot read"):
        load_finished(tmp_path / "nowhere")


def test_sweep_without_a_baseline_says_why_it_has_no_verdict(tmp_path):
    from validation.sweep.run import sweep_verdicts

    out = finished_tiny_sweep(tmp_path / "out")
    doc = load_finished(out)
    only = [r for r in doc["jobs"] if r["job"]["sigma"] > 0]
    v = sweep_verdicts(only, doc["config"])
    assert all("sigmas [0.3] need 0" in e["why"] and "verdict" not in e for e in v)


def test_a_rademacher_sweep_with_more_points_than_the_split_is_refused(tmp_path):
    # the same check as `cdverify rademacher --points`, through the study's sweep_check
    from validation.sweep.run import SweepError, load_config

    text = GOOD.replace('jobs = ["robustness"]', 'jobs = ["rademacher"]')
    with pytest.raises(SweepError, match="--points 100000: the moons training split has 720"):
        load_config(_write(tmp_path / "r.toml", text + "[rademacher]\npoints = 100000\n"))
    assert load_config(_write(tmp_path / "ok.toml", text + "[rademacher]\npoints = 100\n"))


CHECK_TINY = """
[sweep]
jobs = ["check"]
data = ["digits-img"]
sigma = [0.0, 0.3]
seed = [0, 1, 2]
blocks = [2]
epochs = 1

[check]
techniques = "dropout"
claims = "training,lipschitz"
width = 4
passes = 2
lipschitz_points = 8
"""


def test_a_check_sweep_pairs_its_jobs_like_the_check_and_reports_each_setting(tmp_path):
    """Kind check: the sigma = 0 job trains plain and dropout, sigma 0.3 the paper's method;
    the sweep's verdicts are the check's own on the same models (run_check on the same config
    gives the same per-model numbers), with one claims-table row per claim and setting."""
    from dataclasses import replace

    from validation.report.build import sweep_claims
    from validation.studies import REGISTRY
    from validation.studies.check.study import run_check
    from validation.sweep.run import run_local, sweep_verdicts, write_outputs

    out = tmp_path / "out"
    cfg = load_config(_write(tmp_path / "c.toml", CHECK_TINY))
    jobs = expand(cfg)
    assert len(jobs) == 6
    results = run_local(jobs, str(out), workers=1)
    zero = [r for r in results if r["job"]["sigma"] == 0]
    assert all([x["setting"] for x in r["result"]["row"]["runs"]] == ["plain", "dropout p=0.1"]
               for r in zero)
    [v] = sweep_verdicts(results, cfg)
    check = v["check"]
    assert set(check["verdicts"]) == {"training", "lipschitz"}
    assert [r["setting"] for r in check["verdicts"]["training"]["rows"]] == \
        ["paper sigma=0.3", "dropout p=0.1"]
    assert check["verdicts"]["training"]["rows"][0]["seeds"] == 3
    write_outputs(aggregate(results), results, out, cfg)
    md = (out / "sweep.md").read_text()
    assert "check (digits-img, L = 2, 3 paired seeds)" in md and "Anchors" in md
    rows = sweep_claims("sweep-out", {"verdicts": [v]})
    assert len(rows) == 4 and all("digits-img, resnet2d L = 2" in r.claim for r in rows)
    # the same models through the check itself: the same numbers
    from validation.studies.check.config import parse_techniques

    ref = run_check(replace(REGISTRY["check"].job_config(jobs[0]), seeds=3,
                            settings=parse_techniques("dropout", [0.0, 0.3])),
                    tmp_path / "ref", progress=False)
    mine = {(r["setting"], r["seed"]): r["accuracy"] for r in check["runs"]}
    theirs = {(r["setting"], r["seed"]): r["accuracy"] for r in ref["runs"]}
    assert len(theirs) == 9 and mine == theirs
    assert json.dumps(ref["verdicts"]["training"]) == json.dumps(check["verdicts"]["training"])


@pytest.mark.parametrize("text, message", [
    (CHECK_TINY.replace('data = ["digits-img"]', 'data = ["moons"]'), "cannot run check jobs"),
    (CHECK_TINY.replace('jobs = ["check"]', 'jobs = ["robustness"]'),
     "cannot run robustness jobs"),
    (CHECK_TINY.replace('techniques = "dropout"', 'techniques = "nosuch"'),
     "unknown technique 'nosuch'"),
    (CHECK_TINY.replace('claims = "training,lipschitz"', 'claims = "training,speed"'),
     "unknown claim 'speed'"),
    (CHECK_TINY.replace('width = 4', 'width = "4"'), "must be an integer"),
    (CHECK_TINY.replace('techniques = "dropout"', 'techniques = 3'), "must be a string"),
])
def test_a_check_sweep_with_a_bad_table_is_refused_before_any_job(tmp_path, text, message):
    with pytest.raises(SweepError, match=message):
        load_config(_write(tmp_path / "bad.toml", text))


@pytest.mark.parametrize("doc,message", [
    ([], "holds a JSON list, not the object `cdverify sweep` writes"),
    ({"config": {"jobs": ["robustness"]}, "jobs": []}, "its config lacks data, sigma, seed"),
    ({"config": {"jobs": ["robustness"], "data": ["moons"], "sigma": [0.0], "seed": [0],
                 "blocks": [3], "epochs": 5, "params": {}}, "jobs": []},
     "its config does not expand to jobs (KeyError"),
    ({"config": {"jobs": [], "data": [], "sigma": [], "seed": [], "blocks": [], "epochs": 1,
                 "params": {}}, "jobs": [1, 2]}, "its jobs are not a list of results"),
])
def test_an_included_sweep_json_that_is_not_a_sweep_is_one_line(tmp_path, doc, message):
    """`report --include-sweep` on a sweep.json of [] was an AttributeError, on a bad config a
    KeyError: 'data'; both are now a SweepError naming the file and the fix."""
    (tmp_path / "sweep.json").write_text(json.dumps(doc))
    with pytest.raises(SweepError) as exc:
        load_finished(tmp_path)
    assert message in str(exc.value) and str(tmp_path / "sweep.json") in str(exc.value), \
        str(exc.value)


USER_FACTORY = """import torch
from torch import nn

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(1, 4, 3, padding=1)
        self.layer2 = nn.Sequential(nn.Conv2d(4, 8, 3, stride=2, padding=1), *[
            nn.Sequential(nn.Conv2d(8, 8, 3, padding=1), nn.Tanh()) for _ in range(2)])
        self.fc = nn.Linear(8, 10)

    def forward(self, x):
        z = self.layer2[0](self.stem(x))
        for f in self.layer2[1:]:
            z = z + 0.5 * f(z)
        return self.fc(z.mean((2, 3)))

def make():
    return Net()
"""


def test_a_check_sweep_runs_a_users_model_on_its_stage(tmp_path):
    """model = FILE.py:FACTORY with stage = its residual stage (here a slice after a
    downsampling block): the jobs train the user's network and the sweep's section names the
    stage as read. Refused before any job: a factory without a stage, a stage the forward
    cannot read as a flow (the whole layer2), and a stage given to a built-in model."""
    from validation.sweep.run import run_local, sweep_verdicts, write_outputs

    factory = _write(tmp_path / "down.py", USER_FACTORY)
    user = CHECK_TINY.replace('seed = [0, 1, 2]', 'seed = [0, 1]').replace(
        'techniques = "dropout"', f'techniques = ""\nmodel = "{factory}:make"\n'
                                  'stage = "layer2[1:]"').replace('claims = "training,lipschitz"',
                                                                  'claims = "training"')
    cfg = load_config(_write(tmp_path / "user.toml", user))
    results = run_local(expand(cfg), str(tmp_path / "out"), workers=1)
    [v] = sweep_verdicts(results, cfg)
    assert v["check"]["stage"]["path"] == "layer2[1:]"
    assert v["check"]["stage"]["scale"] == pytest.approx(0.5)
    write_outputs(aggregate(results), results, tmp_path / "out", cfg)
    assert ("stage layer2[1:]: 2 blocks, features 8 x 4 x 4; the forward adds the skip itself"
            in (tmp_path / "out" / "sweep.md").read_text())
    for text, message in (
            (user.replace('stage = "layer2[1:]"\n', ""), "a user's model needs its stage"),
            (user.replace('stage = "layer2[1:]"', 'stage = "layer2"'), r"e\.g\. layer2\[1:\]"),
            (user.replace(f'model = "{factory}:make"', 'model = "resnet2d"'),
             "the built-in resnet2d has its own stage")):
        with pytest.raises(SweepError, match=message):
            load_config(_write(tmp_path / "bad.toml", text))
