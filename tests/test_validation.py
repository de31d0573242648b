"""Diffusion ResNets, training, velocity extraction and the three-way agreement (tiny models)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torchsde

from numerics import Grid, solve
from validation.nets.data import DataError, make_dataset
from validation.nets.flow import PDE_SCHEME, gauss_hermite, interpolate, network_mc, semi_discrete
from validation.nets.models import DiffusionResNet, ModelError
from validation.nets.train import TrainConfig, features, load_model, train
from validation.nets.velocity import feature_box, to_problem
from validation.studies.agreement.study import agreement_study


def tiny_model(sigma: float, blocks: int = 4, seed: int = 0, scale: float = 1.5):
    """A random model with distinct, smooth blocks (weights scaled to give a visible flow)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        m = DiffusionResNet(2, 2, blocks=blocks, t_end=1.0, sigma=sigma, hidden=8).double()
        with torch.no_grad():
            for b in m.blocks:
                b[0].weight.mul_(scale)
                b[2].weight.mul_(scale)
    return m


@pytest.mark.parametrize("name", ["moons", "circles", "blobs", "spirals", "checkerboard"])
def test_datasets_are_scaled_seeded_and_split(name):
    a = make_dataset(name, 300, seed=4)
    b = make_dataset(name, 300, seed=4)
    c = make_dataset(name, 300, seed=5)
    assert np.array_equal(a.x_train, b.x_train) and not np.array_equal(a.x_train, c.x_train)
    allx = np.concatenate([a.x_train, a.x_val, a.x_test])
    assert allx.min() == pytest.approx(0) and allx.max() == pytest.approx(1)
    assert len(allx) == 300 and a.dim == 2
    assert a.n_classes == (4 if name == "blobs" else 2)


def test_digits_need_no_download_and_are_64_dimensional():
    d = make_dataset("digits")
    assert d.dim == 64 and d.n_classes == 10 and len(d.x_train) > 1000
    with pytest.raises(DataError, match="valid: moons"):
        make_dataset("mnist")


def test_noise_is_live_in_eval_mode_and_seeded(torch_generator):
    m = tiny_model(0.5).eval()
    x = torch.rand(5, 2, dtype=torch.float64)
    assert not torch.equal(m(x), m(x))
    g1 = torch.Generator().manual_seed(1)
    g2 = torch.Generator().manual_seed(1)
    assert torch.equal(m(x, generator=g1), m(x, generator=g2))
    plain = tiny_model(0.0).eval()
    assert torch.equal(plain(x), plain(x))
    p = m.predict_proba(x, 8, generator=torch_generator)
    assert torch.allclose(p.sum(-1), torch.ones(5, dtype=torch.float64))
    with pytest.raises(ModelError):
        DiffusionResNet(2, 2, sigma=-1.0)


class _GridBrownian(torchsde.BrownianInterval.__mro__[1]):  # torchsde's BaseBrownian
    """Brownian increments fixed on the step grid t_n = n h (the network's own noise)."""

    def __init__(self, increments: list[torch.Tensor], h: float):
        self.inc, self.h = increments, h

    def __call__(self, ta, tb=None, return_U=False, return_A=False):
        n = round(float(ta) / self.h)
        assert abs(float(tb) - float(ta) - self.h) < 1e-12
        return self.inc[n]

    def __repr__(self):
        return "GridBrownian"

    dtype = property(lambda self: self.inc[0].dtype)
    device = property(lambda self: self.inc[0].device)
    shape = property(lambda self: self.inc[0].shape)
    levy_area_approximation = property(lambda self: "none")


def test_noisy_forward_pass_equals_torchsde_euler_with_the_same_increments():
    m = tiny_model(0.4, blocks=5)
    h = m.step
    z0 = torch.rand(7, 2, dtype=torch.float64)
    gen = torch.Generator().manual_seed(3)
    xis = [torch.randn(7, 2, generator=gen, dtype=torch.float64) for _ in range(m.n_blocks)]

    class SDE(torch.nn.Module):
        noise_type, sde_type = "diagonal", "ito"

        def f(self, t, y):
            return m.blocks[min(int(float(t) / h + 1e-9), m.n_blocks - 1)](y)

        def g(self, t, y):
            return m.sigma * torch.ones_like(y)

    bm = _GridBrownian([math.sqrt(h) * xi for xi in xis], h)
    ts = torch.tensor([0.0, m.t_end], dtype=torch.float64)
    with torch.no_grad():
        ref = torchsde.sdeint(SDE(), z0, ts, bm=bm, dt=h, method="euler")[-1]
        ours = m.flow(z0, noise=xis)
    assert torch.allclose(ours, ref, atol=1e-13, rtol=0)
    assert not torch.allclose(m.flow(z0, noise=[-x for x in xis]), ref, atol=1e-3)


