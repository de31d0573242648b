"""Attacks against exact answers on a linear classifier; exhaustive search; flags; certificates."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from validation.studies.attacks import AttackError, fgsm, pgd, random_search
from validation.studies.robustness.certify import (
    certify_batch,
    certify_smoothed,
    clopper_pearson_lower,
)
from validation.studies.robustness.search import exhaustive, min_exhaustive_eps
from validation.studies.robustness.study import StudyConfig, robustness_study

W = torch.tensor([0.8, -0.6], dtype=torch.float64)
B = 0.05
MARGIN = 1.02  # attacks must succeed just beyond the exact minimal distance ...
INSIDE = 0.98  # ... and cannot succeed just inside it


class Linear(nn.Module):
    """Two-class linear classifier: logits (0, w.x + b); minimal distances are exact."""

    sigma = 0.0

    def forward(self, x, generator=None, noise=None):
        s = x @ W + B
        return torch.stack([torch.zeros_like(s), s], 1)


def _points():
    x = torch.tensor([[0.45, 0.55], [0.5, 0.4], [0.6, 0.65], [0.35, 0.42]], dtype=torch.float64)
    y = ((x @ W + B) > 0).long()
    return x, y


def _dmin(x, norm):
    s = (x @ W + B).abs()
    return s / (W.abs().sum() if norm == "linf" else W.norm())


def _fooled(x_adv, y):
    return (Linear()(x_adv).argmax(1) != y).numpy()


def _attack(name, x, y, eps, norm):
    m = Linear()
    g = torch.Generator().manual_seed(0)
    if name == "fgsm":
        return fgsm(m, x, y, eps, norm=norm, generator=g)
    if name == "pgd":
        return pgd(m, x, y, eps, norm=norm, steps=30, generator=g)
    if name == "eot-pgd":
        return pgd(m, x, y, eps, norm=norm, steps=30, eot=4, generator=g)
    if name == "random-search":
        def score(p):
            pr = torch.softmax(m(p), 1)
            return pr[torch.arange(len(p)), y.repeat(len(p) // len(y))]
        return random_search(score, x, y, eps, norm=norm, samples=400, generator=g)
    raise AssertionError(name)


@pytest.mark.parametrize("name", ["fgsm", "pgd", "eot-pgd", "random-search"])
@pytest.mark.parametrize("norm", ["linf", "l2"])
def test_attack_finds_the_exact_minimal_perturbation_of_a_linear_model(name, norm):
    x, y = _points()
    d = _dmin(x, norm)
    for i in range(len(x)):
        xi, yi = x[i:i + 1], y[i:i + 1]
        beyond = _attack(name, xi, yi, float(d[i]) * MARGIN, norm)
        inside = _attack(name, xi, yi, float(d[i]) * INSIDE, norm)
        assert _fooled(beyond, yi).all(), (name, norm, i)
        assert not _fooled(inside, yi).any()
        dist = (beyond - xi).abs().max() if norm == "linf" else (beyond - xi).norm()
        assert float(dist) <= float(d[i]) * MARGIN * (1 + 1e-9)


def test_attacks_refuse_what_would_answer_wrong_and_take_an_inputs_own_box():
    """A negative eps, counts below 1 and inputs outside the clipping box are refused before
    any work: unchecked, clamp(-eps, eps) with eps < 0 moved every point by |eps|, and inputs
    in [-2, 2] (standardised) were clipped into [0, 1], farther from x than eps."""
    from validation.studies.attacks import square_search

    x, y = _points()
    m = Linear()
    g = torch.Generator().manual_seed(0)
    with pytest.raises(AttackError, match=r"eps = -0\.1"):
        pgd(m, x, y, -0.1)
    with pytest.raises(AttackError, match="eps = nan"):
        fgsm(m, x, y, float("nan"))
    with pytest.raises(AttackError, match="steps = 0"):
        pgd(m, x, y, 0.1, steps=0)
    with pytest.raises(AttackError, match="fraction = 0"):
        square_search(lambda p: m(p)[:, 1], x, 0.1, fraction=0)
    wide = 4 * x - 2  # standardised inputs, partly below 0
    for attack in (lambda b: pgd(m, wide, y, 0.05, steps=5, generator=g, bounds=b),
                   lambda b: fgsm(m, wide, y, 0.05, generator=g, bounds=b),
                   lambda b: random_search(lambda p: m(p)[:, 1], wide, y, 0.05, samples=8,
                                           generator=g, bounds=b)):
        with pytest.raises(AttackError, match=r"outside the box bounds = \(0, 1\)"):
            attack((0.0, 1.0))
        # the inputs' own box (control): every point stays within eps of its input
        xa = attack((-2.0, 2.0))
        assert float((xa - wide).abs().max()) <= 0.05 + 1e-12
    # what the refusal prevents: clipped into [0, 1], points moved 12 x eps
    assert float((wide.clamp(0, 1) - wide).abs().max()) > 10 * 0.05


@pytest.mark.parametrize("norm", ["linf", "l2"])
def test_exhaustive_search_agrees_with_the_closed_form(norm):
    x, y = _points()

    def prob(p):
        return torch.softmax(Linear()(torch.tensor(p)), 1).numpy()

    d = _dmin(x, norm).numpy()
    grid = np.linspace(0.005, 0.3, 120)
    found = min_exhaustive_eps(prob, x.numpy(), y.numpy(), grid, norm=norm, per_axis=61)
    spacing = grid[1] - grid[0]
    # found is the first grid eps beyond d_min, up to the ball grid's own resolution
    assert np.all(found >= d - 1e-12) and np.all(found <= d + spacing + 2 * d / 60)
    with pytest.raises(AttackError, match="2-D"):
        exhaustive(prob, np.zeros((1, 3)), np.zeros(1, int), 0.1)


class MaskedGradient(nn.Module):
    """Wraps a network: same outputs, zero input gradient (a deliberately broken defence)."""

    def __init__(self, net):
        super().__init__()
        self.net = net
        self.sigma, self.t_end, self.n_blocks = net.sigma, net.t_end, net.n_blocks
        self.feature_dim, self.n_classes = net.feature_dim, net.n_classes
        self.blocks, self.encoder, self.base, self.step = net.blocks, net.encoder, net.base, \
            net.step

    def forward(self, x, generator=None, noise=None):
        return self.net(x.detach(), generator=generator, noise=noise) + 0 * x.sum()

    def flow(self, *a, **k):
        return self.net.flow(*a, **k)

    def parameters(self, recurse=True):
        return self.net.parameters(recurse)


def _tiny_study(model, data):
    cfg = StudyConfig(eps_linf=(0.0, 0.1, 0.6), eps_l2=(0.0, 0.15, 0.9), points=25,
                      deploy_draws=4, pgd_steps=8, restarts=1, eot=2, eot_curve=(1, 2),
                      random_samples=100, exhaustive_per_axis=21, grid_n=40, certify_points=5)
    return robustness_study(model, data, cfg, progress=False)


def test_flags_pass_on_an_honest_model_and_fire_on_a_masked_gradient():
    from validation.nets.data import make_dataset
    from validation.nets.train import TrainConfig, train

    data = make_dataset("moons", 300, seed=0)
    model, _ = train(TrainConfig(n=300, epochs=15, sigma=0.0, blocks=4), data, progress=False)
    honest = _tiny_study(model, data)
    masked = _tiny_study(MaskedGradient(model), data)
    key = "linf: gradient attacks within 0.1 of the ground truth (no masking)"
    assert honest["flags"][key] and not masked["flags"][key]
    assert honest["flags"]["sigma = 0 path deterministic"]
    # the per-point worst case still includes the gradient-free search: it is not fooled
    assert masked["attacks"]["linf:0.1"]["robust_accuracy"] <= honest["attacks"]["linf:0.1"][
        "robust_accuracy"] + 0.08


def test_smoothing_certificate_of_a_constant_classifier():
    class Const(nn.Module):
        def forward(self, x, generator=None):
            return torch.stack([torch.zeros(len(x)), torch.ones(len(x))], 1).double()

    from scipy.stats import norm

    c = certify_smoothed(Const(), torch.zeros(1, 2, dtype=torch.float64), 0.5, n0=16, n=100,
                         alpha=0.01, generator=torch.Generator().manual_seed(0))[0]
    p = clopper_pearson_lower(100, 100, 0.01)
    assert c.prediction == 1 and p == pytest.approx(0.01 ** (1 / 100))
    assert c.radius == pytest.approx(0.5 * norm.ppf(p))
    with pytest.raises(AttackError):
        certify_smoothed(Const(), torch.zeros(1, 2), 0.0)


def _smoothing_on_a_linear_classifier(monkeypatch=None):
    """Certified radii of a two-class linear classifier in R^20 (image-shaped inputs, 4 x 5)
    against its closed form: the smoothed vote probability at a point at signed distance s from
    the boundary is Phi(s / sigma), so Cohen's radius sigma Phi^-1(p_A) is the exact distance
    |s|, and the certificate from n draws lies below it (valid) by the binomial slack alone."""
    from scipy.stats import norm

    gen = torch.Generator().manual_seed(0)
    w = torch.randn(20, generator=gen, dtype=torch.float64)
    w_unit = w / w.norm()

    class Affine(nn.Module):
        def forward(self, x, generator=None):
            s = x.reshape(len(x), -1) @ w + 0.3
            return torch.stack([torch.zeros_like(s), s], 1)

    sigma, n, alpha = 0.5, 4000, 0.001
    dist = torch.tensor([-1.2, -0.6, -0.3, -0.1, 0.1, 0.25, 0.4, 0.7, 1.0, 1.3] * 4,
                        dtype=torch.float64)
    base = torch.randn(len(dist), 20, generator=gen, dtype=torch.float64)
    base = base - ((base @ w + 0.3) / w.norm())[:, None] * w_unit  # onto the boundary
    x = (base + dist[:, None] * w_unit).reshape(-1, 4, 5)
    cert = certify_batch(Affine(), x, sigma, n0=100, n=n, alpha=alpha,
                         generator=torch.Generator().manual_seed(1))
    exact = dist.abs().numpy()
    label = (dist > 0).long().numpy()
    p_true = norm.cdf(exact / sigma)
    # the smallest lower bound four binomial sd below the expected count gives
    k_low = np.floor(n * p_true - 4 * np.sqrt(n * p_true * (1 - p_true)))
    floor = sigma * norm.ppf(np.clip(clopper_pearson_lower(k_low, n, alpha), 0.5, 1))
    return cert, exact, label, floor


def test_smoothing_certifies_the_exact_distance_of_a_linear_classifier_in_any_dimension():
    cert, exact, label, floor = _smoothing_on_a_linear_classifier()
    answered = cert["prediction"] >= 0
    # a point at 0.1 = sigma / 5 (p_A = 0.58) may abstain where n0 = 100 draws pick the
    # other class (about one time in twenty); no point further out
    assert np.all(exact[~answered] <= 0.1 + 1e-9) and answered.sum() >= 36
    assert np.all(cert["prediction"][answered] == label[answered])
    assert np.all(cert["radius"] <= exact + 1e-12)  # valid: never beyond the boundary
    # and tight up to the binomial slack
    assert np.all(cert["radius"][answered] >= floor[answered] - 1e-12)
    assert np.all(cert["radius"] <= cert["max_radius"] + 1e-12)


def test_a_point_estimate_in_place_of_the_lower_bound_certifies_past_the_boundary(monkeypatch):
    """Negative control: the vote fraction k / n itself (no confidence bound) gives radii
    beyond the exact distance at some points: the validity check above catches it."""
    import validation.studies.smoothing as sm

    monkeypatch.setattr(sm, "clopper_pearson_lower", lambda k, n, alpha: np.asarray(k) / n)
    cert, exact, _, _ = _smoothing_on_a_linear_classifier()
    assert np.any(cert["radius"] > exact + 1e-3)


def test_heat_lipschitz_certificate_is_valid_and_weaker_than_cohen():
    from validation.studies.robustness.certify import Certificate, heat_certified

    certs = [Certificate(1, 0.5 * 1.2, 0.9), Certificate(0, 0.2, 0.7), Certificate(-1, 0.0, 0.4)]
    labels = np.array([1, 1, 0])
    # p_lower = 0.9, sigma_in = 0.5: radius (2 * 0.9 - 1) * 0.5 * sqrt(2 pi) / 2 = 0.5013
    assert list(heat_certified(certs, labels, 0.5, 0.5)) == [True, False, False]
    assert not heat_certified(certs, labels, 0.5, 0.51)[0]
    from scipy.stats import norm

    assert 0.5013 < 0.5 * norm.ppf(0.9)  # Cohen's radius for the same p_lower is larger


@pytest.fixture(scope="module")
def nonlinear_model():
    """A moons model trained without weight decay: it beats the linear baseline (0.892)."""
    from validation.nets.data import make_dataset
    from validation.nets.train import TrainConfig, evaluate, train

    data = make_dataset("moons", 1200, seed=0)
    model, _ = train(TrainConfig(sigma=0.3, epochs=100, weight_decay=0.0), data, progress=False)
    assert evaluate(model, data)["beats_linear"]
    return model, data


def test_expected_predictor_is_deterministic_and_confirms_near_the_boundary(nonlinear_model):
    from validation.studies.robustness.search import ExpectedPredictor

    model, data = nonlinear_model
    E = ExpectedPredictor(model, 32, seed=3)
    x, y = data.x_test[:50], data.y_test[:50]
    a, b = E.correct(x, y), E.correct(x, y)
    assert np.array_equal(a, b) and np.allclose(E(x), E(x))
    assert np.allclose(E(x).sum(1), 1.0)
    # agrees with a 4096-draw Monte Carlo estimate wherever that estimate is clear of 0.5
    with torch.no_grad():
        p, se = model.predict_proba(torch.tensor(x), 4096, generator=torch.Generator()
                                    .manual_seed(0), return_stderr=True)
    clear = (p[:, 1] - 0.5).abs().numpy() > 4 * se[:, 1].numpy()
    assert clear.sum() >= 40
    assert np.array_equal(a[clear], (p.argmax(1).numpy() == y)[clear])


def test_network_scored_ground_truth_matches_a_dense_brute_force(nonlinear_model):
    """The exhaustive search scored by the network's expected predictor agrees with a 4x
    denser brute force (twice as fine per axis); the former surrogate (the semi-discrete
    operator on an 80^2 grid of the feature box, interpolated) differs from it on this
    nonlinear model."""
    from numerics import Grid
    from validation.nets.flow import interpolate, semi_discrete
    from validation.nets.train import features
    from validation.nets.velocity import feature_box
    from validation.studies.robustness.search import ExpectedPredictor, exhaustive_expected

    model, data = nonlinear_model
    E = ExpectedPredictor(model, 64, seed=1)
    x, y = data.x_test[:20], data.y_test[:20]
    box = feature_box(model, features(model, data.x_train))
    grid = Grid(bounds=box, shape=(80, 80))
    u_sd = semi_discrete(model, grid)

    def surrogate(pts):
        return interpolate(u_sd, grid, features(model, pts), 1)

    differ = 0
    for eps in (0.05, 0.1):
        coarse = exhaustive_expected(E, x, y, eps, per_axis=11)  # the quick profile's grid
        dense = exhaustive_expected(E, x, y, eps, per_axis=21)  # contains the 11-point grid
        assert np.all(coarse >= dense) and (coarse == dense).mean() >= 0.95
        differ += int((exhaustive(surrogate, x, y, eps, per_axis=31) != dense).sum())
    assert differ > 0
