"""The feature-box bound of studies/robustness/bottleneck.py: sound (every input of the ball
lands in the box, including the extremes an ascent finds), tight enough to matter, and wrong
when mutated (a shrunk box, a wrong tanh offset); the box search against a dense brute force."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from validation.nets.models import DiffusionResNet
from validation.studies.attacks import project
from validation.studies.robustness.bottleneck import BottleneckError, FeatureHead, feature_box
from validation.studies.robustness.search import ExpectedPredictor, box_search


def _model(seed: int, scale: float = 1.0, in_dim: int = 64, sigma: float = 0.0):
    torch.manual_seed(seed)
    m = DiffusionResNet(in_dim, 10, sigma=sigma, blocks=4).double()
    with torch.no_grad():  # larger weights: saturated tanh and sigmoid, the hard case
        for p in m.encoder.parameters():
            p.mul_(scale)
    return m


def _extremes(model, x: torch.Tensor, eps: float, norm: str, steps: int = 60):
    """Projected ascent on each feature coordinate, both signs: points of the true image."""
    zs = []
    for j in range(2):
        for sgn in (1.0, -1.0):
            xa = x.clone().requires_grad_(True)
            for _ in range(steps):
                (g,) = torch.autograd.grad((sgn * model.encoder(xa)[:, j]).sum(), xa)
                with torch.no_grad():
                    d = (g.sign() if norm == "linf"
                         else g / g.norm(dim=1, keepdim=True).clamp_min(1e-12))
                    xa = project(xa + eps / 8 * d, x, eps, norm)
                    if norm == "linf":
                        xa = xa.clamp(0, 1)
                xa.requires_grad_(True)
            with torch.no_grad():
                zs.append(model.encoder(xa).numpy())
    return np.stack(zs, 1)  # (N, 4, 2)


def _samples(x: np.ndarray, eps: float, norm: str, n: int, rng) -> np.ndarray:
    """Random points of each ball (linf: corners and interior, clipped to [0, 1])."""
    d = x.shape[1]
    if norm == "linf":
        off = eps * rng.choice([-1.0, 1.0], size=(n, d)) * rng.uniform(0.5, 1, (n, 1))
        return np.clip(x[:, None] + off[None], 0, 1)
    u = rng.normal(size=(n, d))
    u *= eps / np.linalg.norm(u, axis=1, keepdims=True)
    return x[:, None] + u[None]


@pytest.mark.parametrize("norm", ["linf", "l2"])
@pytest.mark.parametrize("scale", [1.0, 4.0])
def test_box_contains_the_image_and_its_extremes(norm, scale):
    rng = np.random.default_rng(0)
    model = _model(1, scale)
    x = rng.uniform(0, 1, (12, 64))
    eps = 0.05 if norm == "linf" else 0.3
    lo, hi = feature_box(model, x, eps, norm)
    ext = _extremes(model, torch.tensor(x), eps, norm)
    with torch.no_grad():
        pts = _samples(x, eps, norm, 200, rng)
        z = model.encoder(torch.tensor(pts.reshape(-1, 64))).numpy().reshape(12, 200, 2)
    for zz in (ext, z):
        assert (zz >= lo[:, None] - 1e-12).all() and (zz <= hi[:, None] + 1e-12).all()
    # negative control: the box shrunk by 10% of its width loses an extreme point
    w = hi - lo
    slo, shi = lo + 0.05 * w, hi - 0.05 * w
    assert ((ext < slo[:, None]) | (ext > shi[:, None])).any()


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), eps=st.floats(0.0, 0.3), scale=st.floats(0.3, 5.0),
       norm=st.sampled_from(["linf", "l2"]), method=st.sampled_from(["ibp", "linear", "both"]))
def test_every_method_is_sound_on_random_encoders(seed, eps, scale, norm, method):
    rng = np.random.default_rng(seed)
    model = _model(seed, scale, in_dim=8)
    x = rng.uniform(0, 1, (4, 8))
    lo, hi = feature_box(model, x, eps, norm, method=method)
    with torch.no_grad():
        pts = _samples(x, eps, norm, 300, rng)
        z = model.encoder(torch.tensor(pts.reshape(-1, 8))).numpy().reshape(4, 300, 2)
    assert (lo <= hi).all()
    assert (z >= lo[:, None] - 1e-12).all() and (z <= hi[:, None] + 1e-12).all()


def test_linear_relaxation_is_tighter_than_ibp_and_collapses_at_eps_0():
    rng = np.random.default_rng(2)
    model = _model(3, 2.0)
    x = rng.uniform(0, 1, (20, 64))
    ibp = np.subtract(*feature_box(model, x, 0.02, method="ibp")[::-1])
    lin = np.subtract(*feature_box(model, x, 0.02, method="linear")[::-1])
    both = np.subtract(*feature_box(model, x, 0.02, method="both")[::-1])
    assert lin.mean() < 0.95 * ibp.mean()
    assert (both <= np.minimum(ibp, lin) + 1e-12).all()
    lo, hi = feature_box(model, x, 0.0)
    with torch.no_grad():
        z = model.encoder(torch.tensor(x)).numpy()
    assert np.allclose(lo, z, atol=1e-12) and np.allclose(hi, z, atol=1e-12)


def test_tanh_offsets_are_exact_and_a_wrong_offset_is_caught():
    from validation.studies.robustness.bottleneck import _tanh_offsets

    lo, hi = np.array([-3.0, -0.5, 0.2, -1e-14]), np.array([2.0, 0.5, 4.0, 1e-14])
    alpha, b_lo, b_hi = _tanh_offsets(lo, hi)
    for k in range(len(lo)):
        a = np.linspace(lo[k], hi[k], 20001)
        r = np.tanh(a) - alpha[k] * a
        assert r.min() >= b_lo[k] - 1e-12 and r.max() <= b_hi[k] + 1e-12
        assert r.min() <= b_lo[k] + 1e-6 and r.max() >= b_hi[k] - 1e-6  # attained: tight
    # mutant: the end points alone (no stationary points) miss the maximum on [-3, 2]
    a = np.linspace(-3, 2, 20001)
    ends = max(np.tanh(-3.0) + 3 * alpha[0], np.tanh(2.0) - 2 * alpha[0])
    assert (np.tanh(a) - alpha[0] * a).max() > ends + 1e-3


def test_bad_input_is_named():
    model = _model(0)
    with pytest.raises(BottleneckError, match="norm 'l1'"):
        feature_box(model, np.zeros((1, 64)), 0.1, "l1")
    with pytest.raises(BottleneckError, match="shape"):
        feature_box(model, np.zeros((1, 63)), 0.1)
    with pytest.raises(BottleneckError, match=r"eps = -0\.1"):
        feature_box(model, np.zeros((1, 64)), -0.1)
    with pytest.raises(BottleneckError, match="Linear-Tanh-Linear-Sigmoid"):
        feature_box(DiffusionResNet(2, 2), np.zeros((1, 2)), 0.1)


def test_box_search_matches_a_dense_brute_force_and_brackets_the_attacks():
    """On a noisy model: the feature head reproduces the network, the box search equals a
    dense search of the same boxes (which contains its grid), and its robust fraction is never
    above that of points of the true image (the extremes found by ascent)."""
    rng = np.random.default_rng(4)
    model = _model(5, 2.0, sigma=0.3)
    with torch.no_grad():
        model.base.weight.mul_(10)  # decision boundaries inside the feature range
    x = rng.uniform(0, 1, (30, 64))
    noise = [torch.randn(30, 2, generator=torch.Generator().manual_seed(i), dtype=torch.float64)
             for i in range(model.n_blocks)]
    with torch.no_grad():
        z = model.encoder(torch.tensor(x))
        assert torch.allclose(FeatureHead(model)(z, noise=noise),
                              model(torch.tensor(x), noise=noise))
    E = ExpectedPredictor(FeatureHead(model), 16, seed=1, confirm_draws=64)
    y = E(z.numpy()).argmax(1)  # label = the clean prediction: robust at eps = 0
    lo, hi = feature_box(model, x, 0.03)
    coarse = box_search(E, lo, hi, y, per_axis=9)
    fine = box_search(E, lo, hi, y, per_axis=17)  # contains the 9-point grid
    assert (fine <= coarse).all()
    assert 0 < coarse.mean() < 1  # the search decides something on this model
    ext = _extremes(model, torch.tensor(x), 0.03, "linf")
    image_ok = E.correct(ext.reshape(-1, 2), np.repeat(y, 4)).reshape(30, 4).all(1)
    assert (coarse & ~image_ok).sum() <= 1  # robust on the grid, broken in the image: resolution
    assert box_search(E, lo, hi, y, per_axis=9, still_robust=np.zeros(30, bool)).sum() == 0


@pytest.fixture(scope="module")
def digits_study():
    """A briefly trained digits model (64-D input, 2-D features) and a small study config."""
    from validation.nets.data import make_dataset
    from validation.nets.train import TrainConfig, train
    from validation.studies.robustness.study import StudyConfig

    data = make_dataset("digits", 1200, seed=0)
    model, _ = train(TrainConfig(data="digits", sigma=0.3, epochs=20, weight_decay=3e-3,
                                 flow_penalty=0.0), data, progress=False)
    cfg = StudyConfig(eps_linf=(0.0, 0.02, 0.05, 0.4), eps_l2=(0.0, 0.07, 0.14, 2.0),
                      points=30, pgd_steps=10, restarts=1, eot=4, eot_curve=(1, 4),
                      random_samples=50, exhaustive_per_axis=9, grid_n=40, certify_points=4,
                      expected_draws=8, confirm_draws=32)
    return model, data, cfg


def test_digits_study_brackets_robust_accuracy(digits_study, monkeypatch, tmp_path):
    """The study's lower estimate (feature box) lies below the attacks' upper estimate and
    equals the clean accuracy at eps = 0; a mutant box holding only the clean feature (not the
    image of the ball) puts the lower estimate above the attacks, and every feature-box flag
    (bound above the attacks, robust points broken; both norms) fails."""
    import validation.studies.robustness.bottleneck as bn
    from validation.studies.robustness.study import robustness_study

    model, data, cfg = digits_study
    res = robustness_study(model, data, cfg, progress=False)
    rows = res["attacks"]
    assert rows["linf:0.0"]["feature_box"] == pytest.approx(res["expected_clean_accuracy"])
    assert rows["linf:0.4"]["feature_box"] == 0.0  # the box covers the whole feature square
    for r in rows.values():
        assert r["feature_box"] <= r["robust_accuracy"] + 2 / cfg.points
    assert all(v for k, v in res["flags"].items() if "feature-box" in k)
    assert sum("feature-box" in k for k in res["flags"]) == 4
    _bracket_table_is_written(res, cfg, tmp_path)

    def centre_only(model, x, eps, norm="linf", method="both"):
        lo, _ = feature_box(model, x, 0.0, norm)
        return lo, lo

    monkeypatch.setattr(bn, "feature_box", centre_only)
    bad = robustness_study(model, data, cfg, progress=False)
    failed = [k for k, v in bad["flags"].items() if "feature-box" in k and not v]
    assert len(failed) == 4  # each of the 4 flags (both norms) catches the unsound box


def _bracket_table_is_written(res: dict, cfg, folder) -> None:
    """robustness.md of a digits study has the bracket table: lower, upper and their width."""
    from dataclasses import asdict

    from validation.studies.robustness.sweep import claim_verdicts, write_outputs

    rows = [res | {"seed": 0, "sigma": 0.0}, res | {"seed": 0}]
    doc = {"rows": rows, "sigmas": [0.0, res["sigma"]], "study": asdict(cfg),
           **claim_verdicts(rows, [0.0, res["sigma"]], cfg.eps_linf, 0.02)}
    assert doc["lower_estimate_verdict"]["statistic"].startswith("mean over the linf eps grid "
                                                                 "of the feature-box lower")
    write_outputs(doc, folder, "digits")
    md = (folder / "robustness.md").read_text()
    assert "on the lower estimate through the feature bottleneck" in md
    assert "No exhaustive search in the input space" in md
    from validation.doc import num

    r = res["attacks"]["linf:0.02"]
    line = (f"| linf | {res['sigma']} | 0.02 | {num(r['feature_box'])} | "
            f"{num(r['robust_accuracy'])} | {num(r['robust_accuracy'] - r['feature_box'])} | "
            f"{r['feature_box_violations']} |")
    assert line in md


def test_a_masked_digits_model_trips_the_margin_flag_and_is_still_attacked(digits_study):
    """Negative control of issue 23: the digits model with its head scaled by 1e4 (the same
    decisions, a saturated softmax) stops the cross-entropy attacks; the margin (logit) attack
    and the gradient-free search do not, so the CE-versus-margin flag fails and robust accuracy,
    the AND over every attack, stays within two points of the unscaled model's. The unscaled
    model passes every flag."""
    import copy

    import torch

    from validation.studies.robustness.study import robustness_study

    model, data, cfg = digits_study
    scaled = copy.deepcopy(model)
    with torch.no_grad():
        scaled.base.weight.mul_(1e4)
        scaled.base.bias.mul_(1e4)
    plain = robustness_study(model, data, cfg, progress=False)
    masked = robustness_study(scaled, data, cfg, progress=False)
    assert all(plain["flags"].values()), [k for k, v in plain["flags"].items() if not v]
    margin_flags = [k for k in masked["flags"] if "margin attack" in k]
    assert len(margin_flags) == 2 and not all(masked["flags"][k] for k in margin_flags)
    two = 2 / cfg.points
    for key, row in masked["attacks"].items():
        assert row["robust_accuracy"] <= plain["attacks"][key]["robust_accuracy"] + two, key
    # the cross-entropy attacks alone are fooled somewhere: the control has a masked gradient
    worst_ce = max(min(r["expected"][k] for k in ("fgsm", "pgd", "eot-pgd"))
                   - r["expected"]["pgd-margin"] for r in masked["attacks"].values())
    assert worst_ce > two