def test_velocity_time_order_is_output_to_input():
    """The PDE with v = g_{L-1-n} on [t_n, t_{n+1}) matches the network; reversed it does not."""
    m = tiny_model(0.0, blocks=6, scale=2.0)
    z = np.random.default_rng(0).uniform(0.2, 0.8, (60, 2))
    box = feature_box(m, z)
    grid = Grid(bounds=box, shape=(96, 96))
    net, _ = network_mc(m, z, 1)
    prob = to_problem(m, grid)
    good = interpolate(solve(prob, **PDE_SCHEME).final, grid, z)
    reversed_prob = to_problem(m, grid)
    object.__setattr__(reversed_prob, "velocity", list(reversed(prob.velocity)))
    bad = interpolate(solve(reversed_prob, **PDE_SCHEME).final, grid, z)
    gap_good = np.abs(net - good).max()
    gap_bad = np.abs(net - bad).max()
    assert gap_good < 0.5 * gap_bad, (gap_good, gap_bad)


def test_semi_discrete_equals_the_deterministic_network_up_to_interpolation():
    m = tiny_model(0.0, blocks=4)
    z = np.random.default_rng(1).uniform(0.2, 0.8, (40, 2))
    box = feature_box(m, z)
    errs = []
    for n in (32, 64, 128):
        g = Grid(bounds=box, shape=(n, n))
        errs.append(np.abs(interpolate(semi_discrete(m, g), g, z) - network_mc(m, z, 1)[0]).max())
    assert errs[-1] < 1e-4 and errs[0] > errs[1] > errs[2]


@pytest.mark.parametrize("order", [1, 3])
def test_interpolation_from_filtered_coefficients_is_scipys_spline(order):
    """interpolate filters the spline once (its own edge padding) and samples without
    scipy's per-call prefilter: the values must be scipy's map_coordinates, outside the box
    too (constant extension). Control: sampling unfiltered data as if filtered is off."""
    from scipy.ndimage import map_coordinates

    from validation.nets.flow import _coefficients, _sample

    rng = np.random.default_rng(0)
    g = Grid(bounds=((-1.0, 2.0), (0.0, 1.0)), shape=(40, 30))
    u = rng.random((2, 40, 30))
    pts = np.column_stack([rng.uniform(-2, 3, 3000), rng.uniform(-1, 2, 3000)])
    idx = [(pts[:, k] - g.bounds[k][0]) / g.spacing[k] - 0.5 for k in range(2)]
    ref = np.stack([map_coordinates(c, idx, order=order, mode="nearest") for c in u], axis=1)
    np.testing.assert_allclose(interpolate(u, g, pts, order), ref, rtol=0, atol=1e-13)
    if order > 1:
        raw = ([np.pad(c, 12, mode="edge") for c in u], 12)
        assert np.abs(_sample(raw, g, pts, order) - ref).max() > 1e-3
    else:
        assert _coefficients(u, order)[1] == 0


def test_semi_discrete_does_not_depend_on_its_thread_count():
    """The nodes are sampled on threads and summed in their order: 1 and 3 threads give the
    same bits, with noise and sub-steps; a bad count is refused."""
    m = tiny_model(0.4, blocks=3)
    g = Grid(bounds=feature_box(m, np.random.default_rng(2).uniform(0.2, 0.8, (20, 2))),
             shape=(24, 24))
    one = semi_discrete(m, g, substeps=2, threads=1)
    assert np.array_equal(one, semi_discrete(m, g, substeps=2, threads=3))
    assert not np.array_equal(one, semi_discrete(m, g, substeps=1, threads=3))
    with pytest.raises(ValueError, match="threads = 0"):
        semi_discrete(m, g, threads=0)


