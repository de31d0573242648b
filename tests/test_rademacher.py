"""Rademacher estimates: calibration on the linear class, batching, sandwich, the cache."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from theory import bounds
from validation.studies.rademacher.estimate import (
    linear_class_estimate,
    network_estimate,
    norm_bounds,
    rademacher_signs,
    sandwich_check,
    trained_radii,
)


def test_linear_class_estimator_matches_the_exact_supremum_within_its_standard_error(rng):
    """Calibration: the ascent reaches the exact per-draw sup, and the mean over draws matches
    the exact expectation (all 2^m sign vectors) within 3 standard errors."""
    m, B = 10, 1.5
    x = rng.normal(size=(m, 2))
    est, exact = linear_class_estimate(x, B, draws=300, seed=2)
    np.testing.assert_allclose(est.per_draw, exact.per_draw, atol=1e-9)
    all_eps = np.array(list(itertools.product([-1.0, 1.0], repeat=m)))
    truth = bounds.linear_rademacher_exact(x, all_eps, B).mean()
    assert abs(est.mean - truth) <= 3 * est.stderr
    assert truth <= bounds.linear_rademacher_upper(x, B)  # Jensen


def _model(sigma, seed=0):
    from validation.nets.models import DiffusionResNet

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return DiffusionResNet(2, 2, blocks=3, sigma=sigma, hidden=8).double()


def test_batched_and_per_draw_estimates_agree():
    m = _model(0.3)
    x = np.random.default_rng(0).uniform(size=(30, 2))
    a = network_estimate(m, x, draws=4, steps=10, noise_samples=2, batched=True)
    b = network_estimate(m, x, draws=4, steps=10, noise_samples=2, batched=False)
    c = network_estimate(m, x, draws=4, steps=10, noise_samples=2, batched="vmap")
    np.testing.assert_allclose(a.per_draw, b.per_draw, rtol=1e-10)
    np.testing.assert_allclose(c.per_draw, b.per_draw, rtol=1e-10)
    f32 = network_estimate(m, x, draws=4, steps=10, noise_samples=2, dtype="float32")
    np.testing.assert_allclose(f32.per_draw, b.per_draw, rtol=1e-5)  # rounding only
    import pytest

    with pytest.raises(ValueError, match="valid: float64, float32"):
        network_estimate(m, x, draws=2, steps=2, dtype="float16")


def test_stacked_logits_equal_the_model_per_parameter_set():
    """models.stacked_logits (K parameter sets in one pass) against functional_call per set,
    with an encoder (digits-like input) and with noise; a perturbed set must differ."""
    from torch.func import functional_call

    from validation.nets.models import DiffusionResNet, stacked_logits

    torch.manual_seed(0)
    model = DiffusionResNet(5, 3, blocks=4, sigma=0.4, hidden=6).double()
    x = torch.randn(7, 5, dtype=torch.float64)
    noise = [torch.randn(7, 2, dtype=torch.float64) for _ in range(4)]
    sets = [{n: p.detach() + 0.1 * k * torch.randn_like(p) for n, p in
             model.named_parameters()} for k in range(3)]
    stacked = {n: torch.stack([s[n] for s in sets]) for n in sets[0]}
    out = stacked_logits(model, stacked, x, noise)
    for k, s in enumerate(sets):
        ref = functional_call(model, s, (x,), {"noise": noise})
        torch.testing.assert_close(out[k], ref, rtol=1e-12, atol=1e-12)
    assert (out[1] - out[0]).abs().max() > 1e-3  # control: the sets are different networks


def test_float32_keeps_the_linear_calibration_to_1e6():
    x = np.random.default_rng(4).normal(size=(200, 2))
    a64, exact = linear_class_estimate(x, 1.0, draws=32, steps=60, seed=1000)
    a32, _ = linear_class_estimate(x, 1.0, draws=32, steps=60, seed=1000, dtype="float32")
    assert abs(exact.mean - a64.mean) / exact.mean < 1e-12
    assert abs(exact.mean - a32.mean) / exact.mean < 1e-6


def test_estimate_grows_with_the_radius_and_respects_the_ball():
    m = _model(0.0)
    x = np.random.default_rng(1).uniform(size=(40, 2))
    r = trained_radii(m)
    small = network_estimate(m, x, draws=6, steps=30, radii={k: 0.5 * v for k, v in r.items()})
    big = network_estimate(m, x, draws=6, steps=30, radii={k: 2.0 * v for k, v in r.items()})
    assert big.mean > small.mean > 0
    assert rademacher_signs(3, 5, 0).abs().eq(1).all()


def test_jensen_sandwich_holds_on_a_small_model():
    m = _model(0.5)
    x = np.random.default_rng(2).uniform(size=(30, 2))
    res = sandwich_check(m, x, realisations=3, samples=4, draws=8, steps=20)
    assert res["holds"], res


def test_norm_bounds_report_their_assumptions():
    m = _model(0.0)
    nb = norm_bounds(m, np.random.default_rng(3).uniform(size=(20, 2)))
    assert nb["golowich_rakhlin_shamir"] > 0 and "not certified" in nb["status"]


def test_cached_stage_is_not_recomputed(tmp_path):
    from validation.store.cache import cached_json

    calls = []

    def compute():
        calls.append(1)
        return {"x": 1}

    assert cached_json(tmp_path, "s", {"a": 1}, compute) == {"x": 1}
    assert cached_json(tmp_path, "s", {"a": 1}, compute) == {"x": 1}
    assert len(calls) == 1
    cached_json(tmp_path, "s", {"a": 2}, compute)
    assert len(calls) == 2


def test_the_residual_bound_is_valid_and_its_check_can_fail():
    """The bound for the class (every parameter in its ball) lies above the strongest lower
    estimate; a bound computed for a smaller class (radii x 0.3) falls below it: the
    comparison would catch a bound for the wrong class."""
    from validation.studies.rademacher.estimate import residual_upper_bound

    m = _model(0.0, seed=0)
    x = np.random.default_rng(0).uniform(size=(40, 2))
    R = {k: 0.3 * v for k, v in trained_radii(m).items()}
    est = network_estimate(m, x, draws=32, steps=80, noise_samples=1, radii=R, restarts=3)
    ub = residual_upper_bound(m, x, R)["bound"]
    assert est.mean + 3 * est.stderr <= ub <= 10 * est.mean  # valid, and not vacuous here
    small = residual_upper_bound(m, x, {k: 0.3 * v for k, v in R.items()})["bound"]
    assert small < est.mean
    noisy = _model(0.5, seed=0)
    from validation.studies.rademacher.estimate import common_noise

    noise = common_noise(noisy, 40, 4, 1)
    with_noise = residual_upper_bound(noisy, x, R, noise=noise)["bound"]
    est_n = network_estimate(noisy, x, draws=32, steps=80, noise_samples=4, radii=R)
    assert with_noise > ub and est_n.mean <= with_noise
    import pytest

    with pytest.raises(ValueError, match="radii lack"):
        residual_upper_bound(m, x, {"base.weight": 1.0})


def test_sweep_jobs_on_two_workers_give_the_numbers_of_one(tmp_path):
    """store.workers.map_jobs: spawned single-thread workers, results in job order, the
    same estimates as the sequential run (each job seeds its own generators)."""
    from validation.studies.rademacher.sweep import RademacherSweep, run_sweep

    kw = {"sigmas": (0.0, 0.3), "seeds": 2, "epochs": 2, "points": 20, "draws": 2,
          "steps": 3, "noise_samples": 1}
    one = run_sweep(RademacherSweep(**kw), tmp_path / "one", progress=False)
    two = run_sweep(RademacherSweep(**kw, workers=2), tmp_path / "two", progress=False)
    assert [(r["sigma"], r["seed"]) for r in two["rows"]] == \
        [(r["sigma"], r["seed"]) for r in one["rows"]]
    np.testing.assert_allclose([r["R_lower"] for r in two["rows"]],
                               [r["R_lower"] for r in one["rows"]], rtol=1e-6)


def _ascend_margin(model, x, radii, noise, steps=150, seed=0):
    """max_i |f(x_i)| reached by projected ascent on f(x_0) over the parameter balls (a point
    of the class: a lower estimate of sup |f|), from a random start on the balls' spheres."""
    from torch.func import functional_call

    g = torch.Generator().manual_seed(seed)
    params = {}
    for n, p in model.named_parameters():
        v = torch.randn(p.shape, generator=g, dtype=torch.float64)
        params[n] = (v * radii[n] / v.norm()).requires_grad_(True)
    X = torch.tensor(x)
    S = 1 if noise is None else noise[0].shape[0] // len(x)
    xs = X.repeat(S, 1)

    def margins():
        out = functional_call(model, params, (xs,), {"noise": noise})
        return (out[:, 1] - out[:, 0]).reshape(S, len(x)).mean(0)
    for _ in range(steps):
        gs = torch.autograd.grad(margins()[0], list(params.values()))
        with torch.no_grad():
            for (n, p), gp in zip(params.items(), gs, strict=True):
                p.add_(0.05 * radii[n] * gp / gp.norm().clamp_min(1e-12))
                p.mul_(torch.clamp(radii[n] / p.norm(), max=1.0))
    with torch.no_grad():
        return float(margins().abs().max())


