"""Sweeps: config validation, a small sweep on a local Dask cluster, idempotent reruns."""

from __future__ import annotations

import json

import pytest

from validation.sweep import SweepError, aggregate, expand, load_config, run_dask

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
