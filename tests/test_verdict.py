"""The paired verdict rules: tests against scipy and simulation, and each verdict's outcome."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from validation.doc import num
from validation.stats.paired import compare_to_baseline, holm, sign_flip_p
from validation.stats.power import minimum_detectable_effect, paired_power, seeds_needed


def _study(effect: float, n: int, *, between: float = 0.1, within: float = 0.01,
           seed: int = 0) -> dict:
    """n seeds whose baselines vary by ``between`` and whose paired differences are
    effect + N(0, within^2): a paired design sees the effect, an unpaired one hardly."""
    rng = np.random.default_rng(seed)
    base = 0.6 + between * rng.standard_normal(n)
    return {0.0: list(base), 0.3: list(base + effect + within * rng.standard_normal(n))}


def test_paired_t_and_interval_match_scipy():
    from scipy.stats import ttest_rel

    s = _study(0.01, 8, within=0.02, seed=3)
    row = compare_to_baseline(s, lower_is_better=False, delta=0.02)["rows"][0]
    ref = ttest_rel(s[0.3], s[0.0])
    assert row["p_value"] == pytest.approx(ref.pvalue, rel=1e-9)
    ci = ref.confidence_interval(0.95)
    assert row["ci95"] == pytest.approx([ci.low, ci.high], rel=1e-9)
    # lower is better: the improvement changes sign, the p-value does not
    low = compare_to_baseline(s, lower_is_better=True, delta=0.02)["rows"][0]
    assert low["improvement"] == pytest.approx(-row["improvement"])
    assert low["p_value"] == pytest.approx(row["p_value"])


def test_pairs_are_formed_by_seed_not_by_position():
    s = _study(0.03, 10, seed=1)
    keyed = {0.0: dict(enumerate(s[0.0])), 0.3: dict(reversed(list(enumerate(s[0.3]))))}
    a = compare_to_baseline(s, lower_is_better=False, delta=0.02)["rows"][0]
    b = compare_to_baseline(keyed, lower_is_better=False, delta=0.02)["rows"][0]
    assert a["p_value"] == pytest.approx(b["p_value"]) and a["status"] == b["status"] == "better"
    # a seed missing at one sigma drops out of the pairs
    keyed[0.3].pop(0)
    assert compare_to_baseline(keyed, lower_is_better=False, delta=0.02)["rows"][0]["seeds"] == 9


def test_the_four_verdicts_and_the_pairing_negative_control():
    holds = compare_to_baseline(_study(0.03, 10), lower_is_better=False, delta=0.02)
    assert holds["verdict"] == "holds" and "+0.03" in holds["summary"]
    fails = compare_to_baseline(_study(-0.03, 10), lower_is_better=False, delta=0.02)
    assert fails["verdict"] == "fails"
    refuted = compare_to_baseline(_study(0.0, 10), lower_is_better=False, delta=0.02)
    assert refuted["verdict"] == "refuted at delta"
    assert refuted["rows"][0]["status"].startswith("equivalent within 0.02")
    # null data against a smaller delta: the 90% interval (-0.0045 .. 0.0026) reaches it
    small = compare_to_baseline(_study(0.0, 10, seed=2), lower_is_better=False, delta=0.002)
    assert small["verdict"] == "inconclusive" and small["seeds_needed"] > 10
    assert "paired seeds would give 80% power" in small["summary"]
    # negative control: break the pairing (seeds shuffled at sigma 0.3) and the between-seed
    # spread swamps the same effect: the paired design was what decided it
    s = _study(0.03, 10)
    s[0.3] = list(np.random.default_rng(9).permutation(s[0.3]))
    broken = compare_to_baseline(s, lower_is_better=False, delta=0.02)
    assert broken["verdict"] == "inconclusive" and broken["rows"][0]["mde"] > 0.03


def test_mixed_sigmas_hold_with_the_worse_one_named():
    rng = np.random.default_rng(2)
    base = 0.5 + 0.1 * rng.standard_normal(12)
    up, down = (base + e + 0.01 * rng.standard_normal(12) for e in (0.05, -0.05))
    v = compare_to_baseline({0.0: list(base), 0.1: list(up), 0.5: list(down)},
                            lower_is_better=False, delta=0.02)
    assert v["verdict"] == "holds" and "worse at sigma 0.5" in v["summary"]
    assert [r["status"] for r in v["rows"]] == ["better", "worse"]


def test_relative_delta_scales_with_the_baseline():
    s = {0.0: [10.0, 11.0, 9.0, 10.5], 0.3: [9.95, 11.02, 8.97, 10.49]}
    v = compare_to_baseline(s, lower_is_better=True, delta=0.1, relative=True)
    assert v["delta"] == pytest.approx(1.0 * np.mean(s[0.0]) / 10.0 * 1.0)
    assert v["verdict"] == "refuted at delta"
    with pytest.raises(ValueError, match="delta = 0"):
        compare_to_baseline(s, lower_is_better=True, delta=0.0)
    with pytest.raises(ValueError, match="baseline"):
        compare_to_baseline({0.3: [1.0, 1.1]}, lower_is_better=True, delta=0.1)


def test_no_variance_or_one_seed_is_undecidable_not_significant():
    one = compare_to_baseline({0.0: [1.0], 0.3: [0.5]}, lower_is_better=True, delta=0.1)
    flat = compare_to_baseline({0.0: [1.0, 1.2, 0.9], 0.3: [0.5, 0.7, 0.4]},
                               lower_is_better=True, delta=0.1)  # every difference is 0.5
    for v in (one, flat):
        assert v["verdict"] == "inconclusive" and v["rows"][0]["status"] == "undecidable"
        assert np.isnan(v["rows"][0]["p_value"])  # NaN, not 0
    assert "variance" in flat["rows"][0]["note"] and "seeds" in one["rows"][0]["note"]
    assert "cannot be estimated" in flat["summary"]
    # differences equal up to rounding (0.2 against 0.2 + 6e-17): undecidable, and no effect
    # size or seed count follows from a spread of rounding (it read MDE 2.5e-15, "2 seeds")
    near = compare_to_baseline({0.0: [0.1, 0.7, 0.4], 0.3: [0.3, 0.9, 0.6]},
                               lower_is_better=False, delta=0.01)
    row = near["rows"][0]
    assert 0 < row["sd"] < 1e-15 and row["status"] == "undecidable"
    assert np.isnan(row["mde"]) and row["seeds_needed"] is None
    spread = compare_to_baseline({0.0: [0.1, 0.7, 0.4], 0.3: [0.3, 0.95, 0.6]},
                                 lower_is_better=False, delta=0.01)["rows"][0]
    assert spread["mde"] > 0 and spread["seeds_needed"] >= 2  # control: a real spread


def test_sign_flip_p_exact_and_sampled():
    assert sign_flip_p(np.array([1.0, 2.0, 3.0, 4.0, 5.0])) == pytest.approx(2 / 32)
    assert sign_flip_p(np.zeros(4)) == 1.0
    # brute force over the 2^6 patterns for a mixed-sign sample
    d = np.array([0.3, -0.1, 0.5, 0.2, -0.4, 0.6])
    pats = np.array(np.meshgrid(*[[1, -1]] * 6)).reshape(6, -1).T
    ref = np.mean(np.abs(pats @ d) >= abs(d.sum()) - 1e-12)
    assert sign_flip_p(d) == pytest.approx(ref)
    # n > 16 samples patterns with a seed: reproducible, and close to the t-test
    big = np.random.default_rng(0).normal(0.2, 1.0, 40)
    assert sign_flip_p(big, seed=1) == sign_flip_p(big, seed=1)
    from scipy.stats import ttest_1samp

    assert sign_flip_p(big, seed=1) == pytest.approx(ttest_1samp(big, 0).pvalue, abs=0.05)


def test_holm_against_hand_values():
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert holm([0.5, 0.001]) == pytest.approx([0.5, 0.002])
    assert holm([0.9, 0.8]) == [1.0, 1.0]  # 2 x 0.8 capped at 1; monotone: 0.9 -> 1
    assert holm([0.02, 0.9]) == pytest.approx([0.04, 0.9])


def test_power_seeds_and_mde_against_simulation():
    """The noncentral-t power at the computed seed count is reached by simulated studies."""
    from scipy.stats import ttest_1samp

    level, effect, sd = 0.05 / 3, 0.02, 0.03
    n = seeds_needed(effect, sd, level)
    assert paired_power(effect, sd, n, level) >= 0.8 > paired_power(effect, sd, n - 1, level)
    rng = np.random.default_rng(0)
    sims = rng.normal(effect, sd, size=(4000, n))
    rate = np.mean(ttest_1samp(sims, 0, axis=1).pvalue < level)
    assert abs(rate - paired_power(effect, sd, n, level)) < 0.025
    mde = minimum_detectable_effect(sd, n, level)
    assert mde <= effect and paired_power(mde, sd, n, level) == pytest.approx(0.8, abs=1e-6)
    assert seeds_needed(effect, 0.0, level) is None


@settings(max_examples=30, deadline=None)
@given(st.integers(3, 12), st.floats(-0.05, 0.05), st.integers(0, 10_000))
def test_interval_coverage_and_tost_consistency(n, effect, seed):
    """The 95% interval is the set of means the t-test does not reject, and the TOST decision
    equals the 90% interval lying inside (-delta, delta)."""
    from scipy.stats import ttest_1samp

    s = _study(effect, n, seed=seed)
    row = compare_to_baseline(s, lower_is_better=False, delta=0.02)["rows"][0]
    d = np.round(np.array(s[0.3]), 12) - np.round(np.array(s[0.0]), 12)
    lo, hi = row["ci95"]
    for inside in (lo + 1e-6 * (hi - lo), hi - 1e-6 * (hi - lo)):
        assert ttest_1samp(d, inside).pvalue > 0.05 - 1e-6
    for outside in (lo - 1e-3, hi + 1e-3):
        assert ttest_1samp(d, outside).pvalue < 0.05
    lo90, hi90 = row["ci90"]
    assert (row["p_tost"] < 0.05) == (-0.02 < lo90 and hi90 < 0.02)


def test_interval_coverage_by_simulation():
    rng = np.random.default_rng(5)
    hits = 0
    for _ in range(600):
        base = rng.normal(0.5, 0.1, 6)
        s = {0.0: list(base), 0.3: list(base + 0.01 + rng.normal(0, 0.02, 6))}
        lo, hi = compare_to_baseline(s, lower_is_better=False, delta=0.02)["rows"][0]["ci95"]
        hits += lo <= 0.01 <= hi
    assert 0.93 <= hits / 600 <= 0.97


def test_the_sweeps_design_is_paired():
    """One seed's models share the data split and the initial weights at every sigma, and the
    noise draws of sigma > 0 differ only by the factor sigma (common random numbers)."""
    import torch

    from validation.nets.data import make_dataset
    from validation.nets.train import TrainConfig, build_model

    cfgs = [TrainConfig(sigma=s, seed=4) for s in (0.0, 0.1, 0.3)]
    datas = [make_dataset(c.data, c.n, seed=c.seed, noise=c.noise) for c in cfgs]
    assert all(np.array_equal(d.x_train, datas[0].x_train) for d in datas)
    models = [build_model(c, d) for c, d in zip(cfgs, datas, strict=True)]
    for m in models[1:]:
        for a, b in zip(models[0].state_dict().values(), m.state_dict().values(), strict=True):
            assert torch.equal(a, b)
    assert not torch.equal(next(iter(build_model(TrainConfig(seed=5), datas[0]).parameters())),
                           next(iter(models[0].parameters())))  # control: another seed differs
    # the same generator seed gives the same increments xi at every sigma > 0: with the
    # velocity switched off the displacement is exactly sigma sqrt(h) sum xi, so 3x at 0.3
    x = torch.as_tensor(datas[0].x_test[:5])
    shifts = []
    for m in models:
        with torch.no_grad():
            for b in m.blocks:
                for p in b.parameters():
                    p.zero_()
            shifts.append(m.flow(x, generator=torch.Generator().manual_seed(7)) - x)
    assert shifts[0].abs().max() == 0 and shifts[1].abs().max() > 0
    torch.testing.assert_close(shifts[2], 3 * shifts[1], rtol=1e-12, atol=1e-12)


def test_power_is_finite_where_scipy_nct_cdf_is_not():
    """scipy's nct.cdf gives NaN at df 2, nc 10.5; the power must stay a number in [0, 1]."""
    for sd in (0.01, 0.1, 0.3, 1.0, 3.0):
        mde = minimum_detectable_effect(sd, 3, 0.05 / 3)
        assert np.isfinite(mde) and mde > 0
    crit_nc = 10.5 * 0.01 / np.sqrt(3)
    p = paired_power(crit_nc, 0.01, 3, 0.05 / 3)
    assert 0 < p < 1 and np.isfinite(p)
    assert paired_power(0.0, 1.0, 5, 0.05) == pytest.approx(0.05, abs=1e-9)  # size at nc = 0