@pytest.mark.parametrize("classes, dim", [(2, 2), (4, 2), (3, 3)])
def test_the_semi_discrete_last_class_equals_its_own_run(classes, dim, monkeypatch):
    """semi_discrete computes the last class as 1 minus the others (the recursion keeps the
    softmax's sum 1): the network with its classes reversed computes that class directly,
    and gives it to rounding, cubic and linear, in 2-D and on a 3-D feature grid (the edge
    cells' quadrature nodes leave the box, where the constant extension acts). The control:
    where u_0 does not sum to 1 (a base that is not a softmax), the shortcut's class differs
    from the direct one."""
    import copy

    import validation.nets.flow as flow

    torch.manual_seed(classes)
    m = DiffusionResNet(2, classes, feature_dim=dim, blocks=3, t_end=1.0, sigma=0.4,
                        hidden=8).double()
    rev = copy.deepcopy(m)
    with torch.no_grad():
        rev.base.weight.copy_(m.base.weight.flip(0))
        rev.base.bias.copy_(m.base.bias.flip(0))
    g = Grid(bounds=((-2.0, 2.0),) * dim, shape=(24 if dim == 2 else 10,) * dim)
    for order in (3, 1):
        u = semi_discrete(m, g, substeps=2, interp_order=order)
        assert np.abs(u - semi_discrete(rev, g, substeps=2, interp_order=order)[::-1]).max() \
            < 1e-13
    softmax = flow.base_probabilities
    monkeypatch.setattr(flow, "base_probabilities", lambda model, pts: 0.9 * softmax(model, pts))
    u = semi_discrete(m, g, substeps=2)
    assert np.abs(u - semi_discrete(rev, g, substeps=2)[::-1]).max() > 0.05


def test_gauss_hermite_integrates_gaussian_moments():
    nodes, w = gauss_hermite(2, 4)
    assert w.sum() == pytest.approx(1)
    assert (w * nodes[:, 0] ** 2).sum() == pytest.approx(1)
    assert (w * nodes[:, 0] ** 2 * nodes[:, 1] ** 4).sum() == pytest.approx(3)


def test_agreement_orders_on_a_small_trained_model(tmp_path):
    cfg = TrainConfig(n=400, epochs=15, blocks=6, sigma=0.3, seed=1)
    model, hist = train(cfg, out=tmp_path, progress=False)
    assert hist["train_loss"][-1] < hist["train_loss"][0]
    loaded, cfg2 = load_model(tmp_path / "model.pt")
    assert cfg2 == cfg
    x = torch.rand(4, 2, dtype=torch.float64)
    assert torch.equal(loaded(x, generator=torch.Generator().manual_seed(0)),
                       model(x, generator=torch.Generator().manual_seed(0)))
    data = make_dataset(cfg.data, cfg.n, seed=cfg.seed)
    xt = data.x_test[:80]
    res = agreement_study(model, xt, features(model, xt), feature_box(model, features(
        model, data.x_train)), grid_n=128, ks=(16, 64, 256, 1024), grid_ns=(24, 48, 96, 192),
        substeps=(1, 2, 4, 8), progress=False)
    assert abs(res.k_study["order"] + 0.5) < 0.15, res.k_study
    assert abs(res.grid_study["order"] - 2) < 0.3, res.grid_study
    assert abs(res.step_study["order"] - 1) < 0.3, res.step_study
    assert abs(res.step_study["order_successive"] - 1) < 0.3, res.step_study


def test_the_agreement_study_returns_the_gaps_of_its_parts_computed_one_by_one():
    """agreement_study runs its reference PDE (the doubled grid) on a thread beside the
    semi-discrete runs and reuses the r = 1 run in the step study: each gap it reports equals
    the same gap computed here from nets.flow's parts one after the other (a mix-up of the
    coarse and the reference PDE, or of the grids, changes them)."""
    from validation.nets.flow import pde_final
    from validation.nets.train import build_model

    data = make_dataset("moons", 200, seed=0)
    model = build_model(TrainConfig(n=200, blocks=3, sigma=0.3, seed=0), data)
    x = data.x_test[:12]
    z = features(model, x)
    box = feature_box(model, features(model, data.x_train))
    res = agreement_study(model, x, z, box, grid_n=16, ks=(4, 16), grid_ns=(4, 8, 16, 32),
                          substeps=(1, 2), progress=False)

    g, g2, fine = (Grid(bounds=box, shape=(n, n)) for n in (16, 32, 64))
    sd = interpolate(semi_discrete(model, g), g, z)
    ref = interpolate(pde_final(model, g2), g2, z)
    coarse = interpolate(pde_final(model, g), g, z)
    sd2 = interpolate(semi_discrete(model, g, substeps=2), g, z)
    m, _ = network_mc(model, x, 16, seed=0)
    sd_ref = interpolate(semi_discrete(model, fine), fine, z)
    assert res.gap_sd_pde == float(np.abs(sd - ref).max()) > 0
    assert res.step_study["gaps"] == [float(np.abs(sd - ref).max()),
                                      float(np.abs(sd2 - ref).max())]
    assert res.step_study["pde_error_estimate"] == float(np.abs(ref - coarse).max()) > 0
    assert res.gap_net_sd == float(np.abs(m - sd_ref).max())


