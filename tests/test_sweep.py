"""Sweeps: config validation, a small sweep on a local Dask cluster, idempotent reruns."""

from __future__ import annotations

import json

import pytest

from validation.pipeline.sweep import SweepError, aggregate, expand, load_config, run_dask

TINY = """
[sweep]
jobs = ["rademacher", "robustness"]
data = ["moons"]
sigma = [0.0, 0.3]
seed = [0, 1]
blocks = [3]
epochs = 4

[rademacher]
points = 30
draws = 3
steps = 5
noise_samples = 2

[robustness]
points = 12
K = 4
pgd_steps = 3
eps = [0.0, 0.6]
eps_l2 = [0.0, 0.9]
"""


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
])
def test_sweep_config_schema_refuses_bad_keys_and_values(tmp_path, extra, message):
    from validation.pipeline.sweep import SweepError, load_config

    path = tmp_path / "s.toml"
    path.write_text(GOOD + extra)
    with pytest.raises(SweepError) as exc:
        load_config(path)
    assert message in str(exc.value), str(exc.value)


@pytest.mark.parametrize("line,message", [
    ('data = ["nosuch"]', "[sweep] data ['nosuch'] unknown; valid: moons"),
    ("sigma = [-1.0]", "[sweep] sigma = [-1.0]: must be finite numbers >= 0"),
    ("seed = [true]", "[sweep] seed = [True]: must be integers >= 0"),
])
def test_sweep_config_schema_refuses_bad_grid_values(tmp_path, line, message):
    from validation.pipeline.sweep import SweepError, load_config

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