@pytest.mark.parametrize("kind", ["plain", "noisy", "encoder"])
def test_the_sup_norm_bound_holds_and_a_smaller_class_is_caught(kind):
    """sup_norm_bound >= sup |f| found by ascent over the class and >= the Rademacher lower
    estimate; the bound of the class with radii x 0.3 falls below what the ascent reaches in
    the full class (the comparison catches a bound for the wrong class)."""
    from validation.nets.models import DiffusionResNet
    from validation.studies.rademacher.estimate import common_noise, sup_norm_bound

    rng = np.random.default_rng(1)
    if kind == "encoder":  # 64-D input, 10 classes, the margin of classes 1 and 0
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(2)
            m = DiffusionResNet(64, 10, blocks=3, sigma=0.3, hidden=8).double()
        x = rng.uniform(size=(20, 64))
    else:
        m = _model(0.5 if kind == "noisy" else 0.0, seed=3)
        x = rng.uniform(size=(20, 2))
    R = trained_radii(m)
    noise = common_noise(m, len(x), 3, 1)
    D = sup_norm_bound(m, x, R, noise=noise)["bound"]
    reached = max(_ascend_margin(m, x, R, noise, seed=s) for s in range(3))
    est = network_estimate(m, x, draws=16, steps=60, noise_samples=3 if noise else 1,
                           radii=R)
    assert reached <= D and est.mean + 3 * est.stderr <= D
    assert reached > 0.3 * D  # the bound is within a small factor of what the class reaches
    small = sup_norm_bound(m, x, {k: 0.3 * v for k, v in R.items()}, noise=noise)["bound"]
    assert small < reached
    with pytest.raises(ValueError, match="radii lack"):
        sup_norm_bound(m, x, {"base.weight": 1.0})


