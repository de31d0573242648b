"""Randomized-smoothing certificates in any dimension and shape, batched: the Clopper-Pearson
bound against scipy, exact radii of linear classifiers (deterministic and with internal noise),
a wrong-scaling mutant that violates them, the defaults' largest radius, refusals."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.stats import binomtest, norm

from validation.studies.attacks import AttackError
from validation.studies.robustness.certify import (
    ALPHA,
    N,
    certified_accuracy,
    certify_batch,
    clopper_pearson_lower,
    max_certified_radius,
)

SHAPE = (1, 4, 5)  # images: the certificate works on any input shape


def halfspace(tau: float = 0.0, seed: int = 0):
    """F(x) = [w.x + b + tau xi > 0] (a random base classifier when tau > 0), x of SHAPE."""
    g = torch.Generator().manual_seed(seed)
    w = torch.randn(int(np.prod(SHAPE)), generator=g, dtype=torch.float64)
    b = 0.1

    def base(x, generator=None):
        s = x.flatten(1) @ w + b
        if tau > 0:
            s = s + tau * torch.randn(s.shape, generator=generator, dtype=s.dtype)
        return torch.stack([-s, s], 1)
    return base, w, b


def points(n: int = 200, seed: int = 1):
    return 0.3 * torch.randn((n, *SHAPE), generator=torch.Generator().manual_seed(seed),
                             dtype=torch.float64)


@pytest.mark.parametrize("k", [0, 1, 37, 500, 999, 1000])
def test_the_lower_bound_is_scipys_exact_one_sided_interval(k):
    ours = clopper_pearson_lower(k, 1000, 0.001)
    theirs = binomtest(k, 1000, alternative="greater").proportion_ci(0.999, "exact").low
    assert ours == pytest.approx(theirs, abs=1e-12)
    arr = clopper_pearson_lower(np.array([k, k]), 1000, 0.001)
    assert np.allclose(arr, theirs)


def test_a_linear_classifier_is_certified_up_to_its_exact_radius_and_never_beyond():
    sigma = 0.5
    base, w, b = halfspace()
    x = points()
    dist = ((x.flatten(1) @ w + b).abs() / w.norm()).numpy()  # the exact robust radius of g
    label = ((x.flatten(1) @ w + b) > 0).long().numpy()
    c = certify_batch(base, x, sigma, n=N, alpha=ALPHA, batch=1500,
                      generator=torch.Generator().manual_seed(2))
    done = c["prediction"] >= 0
    assert (c["prediction"][done] == label[done]).all()
    # soundness: a radius beyond the exact one happens with probability <= alpha per point
    assert int((c["radius"] > dist + 1e-12).sum()) <= 2
    # tightness: where the bound is not capped by n, the radius is close to the exact one
    inside = done & (dist < 0.8 * c["max_radius"])
    assert inside.sum() > 50
    assert np.all(dist[inside] - c["radius"][inside] < 0.35 * sigma)
    acc = certified_accuracy(c, label, (0.0, 0.25, 0.5))
    assert acc["0"] >= acc["0.25"] >= acc["0.5"] and acc["0"] > 0.8


def test_a_wrong_scaling_of_the_radius_is_caught_by_the_exact_radius():
    # negative control: the point estimate k/n and 2 sigma in place of the bound and sigma
    sigma = 0.5
    base, w, b = halfspace()
    x = points()
    dist = ((x.flatten(1) @ w + b).abs() / w.norm()).numpy()
    c = certify_batch(base, x, sigma, generator=torch.Generator().manual_seed(2))
    top = c["counts"].max(1) / c["n"]
    wrong = 2 * sigma * norm.ppf(np.clip(top, 0.5, 1 - 1e-6))
    assert int((wrong > dist + 1e-12).sum()) > 20


def test_the_internal_noise_of_a_random_base_classifier_is_certified_too():
    # F with its own noise tau: P(F(x + delta) = 1) = Phi(s / sqrt(sigma^2 |w|^2 + tau^2)), so
    # Cohen's radius with the true p_A is sigma s / sqrt(sigma^2 |w|^2 + tau^2) < the distance
    sigma, tau = 0.4, 1.5
    base, w, b = halfspace(tau)
    x = points()
    s = (x.flatten(1) @ w + b).abs().numpy()
    wn = float(w.norm())
    ideal = sigma * s / np.sqrt(sigma ** 2 * wn ** 2 + tau ** 2)
    c = certify_batch(base, x, sigma, generator=torch.Generator().manual_seed(3))
    done = c["prediction"] >= 0
    assert int((c["radius"] > ideal + 1e-12).sum()) <= 2  # below the random classifier's own
    inside = done & (ideal < 0.8 * c["max_radius"])
    assert inside.sum() > 30 and np.all(ideal[inside] - c["radius"][inside] < 0.35 * sigma)
    # the same points certified without the internal noise get larger radii (the noise counts)
    c0 = certify_batch(halfspace(0.0)[0], x, sigma, generator=torch.Generator().manual_seed(3))
    assert c0["radius"].mean() > c["radius"].mean() + 0.05


def test_batches_change_nothing_but_the_order_of_draws():
    base, _, _ = halfspace()
    x = points(30)
    a = certify_batch(base, x, 0.5, n0=50, n=400, batch=64,
                      generator=torch.Generator().manual_seed(4))
    b = certify_batch(base, x, 0.5, n0=50, n=400, batch=64,
                      generator=torch.Generator().manual_seed(4))
    c = certify_batch(base, x, 0.5, n0=50, n=400, batch=100_000,
                      generator=torch.Generator().manual_seed(4))
    assert np.array_equal(a["radius"], b["radius"])  # same seed and batch: same numbers
    assert a["counts"].sum() == c["counts"].sum() == 30 * 400
    clear = np.minimum(a["p_lower"], c["p_lower"]) > 0.9
    assert np.array_equal(a["prediction"][clear], c["prediction"][clear])


def test_what_the_defaults_can_certify():
    assert max_certified_radius(1.0, 1000, 0.001) == pytest.approx(norm.ppf(0.001 ** 1e-3))
    assert 2.4 < max_certified_radius(1.0) < 2.5
    assert max_certified_radius(1.0, 10, 0.001) < 0.01  # n = 10 certifies almost nothing

    def always(x, generator=None):
        return torch.stack([torch.zeros(len(x)), torch.ones(len(x))], 1)

    c = certify_batch(always, torch.zeros(3, 2), 0.5, n=1000)
    assert np.allclose(c["radius"], max_certified_radius(0.5, 1000))


@pytest.mark.parametrize("kw,match", [({"sigma": 0.0}, "sigma = 0.0"),
                                      ({"sigma": float("inf")}, "sigma = inf"),
                                      ({"n": 0}, "n = 0"), ({"alpha": 0.7}, "alpha = 0.7")])
def test_bad_settings_are_refused(kw, match):
    base, _, _ = halfspace()
    args = {"sigma": 0.5} | kw
    sigma = args.pop("sigma")
    with pytest.raises(AttackError, match=match):
        certify_batch(base, points(2), sigma, **args)
