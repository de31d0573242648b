"""Graph diffusion: constructions, the comparison condition, the violation finder, continuum
limits (closed form and operator identification) and the COIN classifier; negative controls."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sps
from hypothesis import given, settings
from hypothesis import strategies as st

from numerics.errors import NumericsError
from numerics.graph import (
    NORMALISATIONS,
    critical_tau,
    degrees,
    diffusion_step,
    kernel_graph,
    knn_gaussian_graph,
    laplacian,
    order_violation,
    preferential_attachment,
    self_loop_normalised,
)


def _random_graph(seed: int, n: int, density: float, loops: bool) -> np.ndarray:
    rng = np.random.default_rng(seed)
    W = rng.random((n, n)) * (rng.random((n, n)) < density) * rng.choice([0.1, 1.0, 10.0])
    W = (W + W.T) / 2
    if not loops:
        np.fill_diagonal(W, 0.0)
    return W


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 10_000), st.integers(2, 30), st.floats(0.05, 1.0), st.booleans(),
       st.floats(0.2, 3.0))
def test_condition_against_brute_force(seed, n, density, loops, factor):
    """The step I - tau L is entrywise >= 0 (so it maps u >= 0 to u >= 0) exactly when
    tau <= tau*; the finder returns a witness exactly when it is not."""
    W = _random_graph(seed, n, density, loops)
    ts = critical_tau(sps.csr_matrix(W))
    if not np.isfinite(ts):
        assert np.all(W - np.diag(np.diag(W)) == 0)
        return
    tau = factor * ts
    T = np.eye(n) - tau * (np.diag(W.sum(1)) - W)  # dense, independent of the module's step
    keeps = T.min() >= -1e-12
    v = order_violation(W, tau)
    assert keeps == (v is None)  # the finder against brute force
    if abs(factor - 1) > 1e-9:  # the condition against brute force (tau* itself: rounding)
        assert keeps == (factor < 1)
    if v is not None:
        assert v.u0.min() >= 0 and (T @ v.u0).min() < 0
        np.testing.assert_allclose(v.u1, T @ v.u0, atol=1e-12)


def test_violation_finder_on_a_hub_graph_and_its_controls():
    W = self_loop_normalised(preferential_attachment(1000, 2, seed=0))
    ts = critical_tau(W)
    assert ts < 0.35  # hubs push tau* below the citation default
    v = order_violation(W, 0.35)
    assert v is not None and v.u0.min() >= 0 and v.u1[v.node] < 0
    dense = np.eye(1000) - 0.35 * (np.diag(degrees(W)) - W.toarray())
    np.testing.assert_allclose(dense @ v.u0, v.u1, atol=1e-12)
    hub_degree = int((W[v.node] > 0).sum()) - 1
    assert hub_degree > 20  # the witness sits on a hub
    assert order_violation(W, ts) is None and order_violation(W, 0.99 * ts) is None
    # control: a ring has no hubs: tau* = 1.5 with self-loop normalisation, no violation
    n = 200
    ring = sps.diags([np.ones(n - 1), np.ones(n - 1)], [1, -1], shape=(n, n)).tolil()
    ring[0, n - 1] = ring[n - 1, 0] = 1
    Wr = self_loop_normalised(ring.tocsr())
    assert critical_tau(Wr) == pytest.approx(1.5)
    assert order_violation(Wr, 0.35) is None and order_violation(Wr, 1.51) is not None


def test_constructions_are_symmetric_and_checked():
    rng = np.random.default_rng(0)
    x = rng.random((300, 2))
    for W in (knn_gaussian_graph(x), kernel_graph(x, 0.05, periodic=True),
              self_loop_normalised(preferential_attachment(100, 3, seed=1))):
        assert abs(W - W.T).max() < 1e-14 and W.data.min() >= 0
    A = preferential_attachment(500, 2, seed=0)
    assert A.nnz == 2 * (3 + 2 * (500 - 3))  # a triangle, then 2 edges per node, both ways
    assert degrees(A).max() > 10 * 2  # hubs
    with pytest.raises(NumericsError, match="kappa"):
        knn_gaussian_graph(x, n_top=4, kappa=5)
    with pytest.raises(NumericsError, match="duplicates"):
        knn_gaussian_graph(np.repeat(x[:20], 6, axis=0))
    with pytest.raises(NumericsError, match="non-finite"):
        knn_gaussian_graph(np.where(np.arange(600).reshape(300, 2) == 7, np.nan, x))
    with pytest.raises(NumericsError, match="symmetric"):
        critical_tau(np.array([[0.0, 1.0], [0.0, 0.0]]))
    with pytest.raises(NumericsError, match="non-negative"):
        laplacian(np.array([[0.0, -1.0], [-1.0, 0.0]]))
    with pytest.raises(NumericsError, match="valid: unnormalised, random-walk"):
        laplacian(A, "normalised")
    with pytest.raises(NumericsError, match="torus"):
        kernel_graph(x, 0.2, periodic=True)


def test_laplacians_annihilate_their_invariant_vectors():
    W = kernel_graph(np.random.default_rng(1).random((400, 2)), 0.08, periodic=True)
    one = np.ones(400)
    for name in NORMALISATIONS:
        L = laplacian(W, name)
        null = np.sqrt(degrees(W)) if name == "symmetric" else one
        assert np.abs(L @ null).max() < 1e-12, name
        assert np.abs(L @ np.random.default_rng(2).random(400)).max() > 1e-3  # not zero
    u = np.random.default_rng(3).random((400, 3))
    step = diffusion_step(W, u, 0.9 * critical_tau(W))
    np.testing.assert_allclose(step.sum(0) , u.sum(0))  # symmetric W: mass conserved
    assert step.min() >= 0  # comparison principle below tau*


@pytest.mark.parametrize("u, tau, message", [
    (np.ones(2), 0.1, r"u has shape \(2,\); expected \(3,\) or \(3, C\) for a graph of 3 nodes"),
    (np.ones((3, 2, 2)), 0.1, r"u has shape \(3, 2, 2\)"),
    (np.ones(3), -0.1, r"tau = -0\.1; give a step tau >= 0 \(tau < 0 runs diffusion backward\)"),
    (np.ones(3), np.nan, r"tau = nan"),
])
def test_a_diffusion_step_refuses_a_wrong_u_or_a_negative_tau(u, tau, message):
    W = np.array([[0, 1, 0], [1, 0, 2], [0, 2, 0]], float)
    with pytest.raises(NumericsError, match=message):
        diffusion_step(W, u, tau)
    # control: tau = 0 is the identity, and (N, C) data are stepped column by column
    assert np.array_equal(diffusion_step(W, np.arange(3.0), 0.0), np.arange(3.0))
    both = diffusion_step(W, np.stack([np.arange(3.0), np.ones(3)], 1), 0.2)
    assert np.allclose(both[:, 0], diffusion_step(W, np.arange(3.0), 0.2))


def test_heat_flow_converges_at_the_expected_rate_and_a_wrong_limit_does_not():
    from numerics.graph_limit import heat_flow_convergence

    ok = heat_flow_convergence()
    assert ok["converges"] and ok["mean_errors"][-1] < 0.6 * ok["mean_errors"][0]
    assert ok["ci95"][0] <= 1 / 3 <= ok["ci95"][1]
    # negative control: the same graph flows against the heat flow of 1.3 Delta: a plateau
    wrong = heat_flow_convergence(diffusivity=1.3)
    assert not wrong["converges"] and wrong["ci95"][1] < 1 / 3
    assert min(wrong["mean_errors"]) > max(ok["mean_errors"][-1], 0.06)
    with pytest.raises(NumericsError, match="at least 4"):
        heat_flow_convergence((500, 1000, 2000))


def test_each_normalisation_is_identified_with_its_operator():
    from numerics.graph_limit import EXPECTED_LIMIT, identify_limits

    res = identify_limits()
    assert [r["status"] for r in res["rows"]] == ["matches"] * 4
    for r in res["rows"]:
        assert r["identified"] == EXPECTED_LIMIT[r["normalisation"]]
        assert r["constant"] == pytest.approx(1.0, abs=0.08)  # the scaling, not fitted away
    # negative control: expect the random walk to approach Delta (no density drift)
    wrong = identify_limits(expected={**EXPECTED_LIMIT, "random-walk": "laplace"})
    assert {r["normalisation"]: r["status"] for r in wrong["rows"]}["random-walk"] == \
        "contradicts"


def test_coin_layers_are_k_explicit_steps_and_runs_are_seeded():
    import torch

    from validation.studies.graph.coin import Coin, CoinConfig, run_coin, transductive_data

    cfg = CoinConfig(data="moons", n=300, K=3, tau=0.5, epochs=20, seed=4)
    x, y, mask, c = transductive_data(cfg)
    assert mask.sum() == 10 * c and len(x) == len(y) == 300
    assert not np.array_equal(mask, transductive_data(CoinConfig(n=300, seed=5))[2])
    W = knn_gaussian_graph(x)
    torch.manual_seed(0)
    model = Coin(2, c, 8, W, K=3, tau=0.5).double()
    X = torch.as_tensor(x)
    with torch.no_grad():
        u0 = model.base(X).numpy()
        uK = model(X).numpy()
        rows = model(X, torch.as_tensor([0, 5])).numpy()
    ref = u0
    for _ in range(3):
        ref = diffusion_step(W, ref, 0.5)
    np.testing.assert_allclose(uK, ref, atol=1e-12)
    np.testing.assert_allclose(rows, ref[[0, 5]], atol=1e-12)
    np.testing.assert_allclose(uK.sum(1), 1, atol=1e-12)
    a, b = run_coin(cfg), run_coin(cfg)
    assert a == b and 0.5 < a["accuracy"] <= 1 and a["labelled"] == 20
    # one layer beyond tau* maps some probability vector outside the simplex
    one = Coin(2, c, 8, W, K=1, tau=1.01 * critical_tau(W)).double()
    assert one.M.min() < 0
    assert Coin(2, c, 8, W, K=1, tau=critical_tau(W)).double().M.min() >= 0
    with pytest.raises(ValueError, match="K = -1"):
        CoinConfig(K=-1)


@pytest.fixture(scope="module")
def small_study():
    from validation.studies.graph.study import GraphStudy, run_study

    spec = GraphStudy(data=("moons",), seeds=3, epochs=30, tau_seeds=2, hub_nodes=300,
                      limit_ns=(200, 400, 800, 1600), identify_ns=(400, 800, 1600, 3200),
                      reps=2)
    return run_study(spec, progress=False)


def test_every_part_of_the_study_on_the_pool_gives_its_own_numbers(small_study):
    """The COIN pairs, the tau sweeps and the continuum-limit studies are jobs of one pool
    (workers and this process share them): on 2 workers each part equals the same part
    computed alone, in place. The control: the two limit studies' results are not
    interchangeable (a mix-up of the extra jobs' order would be seen)."""
    from numerics.graph_limit import heat_flow_convergence, identify_limits
    from validation.studies.graph.study import GraphStudy, coin_pair, run_study, tau_runs

    spec = GraphStudy(**{k: tuple(v) if isinstance(v, list) else v
                         for k, v in small_study["spec"].items()} | {"workers": 2})
    pooled = run_study(spec, progress=False)
    assert pooled["heat_flow"] == heat_flow_convergence(spec.limit_ns, reps=spec.reps)
    assert pooled["limits"] == identify_limits(spec.identify_ns)
    assert pooled["coin"]["runs"] == [r for s in range(spec.seeds)
                                      for r in coin_pair(spec, "moons", s)]
    assert pooled["coin"]["tau_sweep"] == [r for s in range(spec.tau_seeds)
                                           for r in tau_runs(spec, s)]
    assert pooled["coin"]["runs"] == small_study["coin"]["runs"]  # one worker, in order
    assert pooled["heat_flow"] != pooled["limits"]  # control


def test_study_outputs_and_claims_negative_controls(small_study, tmp_path):
    import copy
    import json

    from validation.studies.graph.study import claims, write_outputs

    files = write_outputs(small_study, tmp_path)
    for f in files:
        assert (tmp_path / f).stat().st_size > 0
    doc = json.loads((tmp_path / "graph.json").read_text())
    assert doc["coin"]["verdicts"]["moons"]["label"] == "K" and "versions" in doc
    rows = claims(small_study)
    assert len(rows) == 3 and rows[0]["status"] == "holds"
    assert {r["tau"] for r in small_study["coin"]["tau_sweep"]} and \
        len(small_study["coin"]["runs"]) == 3 * 2

    def status(mutate, i):
        r = copy.deepcopy({k: v for k, v in small_study.items() if not k.startswith("_")})
        mutate(r)
        return claims(r)[i]["status"]

    assert status(lambda r: r["hub"].update(found=False), 0) == "fails"
    assert status(lambda r: r["hub"].update(none_at_tau_star=False), 0) == "fails"
    assert status(lambda r: r["random_graphs"].update(agree=199), 0) == "fails"
    assert status(lambda r: r["limits"]["rows"][1].update(status="contradicts"), 1) == "fails"
    assert status(lambda r: r["heat_flow"].update(ci95=[0.01, 0.2], converges=False), 1) == \
        "fails"
    from validation.stats.paired import compare_to_baseline

    worse = compare_to_baseline({0: [0.9, 0.92, 0.88, 0.91], 10: [0.7, 0.71, 0.69, 0.72]},
                                lower_is_better=False, delta=0.02, label="K")
    assert status(lambda r: r["coin"]["verdicts"].update(moons=worse), 2) == "fails"


def test_sample_sizes_too_small_for_the_torus_are_refused_before_any_work(tmp_path, capsys):
    from numerics.graph_limit import HEAT_FLOW_C, HEAT_FLOW_EXPONENT, check_sample_sizes
    from validation.cli import main

    check_sample_sizes((200, 400, 800, 1600), HEAT_FLOW_C, HEAT_FLOW_EXPONENT)  # control
    with pytest.raises(ValueError, match=r"use sample sizes n >= 130"):
        check_sample_sizes((129, 400, 800, 1600), HEAT_FLOW_C, HEAT_FLOW_EXPONENT)
    check_sample_sizes((130, 400, 800, 1600), HEAT_FLOW_C, HEAT_FLOW_EXPONENT)  # the bound
    out = tmp_path / "g"
    assert main(["graph", "--limit-ns", "5,6,7,8", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "limit_ns (--limit-ns): sample size(s) [5, 6, 7, 8]" in err
    assert not out.exists() or not any(out.iterdir())


def test_a_tau_beyond_tau_star_is_stated_before_the_work_and_in_the_verdict(small_study):
    """`graph --tau 1e9` was a COIN verdict with no word that the layers left the simplex: the
    warning comes from the samples alone, and the verdict's statistic says it."""
    from validation.studies.graph.study import GraphStudy, tau_statement, tau_warnings

    far = tau_warnings(GraphStudy(data=("moons", "circles"), tau=1e9))
    assert len(far) == 2 and all("beyond tau*" in w for w in far)
    assert "--tau 1e+09 is" in far[0] and "of the moons graph" in far[0]
    ts = min(r["tau_star"] for r in small_study["coin"]["runs"])
    assert tau_warnings(GraphStudy(data=("moons",), tau=0.5 * ts)) == []  # control
    runs = [{"tau_star": 0.1, "min_entry": -0.25}, {"tau_star": 0.2, "min_entry": 0.01}]
    text = tau_statement(0.4, runs)
    assert text.startswith("BEYOND tau*: tau = 2.00 .. 4.00 x tau*") and "1/2 runs" in text
    assert "smallest -0.250" in text
    assert tau_statement(0.05, runs).startswith("tau = 0.250 .. 0.500 x tau*")  # control
    v = small_study["coin"]["verdicts"]["moons"]
    assert "x tau* of the runs' graphs" in v["statistic"]


def test_more_labels_than_a_class_holds_is_refused_before_any_work(tmp_path, capsys):
    from validation.cli import main

    out = tmp_path / "g"
    assert main(["graph", "--labels", "100000", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "class 0 of moons has 300 samples" in err and "graph study jobs" not in err
    assert not out.exists() or not any(out.iterdir())


def test_the_heat_flow_rate_is_described_by_what_its_interval_says():
    """An interval that contains the expected order but reaches 0 said 'NOT consistent with
    convergence at the expected rate' (the graph CLI at 1 sample set per N: order 0.46, CI
    -0.12 .. 1.05, expected 0.33); each case of the claim's rule now has its own words."""
    from validation.studies.graph.study import _rate_finding

    def hf(lo, hi):
        return {"ci95": [lo, hi], "expected_order": 1 / 3, "converges": 0 < lo <= 1 / 3 <= hi}

    assert _rate_finding(hf(0.1, 0.6)) == "converges at the expected rate"
    assert "not established: the interval reaches 0" in _rate_finding(hf(-0.12, 1.05))
    assert "lies below it" in _rate_finding(hf(0.05, 0.2))
    assert "faster than the expected rate" in _rate_finding(hf(0.5, 0.9))
