"""The certificate against the truth in 2-D: certified <= exact <= attack radius of the
smoothed classifier, with a mutant certificate that violates it."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from validation.studies.robustness.bracket import bracket_2d, exact_radius, smoothed_map


def halfplane(tau: float = 0.0):
    w, b = torch.tensor([1.0, -0.5], dtype=torch.float64), 0.05

    def base(x, generator=None):
        s = x @ w + b
        if tau > 0:
            s = s + tau * torch.randn(s.shape, generator=generator, dtype=s.dtype)
        return torch.stack([-s, s], 1)
    return base, w, b


def disc(x, generator=None):
    """F(z) = [|z| < 0.4]: a nonlinear base classifier."""
    s = 0.4 - x.norm(dim=1)
    return torch.stack([-s, s], 1)


def pts(n=40, seed=0):
    return 0.5 * torch.rand((n, 2), generator=torch.Generator().manual_seed(seed),
                            dtype=torch.float64) - 0.25


def test_the_exact_radius_of_a_smoothed_half_plane_is_its_distance():
    # g of a half plane is the half plane itself: its robust radius is the distance
    base, w, b = halfplane()
    x = pts()
    smap = smoothed_map(base, np.array([-0.6, -0.6]), np.array([0.6, 0.6]), 0.1,
                        spacing=0.005, draws=1)
    exact = exact_radius(smap, x.numpy(), 0.3)
    dist = ((x @ w + b).abs() / w.norm()).numpy()
    inside = dist < 0.29
    assert inside.sum() > 20
    assert np.abs(exact[inside] - dist[inside]).max() <= 0.005


@pytest.mark.parametrize("name", ["half plane", "noisy half plane", "disc"])
def test_certified_below_exact_below_attack(name):
    base = {"half plane": halfplane()[0], "noisy half plane": halfplane(0.1)[0],
            "disc": disc}[name]
    res = bracket_2d(base, pts(), 0.12, n=500, seed=1, map_draws=4)
    assert res["violations_certified_above_exact"] <= 1  # alpha N = 0.04
    assert res["violations_exact_above_attack"] == 0
    assert res["attack_found"] > 10  # the attack does reach the boundary
    assert 0 < res["mean_certified"] <= res["mean_exact"]


def test_a_doubled_certificate_is_caught():
    # negative control: radii twice the certificate's break certified <= exact
    res = bracket_2d(halfplane()[0], pts(), 0.12, n=500, seed=1, map_draws=1, radius_scale=2.0)
    assert res["violations_certified_above_exact"] > 5


def _row(sigma, seed, attacks, certified):
    eps = (0.0, 0.1)
    return {"sigma": sigma, "seed": seed, "flags": {},
            "attacks": {f"{n}:{e}": {"robust_accuracy": attacks} for n in ("linf", "l2")
                        for e in eps},
            "smoothing": {"sigma_in": 0.12, "certified_accuracy": {str(e): certified
                                                                   for e in eps}}}


def test_the_sweep_decides_the_l2_claim_at_both_ends_and_says_when_they_disagree():
    from validation.studies.robustness.sweep import claim_verdicts

    rng = np.random.default_rng(0)
    eps = (0.0, 0.1)
    # the attacks see an improvement of 0.2, the certificate none: the ends disagree
    rows = [_row(0.0, k, 0.5 + 0.01 * rng.standard_normal(), 0.4 + 0.01 * rng.standard_normal())
            for k in range(8)]
    rows += [_row(0.3, k, 0.7 + 0.01 * rng.standard_normal(), 0.4 + 0.01 * rng.standard_normal())
             for k in range(8)]
    v = claim_verdicts(rows, [0.0, 0.3], eps, 0.02, eps)
    assert v["l2_upper_verdict"]["rows"][0]["status"] == "better"
    assert v["certified_verdict"]["rows"][0]["status"] != "better"
    assert not v["bracket_verdict"]["agree"] and "disagree" in v["bracket_verdict"]["summary"]
    # the same improvement at both ends: they agree
    for r in rows:
        if r["sigma"] == 0.3:
            r["smoothing"]["certified_accuracy"] = {str(e): 0.6 for e in eps}
    assert claim_verdicts(rows, [0.0, 0.3], eps, 0.02, eps)["bracket_verdict"]["agree"]