def test_an_inconclusive_summary_names_the_setting_of_each_detectable_effect():
    """With several sigma the minimum detectable effects were a bare list ('0.0801, 0.0534',
    or 'n/a, n/a, n/a, n/a' with one seed): each is now named by its setting, and one shared
    value is said once."""
    v = compare_to_baseline({0.0: [0.8, 0.82, 0.79], 0.1: [0.81, 0.8, 0.8],
                             0.3: [0.79, 0.83, 0.8]}, lower_is_better=False, delta=0.02)
    assert v["verdict"] == "inconclusive"
    mde = {r["sigma"]: r["mde"] for r in v["rows"]}
    assert (f"minimum detectable effect of this study {num(mde[0.1])} at sigma 0.1, "
            f"{num(mde[0.3])} at sigma 0.3;") in v["summary"]
    one = compare_to_baseline({0.0: [0.8], 0.1: [0.81], 0.3: [0.79]}, lower_is_better=False,
                              delta=0.02)
    assert "minimum detectable effect of this study n/a at every sigma;" in one["summary"]
    single = compare_to_baseline({0.0: [0.8, 0.82, 0.79], 0.1: [0.81, 0.8, 0.8]},
                                 lower_is_better=False, delta=0.02)
    assert f"of this study {num(single['rows'][0]['mde'])};" in single["summary"]