@pytest.mark.parametrize("decay", [0.0, 1e-3])
def test_training_with_the_foreach_adam_gives_the_weights_of_the_per_parameter_loop(
        monkeypatch, decay):
    """nets.train steps Adam with foreach=True (one kernel for all parameters): the trained
    weights equal, bit for bit, those of torch's per-parameter loop (foreach=False), with and
    without the block-scaled weight decay; the control: another seed's weights differ."""
    adam = torch.optim.Adam
    cfg = TrainConfig(n=200, epochs=3, blocks=3, sigma=0.3, seed=2, weight_decay=decay)

    def weights(foreach, c=cfg):
        monkeypatch.setattr(torch.optim, "Adam", lambda *a, **k: adam(*a, **{
            **k, "foreach": foreach}))
        state = train(c, progress=False)[0].state_dict()
        monkeypatch.setattr(torch.optim, "Adam", adam)
        return state

    fast, loop = weights(True), weights(False)
    assert all(torch.equal(fast[k], loop[k]) for k in loop)
    other = weights(True, TrainConfig(n=200, epochs=3, blocks=3, sigma=0.3, seed=3,
                                      weight_decay=decay))
    assert not all(torch.equal(other[k], loop[k]) for k in loop)


def test_linear_baseline_tells_a_linear_problem_from_a_nonlinear_one():
    from validation.nets.baseline import beats_linear, linear_baseline
    from validation.nets.data import make_dataset

    moons = linear_baseline(make_dataset("moons", 1200, seed=0))
    circles = linear_baseline(make_dataset("circles", 1200, seed=0))
    assert 0.8 < moons["linear_test_acc"] < 0.95  # a line gets most of the moons right
    assert circles["linear_test_acc"] < 0.7  # and cannot separate concentric circles
    assert beats_linear(0.99, moons) and not beats_linear(moons["linear_test_acc"] + 0.01, moons)


@pytest.mark.parametrize("blocks", [1, 10, 80])
def test_block_weight_decay_is_depth_consistent(blocks):
    """Blocks take weight_decay * 10 / L (the Riemann sum of int |theta(t)|^2 dt at step h);
    encoder and head the plain decay; None restores one decay for all; bad values are named.
    """
    from validation.nets.data import make_dataset
    from validation.nets.train import TrainConfig, build_model, param_groups

    data = make_dataset("digits", 1200, seed=0)
    cfg = TrainConfig(data="digits", blocks=blocks, weight_decay=3e-3)
    model = build_model(cfg, data)
    rest, blk = param_groups(model, cfg)
    assert rest["weight_decay"] == 3e-3
    assert blk["weight_decay"] == pytest.approx(3e-3 * 10 / blocks)
    # a block's loss gradient is O(h): decay / h is the same at every depth
    assert blk["weight_decay"] / model.step == pytest.approx(3e-3 * 10 / model.t_end)
    assert len(rest["params"]) + len(blk["params"]) == len(list(model.parameters()))
    assert {id(p) for p in blk["params"]} == {id(p) for p in model.blocks.parameters()}
    one = param_groups(model, TrainConfig(data="digits", blocks=blocks, weight_decay=3e-3,
                                          decay_ref_blocks=None))
    assert one[1]["weight_decay"] == 3e-3
    with pytest.raises(ValueError, match="decay_ref_blocks = 0"):
        param_groups(model, TrainConfig(blocks=blocks, decay_ref_blocks=0))


def test_a_training_whose_loss_becomes_non_finite_stops_with_the_epoch_and_value():
    # negative control of the guard: a data set with one NaN feature makes the loss NaN
    from dataclasses import replace

    from validation.nets.data import make_dataset
    from validation.nets.train import TrainConfig, train

    ds = make_dataset("moons", 200, seed=0)
    x = ds.x_train.copy()
    x[3, 0] = float("nan")
    bad = replace(ds, x_train=x)
    with pytest.raises(FloatingPointError, match=r"loss became nan at epoch 0, batch 0"):
        train(TrainConfig(n=200, epochs=2, blocks=3), bad, progress=False)
    _, hist = train(TrainConfig(n=200, epochs=1, blocks=3), ds, progress=False)  # control
    assert np.isfinite(hist["train_loss"][0])