@pytest.fixture(scope="module")
def two_sigmas():
    """A seed's sigma = 0 and sigma = 0.3 models, briefly trained on a small moons split."""
    from validation.nets.data import make_dataset
    from validation.nets.train import TrainConfig, train

    data = make_dataset("moons", 300, seed=0)
    models = [train(TrainConfig(data="moons", sigma=s, epochs=10, n=300), data,
                    progress=False)[0] for s in (0.0, 0.3)]
    return models, data


def test_the_start_family_makes_the_estimate_independent_of_where_the_ascent_began(two_sigmas):
    """Issue 23: starting the ascent of one class from the other sigma's trained weights moved
    R_lower (negative control: two single starts differ); from the seed's start family (every
    sigma's trained weights) the estimate is the same whichever order the family is given in."""
    from validation.studies.rademacher.estimate import (
        converged_estimate,
        network_estimate,
        trained_radii,
    )

    (m0, m3), data = two_sigmas
    x = data.x_train[:30]
    kw = {"draws": 4, "steps": 12, "noise_samples": 2, "seed": 1000,
          "radii": trained_radii(m0), "dtype": "float64"}

    def weights(m):
        return {n: p.detach() for n, p in m.named_parameters()}

    own = network_estimate(m3, x, **kw).mean
    other = network_estimate(m3, x, starts=[weights(m0)], **kw).mean
    assert own != other  # where the ascent begins changes the single-start estimate
    a = converged_estimate(m3, x, starts=[weights(m3), weights(m0)], max_doublings=1, **kw)
    b = converged_estimate(m3, x, starts=[weights(m0), weights(m3)], max_doublings=1, **kw)
    assert a.mean == pytest.approx(b.mean, rel=1e-12)
    assert a.mean >= max(own, other) - 1e-12  # the family's best is at least each start's


def test_an_unconverged_ascent_is_named_with_its_remaining_change(two_sigmas):
    """Two steps doubled once move the estimate by far more than 1%: not converged, and the
    change is the reported optimisation gap; more steps shrink it (control)."""
    from validation.studies.rademacher.estimate import converged_estimate, trained_radii

    (m0, m3), data = two_sigmas
    x = data.x_train[:30]
    kw = {"draws": 4, "noise_samples": 2, "seed": 1000, "radii": trained_radii(m0),
          "dtype": "float64", "max_doublings": 1}
    short = converged_estimate(m3, x, steps=2, **kw)
    assert not short.details["converged"] and short.details["opt_gap"] > 0.01 * short.mean
    runs = short.details["runs"]
    assert short.details["opt_gap"] == pytest.approx(abs(runs[1][1] - runs[0][1]))
    longer = converged_estimate(m3, x, steps=40, **kw)
    assert longer.details["opt_gap"] / longer.mean < short.details["opt_gap"] / short.mean


def test_the_verdict_widens_its_intervals_by_the_optimisation_gap():
    """A clear 'refuted at delta' on the estimates becomes inconclusive when each difference
    could still move by more than delta's margin; a tiny gap leaves it refuted (control)."""
    from validation.stats.paired import compare_to_baseline

    by = {0.0: [1.0, 1.02, 0.98, 1.01, 0.99], 0.3: [1.0, 1.015, 0.985, 1.0, 1.0]}
    tight = compare_to_baseline(by, lower_is_better=True, delta=0.1, relative=True,
                                slack={0.3: 1e-4})
    assert tight["verdict"] == "refuted at delta"
    loose = compare_to_baseline(by, lower_is_better=True, delta=0.1, relative=True,
                                slack={0.3: 0.2})
    assert loose["verdict"] == "inconclusive" and "optimisation gap" in loose["rule"]