def test_band_side_places_an_interval_against_the_band():
    from validation.stats.fit import band_side

    assert band_side(0.2, 0.6, 1.0, 0.3) == -1 and band_side(1.4, 2.0, 1.0, 0.3) == 1
    assert band_side(0.5, 0.8, 1.0, 0.3) == 0 and band_side(0.9, 0.9, 1.0, 0.3) == 0
    assert band_side(float("nan"), float("nan"), 1.0, 0.3) == 0  # not formed: no side


def test_an_mde_beyond_what_the_measure_allows_is_said():
    """Two seeds of accuracies whose paired differences spread widely: the MDE (1.5 here) is
    more than any accuracy difference can be; the summary says no effect is detectable with
    these seeds. Controls: without a span nothing is added; a study whose MDE lies inside
    the span (more seeds) says nothing of it."""
    by = {0.0: [0.5, 0.6], 0.3: [0.4, 0.65]}
    wide = compare_to_baseline(by, lower_is_better=False, delta=0.02, span=1.0)
    assert wide["verdict"] == "inconclusive" and wide["rows"][0]["mde"] > 1
    assert ("(beyond 1, the largest difference the measure allows: at sigma 0.3 no effect is "
            "detectable with these seeds)" in wide["summary"])
    assert "largest difference" not in compare_to_baseline(
        by, lower_is_better=False, delta=0.02)["summary"]
    narrow = compare_to_baseline(_study(0.02, 6, within=0.05), lower_is_better=False,
                                 delta=0.02, span=1.0)
    assert narrow["verdict"] == "inconclusive" and narrow["rows"][0]["mde"] < 1
    assert "largest difference" not in narrow["summary"]
