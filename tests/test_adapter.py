"""The adapter: any torch residual stage read as a flow (velocity, noise, shapes, hooks), and
`cdverify inspect` on it."""

from __future__ import annotations

import math
import re
import warnings

import numpy as np
import pytest
import torch
from torch import nn

from validation.nets.adapter import (
    AdapterError,
    BatchStatisticsWarning,
    ResidualStage,
    StageSpec,
    adapt,
)
from validation.nets.models import DiffusionResNet
from validation.studies.inspect import flowstats
from validation.studies.inspect.flowstats import jacobian_norms, measured_diffusion

B = torch.tensor([[0.3, -1.0], [0.5, 0.2]], dtype=torch.float64)


class Linear(nn.Module):
    """x -> x + h B x: a block whose velocity is B x."""

    def __init__(self, h: float):
        super().__init__()
        self.h = h

    def forward(self, x):
        return x + self.h * x @ B.T


class Net(nn.Module):
    def __init__(self, L: int = 4, t_end: float = 1.0):
        super().__init__()
        self.stem = nn.Linear(3, 2).double()
        self.stage = nn.ModuleList(Linear(t_end / L) for _ in range(L))
        self.head = nn.Linear(2, 2).double()

    def forward(self, x):
        z = self.stem(x)
        for b in self.stage:
            z = b(z)
        return self.head(z)


class LoopNet(Net):
    """Net with L blocks made by ``make``, the forward taking each step as step(block, z)."""

    def __init__(self, make, step, L: int = 4):
        super().__init__(L=L)
        self.stage = nn.ModuleList(make() for _ in range(L))
        self.step = step

    def forward(self, x):
        z = self.stem(x)
        for b in self.stage:
            z = self.step(b, z)
        return self.head(z)


X3 = torch.randn(2, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0))


def read(model: nn.Module, spec, x: torch.Tensor = X3) -> ResidualStage:
    """The stage, its reading settled on the model's forward at x (as inspect and check do)."""
    st = ResidualStage(model, spec)
    st.probe(x)
    return st


def test_a_block_with_a_known_velocity_returns_it():
    torch.manual_seed(0)
    net = Net(L=4, t_end=2.0)
    st = read(net, StageSpec("stage", t_end=2.0))
    z = torch.randn(5, 2, dtype=torch.float64)
    assert st.step == 0.5
    assert torch.allclose(st.velocity(1, z), z @ B.T)
    # the hooks: features are the stem's output, logits through the adapter are the model's
    x = torch.randn(5, 3, dtype=torch.float64)
    assert torch.allclose(st.features(x), net.stem(x))
    assert torch.allclose(st.logits(x), net(x))
    # a wrong T is a wrong velocity (control): v = Delta / h scales with 1/h
    wrong = read(net, StageSpec("stage", t_end=1.0))
    assert not torch.allclose(wrong.velocity(1, z), z @ B.T)


@pytest.mark.parametrize("exact", [True, False])
def test_jacobian_norms_of_a_linear_velocity(exact, monkeypatch):
    if not exact:
        monkeypatch.setattr(flowstats, "EXACT_JACOBIAN_MAX", 0)  # power iteration
    st = read(Net(), "stage")
    spec, logn = jacobian_norms(st, 0, torch.randn(3, 2, dtype=torch.float64),
                                generator=torch.Generator().manual_seed(0), iters=200)
    want_spec = float(torch.linalg.matrix_norm(B, 2))
    want_log = float(torch.linalg.eigvalsh((B + B.T) / 2).max())
    assert np.allclose(spec, want_spec, rtol=1e-6) and np.allclose(logn, want_log, atol=1e-6)
    assert not np.allclose(logn, want_spec)  # the two norms differ here (control)


class _Attend(nn.Module):
    """A pre-norm attention block on tokens (batch, 16, 8): 128 features, power iteration."""

    def __init__(self):
        super().__init__()
        self.ln = nn.LayerNorm(8)
        self.attn = nn.MultiheadAttention(8, 2, batch_first=True)

    def forward(self, z):
        h = self.ln(z)
        return z + self.attn(h, h, h, need_weights=False)[0]


class _OnceSquare(torch.autograd.Function):
    """z^2 / 4 with a backward that is not itself differentiable (as many fused ops)."""

    @staticmethod
    def forward(ctx, z):
        ctx.save_for_backward(z)
        return z * z / 4

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, g):
        (z,) = ctx.saved_tensors
        return g * z / 2


class _Fused(nn.Module):
    def forward(self, z):
        return z + _OnceSquare.apply(z)


def test_jacobian_norms_of_an_attention_block_and_a_once_differentiable_op(monkeypatch):
    """Attention's fused CPU kernel has no double backward: the norms run on its math kernel
    and equal those of the exact Jacobian (reverse mode, rows). An op whose backward is not
    differentiable gave J w = 0 and a norm of 0 silently; it is refused, naming the block."""
    torch.manual_seed(0)
    z = torch.randn(2, 16, 8)
    stage = read(nn.Sequential(nn.Sequential(_Attend(), _Attend())).eval(), "0", z)
    spec, logn = jacobian_norms(stage, 1, z, generator=torch.Generator().manual_seed(0),
                                iters=100)
    for i in range(2):
        J = torch.autograd.functional.jacobian(
            lambda u, i=i: stage.velocity(1, u.reshape(1, 16, 8)).reshape(-1),
            z[i].reshape(-1)).double()
        assert spec[i] == pytest.approx(float(torch.linalg.matrix_norm(J, 2)), rel=1e-3)
        assert logn[i] == pytest.approx(float(torch.linalg.eigvalsh((J + J.T) / 2).max()),
                                        rel=1e-2, abs=1e-3)
    zf = torch.randn(1, 80, dtype=torch.float64) + 2.0  # 80 features: power iteration
    fused = read(nn.Sequential(nn.Sequential(_Fused(), _Fused())), "0", zf)
    with pytest.raises(AdapterError, match="block 0: its Jacobian-vector products fail the "
                                           "adjoint test"):
        jacobian_norms(fused, 0, zf)
    # mutant: without the test the power iteration reads the identity parts alone (the
    # branch's J w is lost): a norm far from max |z|
    with monkeypatch.context() as m:
        m.setattr(flowstats, "_adjoint_test", lambda *a: None)
        spec, _ = jacobian_norms(fused, 0, zf)
    assert abs(spec[0] - float(zf.abs().max())) > 0.5, spec
    # --jacobian-points 0, the way out the refusal names: the rest is measured, norms NaN
    rows = flowstats.inspect_stage(fused, zf, jacobian_points=0, passes=2)["blocks"]
    assert all(math.isnan(r["jac_spectral_mean"]) and r["mean_speed"] > 0 for r in rows)
    # control: with at most EXACT_JACOBIAN_MAX features the reverse-mode Jacobian serves
    # (J = diag(z / 2) / h, h = 1/2): no refusal, the exact norm
    spec, _ = jacobian_norms(fused, 0, zf[:, :60])
    assert spec[0] == pytest.approx(float(zf[0, :60].abs().max()), rel=1e-9)


def test_torch_layers_without_a_skip_in_a_stage_are_named():
    """A Dropout and a BatchNorm2d between residual blocks are read as steps like the blocks
    (h = T / 5 counts them): the stage names them, and the inspection's first paragraph
    says so. Not named: the user's own blocks, a Sequential holding them, a Transformer layer
    (its skips are inside), and blocks read as branches (the parent adds the skip)."""
    from validation.studies.inspect.study import summary

    class Res(nn.Module):
        def __init__(self):
            super().__init__()
            self.f = nn.Conv2d(4, 4, 3, padding=1)

        def forward(self, z):
            return z + torch.tanh(self.f(z))

    z = torch.randn(3, 4, 4, 4)
    mixed = nn.Sequential(nn.Sequential(Res(), nn.Dropout(0.1), nn.Sequential(Res(), Res()),
                                        nn.BatchNorm2d(4), nn.Sequential(nn.ReLU(),
                                                                         nn.Identity())))
    stage = read(mixed.eval(), "0", z)
    assert stage.plain_layers == ["Dropout (block 1)", "BatchNorm2d (block 3)",
                                  "Sequential (block 4)"]
    res = flowstats.inspect_stage(stage, z, jacobian_points=0, passes=2)
    text = " ".join(summary(res | {"seconds": 0.0, "stage": "0"}, {}).split())
    assert "Not residual: Dropout (block 1), BatchNorm2d (block 3), Sequential (block 4), " \
           "torch.nn layers with no skip connection" in text and "h = T / 5" in text
    # controls: residual blocks only; a Transformer layer; branches the parent adds
    assert read(nn.Sequential(nn.Sequential(Res(), Res())).eval(), "0", z).plain_layers == []
    tok = torch.randn(2, 5, 8)
    enc = nn.Sequential(nn.Sequential(*[nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0,
                                                                   batch_first=True)
                                        for _ in range(2)]))
    assert read(enc.eval(), "0", tok).plain_layers == []

    class Parent(nn.Module):
        def __init__(self):
            super().__init__()
            self.fs = nn.ModuleList(nn.Sequential(nn.Linear(2, 2), nn.Tanh()) for _ in range(3))

        def forward(self, x):
            for f in self.fs:
                x = x + f(x) / 3
            return x

    branches = read(Parent().eval(), "fs", torch.randn(4, 2))
    assert branches.spec.reading != "block" and branches.plain_layers == []


def test_a_near_identity_member_passes_the_adjoint_test_in_float32(monkeypatch):
    """A stage holding a freshly initialised BatchNorm2d (evaluation: z / sqrt(1 + 1e-5)) and
    a Dropout (the identity) between conv blocks, float32, 128 features: the BatchNorm's
    velocity Jacobian (J - I) / h = -5e-6 / h I is formed by a difference whose rounding
    swamped the relative tolerance, and the stage was refused as if an op dropped its part.
    Now its norm is the exact 5e-6 / h; the Dropout's relative change (against a speed of 0)
    is '-' (it read 3.5e12). Mutant: no round-off allowance refuses it again; control: the
    float32 once-differentiable op is still refused."""
    torch.manual_seed(0)
    conv = nn.Sequential(nn.Conv2d(8, 8, 3, padding=1), nn.Tanh())

    class Res(nn.Module):
        def __init__(self):
            super().__init__()
            self.f = conv

        def forward(self, z):
            return z + self.f(z)

    model = nn.Sequential(nn.Sequential(Res(), nn.Dropout(0.1), nn.BatchNorm2d(8), Res())).eval()
    z = torch.randn(8, 8, 4, 4)
    stage = read(model, "0", z)
    spec, logn = jacobian_norms(stage, 2, z, generator=torch.Generator().manual_seed(0))
    exact = (1 - 1 / math.sqrt(1 + 1e-5)) / stage.step
    assert spec == pytest.approx(exact, rel=1e-2) and logn == pytest.approx(-exact, rel=1e-2)
    rows = flowstats.inspect_stage(stage, z, jacobian_points=2, passes=2)["blocks"]
    assert rows[1]["mean_speed"] == 0 and rows[1]["relative_change"] is None
    assert rows[0]["relative_change"] > 0
    with monkeypatch.context() as m:
        m.setattr(flowstats, "ADJOINT_ROUNDOFF", 0)
        with pytest.raises(AdapterError, match="block 2: its Jacobian-vector products fail"):
            jacobian_norms(stage, 2, z, generator=torch.Generator().manual_seed(0))
    zf = torch.randn(1, 80) + 2.0  # float32 this time
    fused = read(nn.Sequential(nn.Sequential(_Fused(), _Fused())), "0", zf)
    with pytest.raises(AdapterError, match="block 0: its Jacobian-vector products fail the "
                                           "adjoint test"):
        jacobian_norms(fused, 0, zf)


def test_a_known_noise_scale_is_measured_within_its_error():
    st = read(Net(), "stage")
    z = torch.randn(64, 2, dtype=torch.float64)
    sigma = 0.5
    md = measured_diffusion(st, 0, z, sigma=sigma, passes=200,
                            generator=torch.Generator().manual_seed(1))
    assert abs(md["mean_diag"] - sigma**2 / 2) < 4 * md["stderr"]
    # the measurement tells sigma from sigma / 2 (control): 0.125 against 0.03125
    assert abs(md["mean_diag"] - (sigma / 2) ** 2 / 2) > 10 * md["stderr"]
    assert md["relative_error"] < 0.1
    # a deterministic float64 stage: exactly 0 (the mean of equal float64 values rounds; an
    # estimate centred on it read 3e-33 here). Mutant: centred on the mean alone
    large = torch.randn(64, 2, dtype=torch.float64) * 1e3 + 1 / 3
    md0 = measured_diffusion(st, 0, large, sigma=0.0, passes=33,
                             generator=torch.Generator().manual_seed(1))
    assert md0["mean_diag"] == 0.0 and md0["stderr"] == 0.0
    X = torch.stack([st.delta(0, large).double() for _ in range(33)])
    assert float(((X - X.mean(0)) ** 2).sum()) > 0  # the mutant's centring does not vanish


def test_a_shape_changing_block_is_refused_with_its_shapes():
    net = nn.Sequential(nn.Linear(2, 2), nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 3)))
    st = ResidualStage(net, "1")
    with pytest.raises(AdapterError, match=r"block 1 .* maps features of shape \(2, 2\) to "
                                           r"\(2, 3\)"):
        st.probe(torch.randn(4, 2))


class F(nn.Module):
    """f(z) = B z: a branch that returns the residual alone."""

    def forward(self, z):
        return z @ B.T


class Unchained(nn.Module):
    """The flow z -> z + h B z written in other ways: "chain", blocks z -> z + h B z;
    "parent", the skip in the parent's loop, z = z + h f(z); and three whose blocks are not the
    steps: "between", z = tanh(z + h f(z)) in the parent; "reversed", the blocks run in
    reverse; "some", the forward leaves the last block out."""

    def __init__(self, order: str, L: int = 4):
        super().__init__()
        self.order, self.h = order, 1.0 / L
        self.stem, self.head = nn.Linear(3, 2).double(), nn.Linear(2, 2).double()
        self.fs = nn.ModuleList(F() if order in ("parent", "between") else Linear(self.h)
                                for _ in range(L))

    def forward(self, x):
        z = self.stem(x)
        blocks = {"reversed": self.fs[::-1], "some": self.fs[:-1]}.get(self.order, self.fs)
        for f in blocks:
            z = z + self.h * f(z) if self.order in ("parent", "between") else f(z)
            z = torch.tanh(z) if self.order == "between" else z
        return self.head(z)


def test_a_forward_that_adds_the_skip_is_read_as_such_and_one_that_does_not_chain_is_refused():
    """A ModuleList whose parent writes z = z + h f(z): block(z) - z = f(z) - z is not the step
    (here h B z); the first features find the form from the forward's own steps and read
    Delta = h f(z), the head through it. A forward that changes the features otherwise between
    blocks, runs them in another order or leaves one out is refused."""
    torch.manual_seed(0)
    x = torch.randn(5, 3, dtype=torch.float64)
    z = torch.randn(5, 2, dtype=torch.float64)
    for order in ("chain", "parent"):
        net = Unchained(order)
        st = read(net, "fs", x)
        assert st.spec.reading == ("block" if order == "chain" else "residual")
        assert torch.allclose(st.velocity(0, z), z @ B.T)
        assert torch.allclose(st.logits(x), net(x))  # the head through the parent's skip
        assert torch.allclose(st.logits(x, substeps=2), net.head(
            st.flow(st.features(x), substeps=2)))
    assert st.spec.scale == pytest.approx(0.25)
    # the mutant that reads the parent's blocks as steps: a wrong velocity, silently
    st.spec = StageSpec("fs")
    assert not torch.allclose(st.velocity(0, z), z @ B.T)
    for order, match in (("between", "output of block 0 is not the input of block 1, nor"),
                         ("reversed", r"order \[3, 2, 1, 0\]"), ("some", r"order \[0, 1, 2\]")):
        with pytest.raises(AdapterError, match=match):
            ResidualStage(Unchained(order), "fs").features(x)
    # a stage not yet read on the forward is not guessed at
    with pytest.raises(AdapterError, match="call features"):
        ResidualStage(Unchained("parent"), "fs").velocity(0, z)


class NormBlock(nn.Module):
    def __init__(self, track: bool = True):
        super().__init__()
        self.lin, self.bn = nn.Linear(2, 2), nn.BatchNorm1d(2, track_running_stats=track)

    def forward(self, x):
        return x + self.bn(self.lin(x))


def test_batch_statistics_in_a_stage_warn_once_and_eval_mode_reads_points_alone():
    torch.manual_seed(0)
    z = torch.randn(8, 2)
    net = nn.Sequential(nn.Identity(), nn.Sequential(NormBlock(), NormBlock()))
    st = read(net, "1", z)  # the probe runs in evaluation mode: no warning, no side effect
    mean0 = net[1][0].bn.running_mean.clone()
    with pytest.warns(BatchStatisticsWarning, match="depends on the rest of its batch"):
        alone = st.velocity(0, z[:4])
    assert not torch.equal(net[1][0].bn.running_mean, mean0)  # the side effect it names
    # why it warns: in training mode a point's velocity changes with its batch
    assert not torch.allclose(alone, st.velocity(0, z)[:4])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        st.velocity(1, z)  # once per stage, not once per block or call
        net.eval()  # control: running statistics, no warning, each point read alone
        ev = read(net, "1", z)
        assert torch.allclose(ev.velocity(0, z[:4]), ev.velocity(0, z)[:4])
        # dropout in training mode is a technique (diffusion), not a defect: no warning
        drop = nn.Sequential(nn.Identity(), nn.Sequential(nn.Dropout(0.5))).train()
        read(drop, "1", z).velocity(0, z)
    with pytest.warns(BatchStatisticsWarning, match="track_running_stats=False"):
        read(nn.Sequential(nn.Identity(), nn.Sequential(NormBlock(False))).eval(), "1", z)


def test_inspect_reads_a_training_mode_model_as_deployed_and_leaves_its_statistics(tmp_path):
    """A factory's model comes in training mode: inspect measures it in evaluation mode and
    gives back the running statistics and every submodule's own mode untouched."""
    from validation.studies.inspect import run_inspect

    def make():
        torch.manual_seed(0)
        net = nn.Sequential(nn.Identity(), nn.Sequential(NormBlock(), NormBlock()),
                            nn.Linear(2, 3))
        for b in net[1]:  # trained-looking running statistics
            b.bn.running_mean.copy_(torch.tensor([0.5, -0.3]))
            b.bn.running_var.copy_(torch.tensor([2.0, 0.5]))
        return net

    x = np.random.default_rng(0).standard_normal((40, 2)).astype(np.float32)
    y = np.arange(40) % 3
    kw = dict(points=16, passes=2, jacobian_points=2, seed=0)
    net = make()
    net[2].eval()  # a submodule in its own mode, kept
    before = {k: v.clone() for k, v in net.state_dict().items()}
    with warnings.catch_warnings():
        warnings.simplefilter("error", BatchStatisticsWarning)
        got = run_inspect(ResidualStage(net, "1"), x, y, tmp_path / "train", **kw)
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())
    assert net.training and net[1][0].bn.training and not net[2].training
    ref = run_inspect(ResidualStage(make().eval(), "1"), x, y, tmp_path / "eval", **kw)
    assert got["blocks"] == ref["blocks"]
    # control: one forward of the model as the factory gave it moves the statistics that
    # the measurement above read unchanged
    moved = make()
    moved(torch.as_tensor(x[:2]))
    assert not torch.equal(moved[1][0].bn.running_mean, before["1.0.bn.running_mean"])


def test_stage_paths_that_do_not_resolve_or_are_not_sequences():
    net = Net()
    with pytest.raises(AdapterError, match="has no 'layer9'; its children are"):
        ResidualStage(net, "layer9")
    # one module is read as a block the forward calls in a loop (test_one_block_...): the
    # stem, called once, maps 3 features to 2 and is refused as a step
    with pytest.raises(AdapterError, match="maps features of shape"):
        read(net, "stem")
    class Skips(Net):  # a forward that does not use its stage
        def forward(self, x):
            return self.head(self.stem(x))

    with pytest.raises(AdapterError, match="never reached the stage"):
        ResidualStage(Skips(), "stage").features(torch.randn(2, 3, dtype=torch.float64))


def test_diffusion_resnet_reads_through_the_same_adapter():
    torch.manual_seed(0)
    model = DiffusionResNet(2, 2, blocks=5, sigma=0.3).double()
    st = adapt(model)
    x = torch.rand(7, 2, dtype=torch.float64)
    a = st.logits(x, sigma=model.sigma, generator=torch.Generator().manual_seed(3))
    b = model(x, generator=torch.Generator().manual_seed(3))
    assert torch.allclose(a, b)  # the same noise draws, the same recursion
    z = torch.rand(4, 2, dtype=torch.float64)
    assert torch.allclose(st.velocity(2, z), model.blocks[2](z))
    # without the noise the outputs differ (the injected diffusion is live)
    assert not torch.allclose(st.logits(x), b)


def test_diffusion_resnet_and_the_adapter_run_one_recursion_with_substeps():
    """nets.stepping is the one Euler-Maruyama recursion: with r = 3 sub-steps and fixed
    increments both give the same z_L, exactly; the per-step path has L r + 1 states, the
    adapter's per-block path L + 1, and its block ends are the same states."""
    torch.manual_seed(1)
    model = DiffusionResNet(2, 2, blocks=4, sigma=0.5).double()
    st = adapt(model)
    z = torch.rand(5, 2, dtype=torch.float64)
    noise = [torch.randn(5, 2, dtype=torch.float64) for _ in range(12)]
    a, steps = model.flow(z, substeps=3, noise=noise, return_path=True)
    b, blocks = st.flow(z, sigma=0.5, substeps=3, noise=noise, return_path=True)
    assert torch.equal(a, b) and steps.shape[0] == 13 and len(blocks) == 5
    assert all(torch.equal(steps[3 * k], blocks[k]) for k in range(5))
    # the negative control: a different sigma is a different path
    assert not torch.allclose(st.flow(z, sigma=0.4, substeps=3, noise=noise), a)


def test_inspect_cli_on_the_example_and_its_refusals(tmp_path, capsys):
    from validation.cli import main

    out = tmp_path / "insp"
    rc = main(["inspect", "--model", "examples/byo_resnet.py:make_model", "--stage", "layer1",
               "--data", "digits", "--points", "24", "--passes", "3", "--jacobian-points", "1",
               "--out", str(out)])
    assert rc == 0
    import json

    doc = json.loads((out / "inspect.json").read_text())
    assert doc["n_blocks"] == 6 and doc["feature_shape"] == [8, 8, 8]
    assert all(r["mean_speed"] > 0 and r["A_mean_diag"] == 0 for r in doc["blocks"])
    for f in ("blocks.csv", "velocity.png", "trajectories.png", "summary.md"):
        assert (out / f).is_file()
    capsys.readouterr()
    bad = {
        ("--model", "examples/nope.py:make_model", "--stage", "layer1"): "no file",
        ("--model", "examples/byo_resnet.py:nope", "--stage", "layer1"): "no callable 'nope'",
        ("--model", "examples/byo_resnet.py:make_model", "--stage", "layer9"): "has no 'layer9'",
        ("--model", "examples/byo_resnet.py:make_model", "--stage", "head", "--data",
         "digits"): "maps features of shape",
        ("--model", "examples/byo_resnet.py:make_model", "--stage", "layer1",
         "--data", "moons"): "forward failed on input of shape",
        ("--model", "examples/byo_resnet.py:make_model", "--stage", "layer1",
         "--weights", str(tmp_path / "w.pt")): "no such file",
    }
    for argv, msg in bad.items():
        assert main(["inspect", *argv, "--out", str(tmp_path / "x")]) == 2
        err = capsys.readouterr().err.strip()
        assert msg in err and len(err.splitlines()) == 1, err
    # weights of another model do not load: one line naming the file and the keys that differ
    # (a count beyond three, not torch's list of every key)
    import sys

    sys.path.insert(0, "examples")
    from byo_resnet import make_model

    good = make_model().state_dict()
    resized = dict(good) | {"head.weight": torch.zeros(3, 8)}
    for state, msg in (
            (nn.Linear(2, 2).state_dict(), "missing stem.0.weight, stem.1.weight, "
             "stem.1.bias, ... (67 in all); unexpected weight, bias)"),
            (resized, "other shapes: head.weight (3, 8) for (10, 8)"),
            ([1, 2], "holds a list, not a state dict"),
            # a whole module as --weights: torch's refusal ran over six lines
            (nn.Linear(2, 2), "a whole pickled module (torch.save(model))?")):
        torch.save(state, tmp_path / "w.pt")
        assert main(["inspect", "--model", "examples/byo_resnet.py:make_model", "--stage",
                     "layer1", "--weights", str(tmp_path / "w.pt"), "--out",
                     str(tmp_path / "x")]) == 2
        err = capsys.readouterr().err.strip()
        assert msg in err and len(err.splitlines()) == 1, err
        assert not (tmp_path / "x").exists()  # refused before any work
    # a user's own .pt as --model (a pickled module, a state dict): one line with the route
    # (it printed torch's multi-line advice with terminal colour codes)
    torch.save(nn.Linear(2, 2), tmp_path / "whole.pt")
    torch.save(good, tmp_path / "sd.pt")
    for name, msg in (("whole.pt", "a whole pickled module (torch.save(model))?"),
                      ("sd.pt", "KeyError: 'model'")):
        assert main(["inspect", "--model", str(tmp_path / name), "--out",
                     str(tmp_path / "x")]) == 2
        err = capsys.readouterr().err.strip()
        assert msg in err and "--model FILE.py:FACTORY" in err and "\x1b" not in err, err
        assert len(err.splitlines()) == 1, err
    # control: the factory's own weights load
    torch.save(good, tmp_path / "w.pt")
    assert main(["inspect", "--model", "examples/byo_resnet.py:make_model", "--stage", "layer1",
                 "--data", "digits", "--points", "8", "--passes", "2", "--jacobian-points",
                 "1", "--weights", str(tmp_path / "w.pt"), "--out", str(tmp_path / "x")]) == 0


def test_weights_load_from_the_checkpoint_layouts_people_save(tmp_path):
    """PyTorch's tutorial saves {'epoch', 'model_state_dict', 'optimizer_state_dict', 'loss'};
    Lightning {'state_dict': {'model.<key>': ...}, ...} (the LightningModule's attribute as a
    prefix): both were refused as another architecture. They load now, to the same weights;
    a checkpoint with two state dicts and no conventional key is refused naming them, and a
    common prefix whose rest is not the model's keys is not taken off (controls)."""
    from validation.nets.user import load_weights

    torch.manual_seed(0)
    src = nn.Sequential(nn.Linear(3, 4), nn.Sequential(nn.Linear(4, 4)), nn.Linear(4, 2))
    opt = torch.optim.SGD(src.parameters(), lr=0.1, momentum=0.9)
    src(torch.randn(2, 3)).sum().backward()
    opt.step()
    sd = src.state_dict()
    layouts = {
        "tutorial": {"epoch": 3, "model_state_dict": sd,
                     "optimizer_state_dict": opt.state_dict(), "loss": 0.25},
        "lightning": {"epoch": 1, "global_step": 10,
                      "state_dict": {f"model.{k}": v for k, v in sd.items()}},
        "other key": {"step": 5, "weights": sd},
    }
    for name, ckpt in layouts.items():
        torch.save(ckpt, tmp_path / "c.pt")
        dst = nn.Sequential(nn.Linear(3, 4), nn.Sequential(nn.Linear(4, 4)), nn.Linear(4, 2))
        load_weights(dst, str(tmp_path / "c.pt"))
        assert all(torch.equal(v, sd[k]) for k, v in dst.state_dict().items()), name
    # BatchNorm's counter missing (checkpoints of PyTorch before 0.4.1, some converters): the
    # rest loads; a missing running mean is still refused
    bn = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    bn[1].running_mean.add_(1.0)
    old = {k: v for k, v in bn.state_dict().items() if not k.endswith("num_batches_tracked")}
    torch.save(old, tmp_path / "old.pt")
    fresh = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    load_weights(fresh, str(tmp_path / "old.pt"))
    assert torch.equal(fresh[1].running_mean, bn[1].running_mean)
    torch.save({k: v for k, v in old.items() if k != "1.running_mean"}, tmp_path / "old.pt")
    with pytest.raises(AdapterError, match=r"missing 1\.running_mean"):
        load_weights(fresh, str(tmp_path / "old.pt"))
    dst = nn.Sequential(nn.Linear(3, 4), nn.Sequential(nn.Linear(4, 4)), nn.Linear(4, 2))
    torch.save({"a": sd, "b": sd}, tmp_path / "two.pt")
    with pytest.raises(AdapterError, match=r"several of them state dicts \(a, b\)"):
        load_weights(dst, str(tmp_path / "two.pt"))
    torch.save({"model." + k.replace("0.", "9."): v for k, v in sd.items()},
               tmp_path / "shifted.pt")
    with pytest.raises(AdapterError, match="do not fit the model"):
        load_weights(dst, str(tmp_path / "shifted.pt"))


def test_weights_load_from_a_safetensors_file(tmp_path, monkeypatch):
    """Hugging Face's format (read without unpickling): the same weights as the state dict;
    a corrupt file is refused in one line; without the reader installed, one line naming the
    extra."""
    pytest.importorskip("safetensors", reason="the dev extra installs safetensors")
    from safetensors.torch import save_file

    from validation.nets.user import load_weights

    torch.manual_seed(0)
    src = nn.Sequential(nn.Linear(3, 4), nn.Sequential(nn.Linear(4, 4)), nn.Linear(4, 2))
    save_file(src.state_dict(), str(tmp_path / "w.safetensors"))
    dst = nn.Sequential(nn.Linear(3, 4), nn.Sequential(nn.Linear(4, 4)), nn.Linear(4, 2))
    load_weights(dst, str(tmp_path / "w.safetensors"))
    assert all(torch.equal(v, src.state_dict()[k]) for k, v in dst.state_dict().items())
    (tmp_path / "bad.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json")
    with pytest.raises(AdapterError, match="not a torch state dict") as exc:
        load_weights(dst, str(tmp_path / "bad.safetensors"))
    assert "\n" not in str(exc.value)
    import sys

    monkeypatch.setitem(sys.modules, "safetensors.torch", None)  # as if not installed
    with pytest.raises(AdapterError, match=r"install the reader, pip install "
                                           r"'cdverify\[safetensors\]'"):
        load_weights(dst, str(tmp_path / "w.safetensors"))


def test_inspect_refuses_an_output_narrower_than_the_classes_before_the_agreement(tmp_path,
                                                                                  capsys):
    """A forward returning (features, logits) gave the toolkit its 8 features as 'logits':
    the agreement compared their softmax with the PDE's and printed 'holds'. With noise (the
    agreement runs) it is refused, one line, exit 2, nothing written; the flow alone (sigma 0)
    is still read; control: (logits, features) runs the agreement."""
    import json

    from validation.cli import main

    factory = tmp_path / "fl.py"
    factory.write_text(
        "import torch\nfrom torch import nn\n\n"
        "class Net(nn.Module):\n"
        "    def __init__(self, first):\n"
        "        super().__init__()\n"
        "        self.first = first\n"
        "        self.stem = nn.Linear(64, 8)\n"
        "        self.blocks = nn.Sequential(*[nn.Sequential(nn.Linear(8, 8), nn.Tanh())\n"
        "                                      for _ in range(3)])\n"
        "        self.out = nn.Linear(8, 10)\n"
        "    def forward(self, x):\n"
        "        z = self.stem(x.flatten(1))\n"
        "        for b in self.blocks:\n"
        "            z = z + b(z)\n"
        "        y = self.out(z)\n"
        "        return (z, y) if self.first == 'features' else (y, z)\n\n"
        "def features_first():\n    return Net('features')\n\n"
        "def logits_first():\n    return Net('logits')\n")
    argv = ["inspect", "--stage", "blocks", "--data", "digits", "--points", "16",
            "--passes", "2", "--jacobian-points", "0"]
    noisy = ["--sigma", "0.1", "--agreement-draws", "16", "--agreement-points", "4"]
    assert main([*argv, *noisy, "--model", f"{factory}:features_first",
                 "--out", str(tmp_path / "a")]) == 2
    err = capsys.readouterr().err.strip()
    assert "output has 8 columns for data with 10 classes" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "a").exists()
    assert main([*argv, "--model", f"{factory}:features_first",
                 "--out", str(tmp_path / "b")]) == 0
    assert main([*argv, *noisy, "--model", f"{factory}:logits_first",
                 "--out", str(tmp_path / "c")]) == 0
    assert "agreement" in json.loads((tmp_path / "c" / "inspect.json").read_text())


@pytest.mark.slow
def test_the_example_trains_and_is_inspected(tmp_path):
    import subprocess
    import sys

    # the example's own 15 epochs (2 s of training): 3 epochs reached 0.67, below the bound
    # (5: 0.75, 8: 0.85, 15: 0.958), and this slow test failed unnoticed
    res = subprocess.run([sys.executable, "examples/byo_resnet.py", "--out", str(tmp_path)],
                         capture_output=True, text=True, timeout=1800)
    assert res.returncode == 0, res.stderr[-2000:]
    assert "test accuracy" in res.stdout and (tmp_path / "inspect" / "inspect.json").is_file()
    acc = float(res.stdout.split("test accuracy")[1].split()[0])
    assert acc > 0.9 and math.isfinite(acc)  # logistic regression: 0.983 on this split


def test_inspect_with_injected_noise_measures_it_and_checks_the_agreement(tmp_path, capsys):
    import json

    from validation.cli import main
    from validation.doc.lint import markdown_problems

    out = tmp_path / "noisy"
    assert main(["inspect", "--model", "examples/byo_resnet.py:make_model", "--stage", "layer1",
                 "--data", "digits", "--points", "16", "--passes", "24", "--jacobian-points",
                 "1", "--sigma", "0.3", "--agreement-draws", "32", "--agreement-points", "4",
                 "--out", str(out)]) == 0
    doc = json.loads((out / "inspect.json").read_text())
    for r in doc["blocks"]:  # sigma^2/2 = 0.045 measured within its Monte Carlo error
        assert abs(r["A_mean_diag"] - 0.045) < 5 * r["A_stderr"] + 1e-3, r
    assert doc["agreement"]["verdict"]["status"] in ("holds", "inconclusive", "fails")
    md = (out / "summary.md").read_text()
    assert "Feynman-Kac" in md and not markdown_problems(md), markdown_problems(md)


def test_inspect_reads_a_toolkit_model_file(tmp_path, capsys):
    import json

    from validation.cli import main
    from validation.nets.train import TrainConfig, save_model

    torch.manual_seed(0)
    cfg = TrainConfig(blocks=4, sigma=0.2)
    model = DiffusionResNet(2, 2, blocks=4, sigma=0.2)
    save_model(model, cfg, {"epoch": []}, tmp_path)
    out = tmp_path / "insp"
    assert main(["inspect", "--model", str(tmp_path / "model.pt"), "--data", "moons",
                 "--points", "16", "--passes", "4", "--jacobian-points", "2",
                 "--sigma", "0.2", "--agreement-draws", "16", "--agreement-points", "4",
                 "--substeps", "1,2,4,8,16,32", "--out", str(out)]) == 0
    doc = json.loads((out / "inspect.json").read_text())
    assert doc["reading"] == "branch" and doc["n_blocks"] == 4 and doc["feature_shape"] == [2]
    # the levels asked for, each with its noiseless flows' difference in the summary
    assert doc["agreement"]["substeps"] == [1, 2, 4, 8, 16, 32]
    assert len(doc["agreement"]["feature_differences"]) == 5
    assert "noiseless mean" in (out / "summary.md").read_text()
    # the stage as resolved, not the option left unset ('The flow of `None`')
    assert doc["stage"] == "blocks"
    assert (out / "summary.md").read_text().startswith("# The flow of `blocks`")
    # options a toolkit model.pt carries itself were ignored; now refused by name
    for extra, msg in ((["--T", "2"], "--T 2 with --model"),
                       (["--weights", str(tmp_path / "model.pt")], "carries its own weights"),
                       (["--stage", "layer1"], "residual stage is its blocks")):
        assert main(["inspect", "--model", str(tmp_path / "model.pt"), *extra, "--out",
                     str(tmp_path / "refused")]) == 2
        assert msg in capsys.readouterr().err
        assert not (tmp_path / "refused").exists()
    # the branch reading: v_l is the branch g_l itself
    z = torch.rand(3, 2)
    st = adapt(model)
    assert torch.allclose(st.velocity(0, z), model.blocks[0](z))


def test_inspect_reads_a_torchvision_resnet_stage(tmp_path, capsys):
    """A torchvision ResNet-18 as its users build it: layer1 (two BasicBlocks, post-activation,
    64 x 8 x 8 features on 32 x 32 images) is read as a flow; layer2, whose first block halves
    the resolution and doubles the channels, is refused naming that block and its shapes, and
    its slice layer2[1:] (the block after it) is read."""
    pytest.importorskip("torchvision", reason="torchvision is not installed (the optional "
                        "extra, `make vision`): a torchvision stage needs it")
    from PIL import Image

    from validation.cli import main

    rng = np.random.default_rng(0)
    for split, n in (("train", 2), ("test", 6)):
        for c in ("a", "b"):
            (tmp_path / "img" / split / c).mkdir(parents=True)
            for i in range(n):
                Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(
                    tmp_path / "img" / split / c / f"{i}.png")
    common = ["--model", "torchvision.models:resnet18", "--data",
              f"image-folder:{tmp_path / 'img'}", "--points", "8", "--passes", "2",
              "--jacobian-points", "1", "--agreement-draws", "0"]
    assert main(["inspect", *common, "--stage", "layer1", "--out", str(tmp_path / "o")]) == 0
    import json

    doc = json.loads((tmp_path / "o" / "inspect.json").read_text())
    assert doc["n_blocks"] == 2 and doc["feature_shape"] == [64, 8, 8]
    assert all(r["mean_speed"] > 0 for r in doc["blocks"])
    capsys.readouterr()
    assert main(["inspect", *common, "--stage", "layer2", "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert "block 0" in err and "64, 8, 8)" in err and "128, 4, 4)" in err, err
    assert "e.g. layer2[1:]" in err
    # the block after the downsampling one is a flow of 128 x 4 x 4 features
    assert main(["inspect", *common, "--stage", "layer2[1:]", "--out",
                 str(tmp_path / "s")]) == 0
    doc = json.loads((tmp_path / "s" / "inspect.json").read_text())
    assert doc["n_blocks"] == 1 and doc["feature_shape"] == [128, 4, 4]


def test_an_npz_data_file_is_read_and_its_defects_named_before_any_work(tmp_path):
    """--data FILE.npz: x (and labels y) read; a non-finite x (before: a LinAlgError from
    inside the Jacobian norms, exit 1), labels of another length and a flat x are one-line
    refusals naming the file."""
    from validation.nets.user import load_data

    rng = np.random.default_rng(0)
    x = rng.random((6, 64)).astype(np.float32)
    np.savez(tmp_path / "ok.npz", x=x, y=np.arange(6))
    got, y = load_data(str(tmp_path / "ok.npz"))
    assert np.array_equal(got, x) and list(y) == list(range(6))  # control
    np.savez(tmp_path / "unlabelled.npz", x=x)
    assert list(load_data(str(tmp_path / "unlabelled.npz"))[1]) == [0] * 6
    bad = x.copy()
    bad[[2, 4], 5] = np.nan
    cases = {"nan": ({"x": bad}, "non-finite values in 2 of its 6 points (the first: point 2)"),
             "labels": ({"x": x, "y": np.zeros(4)}, "4 labels y for 6 points x"),
             "flat": ({"x": x[0]}, "x has shape (64,)"),
             "nox": ({"z": x}, "expected an array 'x'")}
    for name, (arrays, msg) in cases.items():
        np.savez(tmp_path / f"{name}.npz", **arrays)
        with pytest.raises(AdapterError, match=re.escape(msg)):
            load_data(str(tmp_path / f"{name}.npz"))


def test_training_a_parent_skip_stage_injects_the_noise_into_its_steps():
    """fit settles the reading on the forward before training: the paper's noise then goes into
    the step z + c f(z), Cov / (2h) = sigma^2 / 2. A technique injected before the reading is
    settled is refused (it would go into f(z), scaled by c)."""
    from validation.nets.fit import FitConfig, fit
    from validation.nets.techniques import injected

    net = Unchained("parent")
    st = ResidualStage(net, "fs")
    with pytest.raises(AdapterError, match="not yet settled"):
        with injected(st, "paper", 0.3, None):
            pass
    x = torch.randn(64, 3, dtype=torch.float64)
    fit(st, x, (x[:, 0] > 0).long(), FitConfig(technique="paper", strength=0.3, epochs=1),
        progress=False)
    assert st.spec.reading == "residual"
    z1 = []
    hook = net.fs[1].register_forward_pre_hook(lambda m, a: z1.append(a[0]))
    with torch.no_grad(), injected(st, "paper", 0.3, torch.Generator().manual_seed(0)):
        net(x[:1].repeat(4000, 1))
    hook.remove()
    assert float(z1[0].var(0).mean()) / (2 * st.step) == pytest.approx(0.3**2 / 2, rel=0.08)


class _Scaled(nn.Module):
    def forward(self, z, scale):
        return z + scale * (z @ B.T)


def test_a_block_that_needs_more_than_the_features_is_refused_by_name():
    """A block called as block(z, scale) by its model, scale a different number per point:
    the flow cannot call it on the features alone; one line naming the block and the fix,
    not a TypeError from inside the model. Called with a fixed number (block(z, 0.5)) it is
    bound per step and reads, as does a module that binds it itself (control)."""

    class Net2(nn.Module):
        def __init__(self, per_point: bool):
            super().__init__()
            self.blocks = nn.ModuleList(_Scaled() for _ in range(2))
            self.per_point = per_point

        def forward(self, x):
            for b in self.blocks:
                x = b(x, torch.linspace(0.2, 0.8, len(x), dtype=x.dtype)[:, None]
                      if self.per_point else 0.5)
            return x

    x = torch.randn(3, 2, dtype=torch.float64)
    with pytest.raises(AdapterError, match=r"block 0 of stage 'blocks' cannot be called on the "
                                           r"features alone \(.*'scale'\)"):
        read(Net2(True), "blocks", x)
    st = read(Net2(False), "blocks", x)  # a fixed number: bound, v = B z
    assert torch.allclose(st.velocity(1, x), x @ B.T)

    class Bound(nn.Module):
        def __init__(self):
            super().__init__()
            self.b = _Scaled()

        def forward(self, z):
            return self.b(z, 0.5)

    net = nn.Sequential(nn.Sequential(Bound(), Bound()))
    st = read(net, "0", x)  # control: h = 1/2, Delta = 0.5 B z, v = B z
    assert torch.allclose(st.velocity(1, x), x @ B.T)


class Big(nn.Module):
    """float32 features |z| ~ 50 beside steps f(z) / 6 ~ 0.1, the skip in the parent."""

    def __init__(self):
        super().__init__()
        self.inp = nn.Linear(4, 16)
        self.fs = nn.ModuleList(nn.Sequential(nn.Linear(16, 16), nn.Tanh()) for _ in range(6))

    def forward(self, x):
        z = 50 * self.inp(x)
        for f in self.fs:
            z = z + f(z) / 6
        return z.sum(1, keepdim=True)


def test_a_float32_parent_skip_with_large_features_is_read_at_its_rounding():
    """|z| ~ 50 beside h f(z) ~ 0.1 in float32: z + h f(z) rounds at 1e-6 of |z|, far above
    1e-6 of the step; the fit's tolerance is the features' rounding, so it is read (c = h to
    float32's precision) and the head through it gives the model's output."""

    torch.manual_seed(0)
    net, x = Big(), torch.randn(8, 4)
    st = read(net, "fs", x)
    assert st.spec.reading == "residual" and st.spec.scale == pytest.approx(1 / 6, rel=1e-5)
    with torch.no_grad():
        assert torch.allclose(st.logits(x), net(x), rtol=1e-5)


def test_per_block_weights_on_conv_features_in_float32_are_read_with_the_last_one_measured():
    """ReZero weights on C x H x W features (float32, batch norm, a ReLU in every branch, a
    pooled head): the c_l between blocks from the features, the last one through last_step
    on a float64 copy; v_l = c_l f_l / h and the logits are the model's. Control: the same
    network with one weight is read with one c."""

    class ConvReZero(nn.Module):
        def __init__(self, alphas):
            super().__init__()
            self.stem = nn.Conv2d(1, 4, 3, padding=1)
            self.fs = nn.ModuleList(nn.Sequential(nn.BatchNorm2d(4), nn.ReLU(),
                                                  nn.Conv2d(4, 4, 3, padding=1))
                                    for _ in alphas)
            self.alpha = nn.Parameter(torch.tensor(alphas))
            self.head = nn.Linear(4, 10)

        def forward(self, x):
            z = self.stem(x)
            for a, f in zip(self.alpha, self.fs, strict=True):
                z = z + a * f(z)
            return self.head(z.mean(dim=(2, 3)))

    alphas = [0.3, 0.2, 0.45]
    torch.manual_seed(0)
    net, x = ConvReZero(alphas).eval(), torch.randn(6, 1, 8, 8)
    st = read(net, "fs", x)
    assert st.spec.reading == "residual"
    assert st.spec.scales == pytest.approx(alphas, rel=1e-4)
    with torch.no_grad():
        z = st.features(x)
        for l, a in enumerate(alphas):
            assert torch.allclose(st.velocity(l, z), a * net.fs[l](z) / st.step, atol=1e-5)
        assert torch.allclose(st.logits(x), net(x), atol=1e-5)
    one = read(ConvReZero([0.3] * 3).eval(), "fs", x)
    assert one.spec.scales == () and one.spec.scale == pytest.approx(0.3, rel=1e-4)


def test_a_conv_parent_skip_stage_on_image_features_is_read_as_such():
    """The parent-skip reading on C x H x W features (batch norm in evaluation mode, the skip
    z + f(z) / 3 in the parent's loop): c = 1/3 found, v = c f(z) / h, and the adapter's logits
    equal the model's, also with a noisy flow's head put through the parent's skip."""

    class Conv(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = nn.Conv2d(1, 4, 3, padding=1)
            self.fs = nn.ModuleList(nn.Sequential(nn.BatchNorm2d(4), nn.ReLU(),
                                                  nn.Conv2d(4, 4, 3, padding=1))
                                    for _ in range(3))
            self.head = nn.Linear(4, 10)

        def forward(self, x):
            z = self.stem(x)
            for f in self.fs:
                z = z + f(z) / 3
            return self.head(z.mean(dim=(2, 3)))

    torch.manual_seed(0)
    net, x = Conv().eval(), torch.randn(6, 1, 8, 8)
    st = read(net, "fs", x)
    assert st.spec.reading == "residual" and st.spec.scale == pytest.approx(1 / 3, rel=1e-5)
    with torch.no_grad():
        z = st.features(x)
        assert torch.allclose(st.velocity(1, z), net.fs[1](z) / 3 / st.step, atol=1e-6)
        assert torch.allclose(st.logits(x), net(x), atol=1e-5)
        zl = st.flow(z, sigma=0.3, generator=torch.Generator().manual_seed(1))
        # the head of a noisy flow's end: the model's own pooling and linear layer on it
        assert torch.allclose(st.head(zl, x), net.head(zl.mean(dim=(2, 3))), atol=1e-5)


class Downsampled(nn.Module):
    """A stage whose first block changes the feature shape (3 -> 2, as torchvision's layer2
    halves the resolution), then L blocks z -> z + h B z."""

    def __init__(self, L: int = 3):
        super().__init__()
        self.stage = nn.Sequential(nn.Linear(3, 2).double(), *(Linear(1.0 / L) for _ in range(L)))
        self.head = nn.Linear(2, 2).double()

    def forward(self, x):
        return self.head(self.stage(x))


def test_a_slice_of_a_stage_leaves_out_a_downsampling_first_block():
    """"stage[1:]" is the flow of the blocks after the shape-changing one: v = B z exactly,
    features z_0 = the first block's output, logits the model's; the noise goes into the
    sliced blocks alone (the first block's output is left as it is). The whole stage is
    refused naming the slice that would do (control), and malformed or empty slices are
    refused in one line."""
    net = Downsampled(L=3)
    x = torch.randn(5, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    with pytest.raises(AdapterError, match=re.escape("(2, 3) to (2, 2)") + ".*" + re.escape(
            "e.g. stage[1:]")):
        read(net, "stage")
    for spec in ("stage[1:]", "stage[-3:]", "stage[1:4]"):
        st = read(net, spec)
        assert st.n_blocks == 3 and st.step == pytest.approx(1 / 3)
        z = torch.randn(4, 2, dtype=torch.float64)
        assert torch.allclose(st.velocity(0, z), z @ B.T)
        assert torch.allclose(st.features(x), net.stage[0](x))
        assert torch.allclose(st.logits(x), net(x))
    part = read(net, "stage[1:3]")  # two blocks of three: T = 1 over 2 blocks
    assert part.n_blocks == 2 and torch.allclose(part.velocity(1, z), z @ B.T / 1.5)
    from validation.nets.techniques import injected

    seen = []
    hook = net.stage[0].register_forward_hook(lambda m, a, o: seen.append(o))
    with torch.no_grad(), injected(st, "paper", 0.5, torch.Generator().manual_seed(0)):
        noisy = net(x)
    hook.remove()
    assert torch.equal(seen[0], net.stage[0](x)) and not torch.allclose(noisy, net(x))
    for bad, said in (("stage[1:3:1]", "PATH[a:b] with integers"),
                      ("stage[a:]", "PATH[a:b] with integers"),
                      ("stage[5:]", "takes none of the 4 blocks of 'stage'"),
                      ("head[1:]", "which a slice cannot cut")):
        with pytest.raises(AdapterError, match=re.escape(said)):
            ResidualStage(net, bad)


def test_a_slice_of_a_model_that_is_one_sequential_reads_its_blocks():
    """nn.Sequential(stem, block, block, block, head), the model itself one container: its
    blocks had no path (a slice needed one: "[1:4]" was refused as malformed). "[1:4]" now
    cuts the model: v = B z, features the stem's output, logits the model's. Controls: a
    slice that takes the head in is refused by its shape, and "[a:]" is still malformed."""
    net = nn.Sequential(nn.Linear(3, 2).double(), *[Linear(1 / 3) for _ in range(3)],
                        nn.Linear(2, 4).double())
    x = torch.randn(5, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    st = read(net, "[1:4]")
    assert st.n_blocks == 3 and st.step == pytest.approx(1 / 3)
    z = torch.randn(4, 2, dtype=torch.float64)
    assert torch.allclose(st.velocity(2, z), z @ B.T)
    assert torch.allclose(st.features(x), net[0](x))
    assert torch.allclose(st.logits(x), net(x))
    with pytest.raises(AdapterError, match=re.escape("(2, 2) to (2, 4)")):
        read(net, "[1:]")
    with pytest.raises(AdapterError, match=re.escape("PATH[a:b] with integers")):
        ResidualStage(net, "[a:]")


def _reads_as_the_flow_with_the_papers_noise(net: Net, reading: str) -> None:
    """The stage of ``net`` (a flow z -> z + h B z, L = 4) read as ``reading``: v = B z at
    every block, the model's logits, the head on any z_L, and the paper's noise of one step
    from one z_0 (4000 draws; the features are block 1's first argument, by position or by
    keyword) at Cov / (2h) = sigma^2 / 2 within 8%."""
    from validation.nets.techniques import injected

    x = torch.randn(6, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    z = torch.randn(5, 2, dtype=torch.float64)
    st = read(net, "stage")
    assert st.spec.reading == reading
    assert all(torch.allclose(st.velocity(l, z), z @ B.T) for l in range(st.n_blocks))
    assert torch.allclose(st.logits(x), net(x))
    zl = torch.randn(6, 2, dtype=torch.float64)
    assert torch.allclose(st.head(zl, x), net.head(zl))
    z1 = []
    hook = net.stage[1].register_forward_pre_hook(
        lambda m, a, kw: z1.append(a[0] if a else kw[next(iter(kw))]), with_kwargs=True)
    with torch.no_grad(), injected(st, "paper", 0.4, torch.Generator().manual_seed(0)):
        net(x[:1].repeat(4000, 1))
    hook.remove()
    assert float(z1[0].var(0).mean()) / (2 * st.step) == pytest.approx(0.4**2 / 2, rel=0.08)


class KeywordNet(Net):
    """The flow of Net with its blocks called by keyword, block(x=z) ("chain"), or the skip in
    the parent's loop over branches called as f(z=z) ("parent")."""

    def __init__(self, how: str, L: int = 4):
        super().__init__(L=L)
        self.how = how
        if how == "parent":
            self.stage = nn.ModuleList(KeywordBranch() for _ in range(L))

    def forward(self, x):
        z = self.stem(x)
        for b in self.stage:
            z = z + 0.25 * b(z=z) if self.how == "parent" else b(x=z)
        return self.head(z)


class KeywordBranch(nn.Module):
    def forward(self, z):
        return z @ B.T


class TwoInputs(nn.Module):
    def forward(self, **kw):
        return kw["a"] + 0.25 * kw["b"] @ B.T


def test_blocks_called_by_keyword_are_read_like_positional_ones():
    """A forward that calls its blocks by keyword (block(x=z), f(z=z)) gave a bare IndexError
    from the adapter's hooks (they read the positional arguments only). Now the features are
    the block's first parameter given by name: v = B z exactly, the logits are the model's,
    and the paper's noise goes into the steps (Cov / (2h) = sigma^2 / 2). A block called with
    no such argument (two tensors by keyword into **kw) is refused in one line."""

    for how, reading in (("chain", "block"), ("parent", "residual")):
        torch.manual_seed(0)
        _reads_as_the_flow_with_the_papers_noise(KeywordNet(how), reading)

    both = LoopNet(TwoInputs, lambda b, z: b(a=z, b=z))
    with pytest.raises(AdapterError, match="called without the features as its first argument"):
        ResidualStage(both, "stage").features(X3)


def test_a_stage_with_weights_tied_across_steps_is_one_module_called_per_step():
    """nn.Sequential(*[block] * L) (a weight-tied ResNet: a time-homogeneous flow) hooks one
    module L times. It was refused as "changes the features between blocks" (each call
    fired L hooks); read now: v = B z at every step, the logits are the model's, and the
    paper's noise goes in once per step (the stage's output has the variance of L steps of
    sigma sqrt(h) noise; a hook per step on the one module would put it in L times per call).
    The parent-skip form over one tied branch reads the same; inspect names the tie."""
    from validation.nets.techniques import injected
    from validation.studies.inspect.flowstats import inspect_stage
    from validation.studies.inspect.study import summary

    class Tied(Net):
        def __init__(self, parent: bool):
            super().__init__(L=4)
            self.parent = parent
            one = F() if parent else Linear(0.25)
            self.stage = nn.ModuleList([one] * 4)

        def forward(self, x):
            z = self.stem(x)
            for b in self.stage:
                z = z + 0.25 * b(z) if self.parent else b(z)
            return self.head(z)

    x = torch.randn(6, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(4))
    z = torch.randn(5, 2, dtype=torch.float64)
    for parent in (False, True):
        torch.manual_seed(0)
        net = Tied(parent)
        st = read(net, "stage")
        assert st.n_blocks == 4 and len(st.distinct) == 1
        assert st.spec.reading == ("residual" if parent else "block")
        assert all(torch.allclose(st.velocity(l, z), z @ B.T) for l in range(4))
        assert torch.allclose(st.logits(x), net(x))
        outs = []  # the stage's output: the input of the head, 4000 draws from one x
        hook = net.head.register_forward_pre_hook(lambda m, a, outs=outs: outs.append(a[0]))
        with torch.no_grad(), injected(st, "paper", 0.4, torch.Generator().manual_seed(0)):
            net(x[:1].repeat(4000, 1))
        hook.remove()
        # Var of z_L = sum over 4 steps of (I + hB)^k sigma^2 h (I + hB)^kT: per dimension
        # near 4 sigma^2 h = sigma^2 T; once per hook (16 draws) would be 4 times that
        M = torch.eye(2, dtype=torch.float64) + 0.25 * B
        cov = sum(torch.matrix_power(M, k) @ torch.matrix_power(M, k).T for k in range(4))
        want = 0.4**2 * 0.25 * torch.diagonal(cov)
        assert torch.allclose(outs[0].var(0), want, rtol=0.08), (outs[0].var(0), want)
    done = {"stage": "stage", "seconds": 0.0}
    res = inspect_stage(st, x, passes=2, jacobian_points=0) | done
    assert res["distinct_blocks"] == 1
    assert "; 1 distinct module (weights tied across steps)" in summary(res, {})
    untied = inspect_stage(read(Net(), "stage"), x, passes=2, jacobian_points=0)
    assert "distinct" not in summary(untied | done, {})  # control


def test_one_block_the_forward_calls_in_a_loop_is_read_as_its_steps():
    """`for _ in range(L): z = self.block(z)` (a time-homogeneous flow written as a loop) was
    refused ("not a sequence of blocks": rewrite it as nn.Sequential(*[block] * L)). --stage
    block now reads it as L steps of the one module, L counted from the forward's calls (h =
    T / L): v = B z at every step, the model's logits, the paper's noise once per step, the
    same on the adapter's copy; the parent-skip form (z = z + h f(z)) reads the same. A
    control with the loop written as a tied Sequential gives the same numbers."""
    from validation.nets.techniques import injected

    class Looped(Net):
        def __init__(self, L: int, parent: bool):
            super().__init__(L=L)
            self.L, self.parent = L, parent
            self.block = F() if parent else Linear(1.0 / L)
            del self.stage

        def forward(self, x):
            z = self.stem(x)
            for _ in range(self.L):
                z = z + self.block(z) / self.L if self.parent else self.block(z)
            return self.head(z)

    x = torch.randn(6, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(4))
    z = torch.randn(5, 2, dtype=torch.float64)
    for L, parent in ((5, False), (3, True)):
        torch.manual_seed(0)
        net = Looped(L, parent)
        st = read(net, "block")
        assert st.n_blocks == L and len(st.distinct) == 1 and st.step == pytest.approx(1 / L)
        assert st.spec.reading == ("residual" if parent else "block")
        assert all(torch.allclose(st.velocity(l, z), z @ B.T) for l in range(L))
        assert torch.allclose(st.logits(x), net(x))
        twin = st._twin()
        assert twin.n_blocks == L and torch.allclose(twin.logits(x), net(x))
    net = Looped(4, False)
    st = read(net, "block")
    outs = []
    hook = net.head.register_forward_pre_hook(lambda m, a: outs.append(a[0]))
    with torch.no_grad(), injected(st, "paper", 0.4, torch.Generator().manual_seed(0)):
        net(x[:1].repeat(4000, 1))
    hook.remove()
    M = torch.eye(2, dtype=torch.float64) + 0.25 * B
    cov = sum(torch.matrix_power(M, k) @ torch.matrix_power(M, k).T for k in range(4))
    assert torch.allclose(outs[0].var(0), 0.4**2 * 0.25 * torch.diagonal(cov), rtol=0.08)
    # control: the same flow as nn.Sequential(*[block] * 4)
    tied = Net(L=4)
    tied.load_state_dict(net.state_dict(), strict=False)
    tied.stage = nn.ModuleList([net.block] * 4)
    ref = read(tied, "stage")
    assert torch.allclose(ref.logits(x), st.logits(x)) and ref.step == st.step


class ReZero(nn.Module):
    """z = z + alpha_l f_l(z) in the parent's loop, alpha a parameter per block (ReZero)."""

    def __init__(self, alphas):
        super().__init__()
        self.stem, self.head = nn.Linear(3, 2).double(), nn.Linear(2, 2).double()
        self.fs = nn.ModuleList(F() for _ in alphas)
        self.alpha = nn.Parameter(torch.tensor(alphas, dtype=torch.float64))

    def forward(self, x):
        z = self.stem(x)
        for a, f in zip(self.alpha, self.fs, strict=True):
            z = z + a * f(z)
        return self.head(z)


def test_parent_skips_with_zero_or_unequal_weights_are_read_for_what_they_are():
    """A ReZero-style parent loop: at initialisation (alpha = 0) the blocks do not move the
    features, refused naming c = 0. After training each block has its own alpha; the last one
    was refused as unmeasurable (no block follows it). It is measured now (last_step, on a
    float64 copy): the stage is read with c_l per block, v_l = c_l f_l / h exactly, the
    logits are the model's (the head undoes the last c), and the paper's noise goes into
    each step z + c_l f_l(z) (Cov / (2h) = sigma^2 / 2 at the last block too). Control: one
    alpha for every block is read with one c."""
    from validation.nets.techniques import injected
    from validation.studies.inspect.flowstats import inspect_stage
    from validation.studies.inspect.study import summary

    with pytest.raises(AdapterError, match=re.escape("adds block 0's output with weight c = 0")):
        read(ReZero([0.0] * 4), "fs")
    with pytest.raises(AdapterError, match=re.escape("adds block 3's output with weight c = 0")):
        read(ReZero([0.2, 0.3, 0.25, 0.0]), "fs")
    alphas = [0.2, 0.3, 0.25, 0.1]
    net = ReZero(alphas)
    st = read(net, "fs")
    assert st.spec.reading == "residual"
    assert st.spec.scales == pytest.approx(alphas, rel=1e-7)
    z = torch.randn(5, 2, dtype=torch.float64)
    x = torch.randn(6, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    for l, a in enumerate(alphas):
        assert torch.allclose(st.velocity(l, z), a * z @ B.T / 0.25)
    assert torch.allclose(st.logits(x), net(x))
    zl = torch.randn(6, 2, dtype=torch.float64)
    assert torch.allclose(st.head(zl, x), net.head(zl))
    seen: dict = {}
    hooks = [m.register_forward_pre_hook(lambda m, a, k=k: seen.setdefault(k, a[0]))
             for k, m in (("z1", net.fs[1]), ("z2", net.fs[2]), ("z3", net.fs[3]),
                          ("z4", net.head))]
    with torch.no_grad(), injected(st, "paper", 0.4, torch.Generator().manual_seed(0)):
        net(x[:1].repeat(4000, 1))
    for hk in hooks:
        hk.remove()
    # each step's own noise: z_{l+1} - (z_l + c_l f(z_l)), variance sigma^2 h per component
    # (a technique that used one c for every block scales it by (c_l / c_0)^2)
    for a, b, c in (("z1", "z2", 0.3), ("z3", "z4", 0.1)):
        noise = seen[b] - (seen[a] + c * seen[a] @ B.T)
        assert float(noise.var(0).mean()) == pytest.approx(0.4**2 * 0.25, rel=0.08)
    assert "c_l = 0.2, 0.3, 0.25, 0.1 for blocks 0..3" in summary(
        inspect_stage(st, x, passes=2, jacobian_points=0) | {"stage": "fs", "seconds": 0.0}, {})
    one = read(ReZero([0.25] * 4), "fs")
    assert one.spec.reading == "residual" and one.spec.scale == pytest.approx(0.25)
    assert one.spec.scales == ()
    assert torch.allclose(one.velocity(0, z), z @ B.T)  # v = c f / h, here c = h = 1/4


class OneBlock(nn.Module):
    """A stage of one block, f(z) = B z: chained (z = b(z), b = z + c f), or the skip in the
    parent (z = z + c f(z)), or the parent using z otherwise (tanh(z) + c f(z); or z + c f(z)
    + 0.3 tanh(z) with tanh(z) computed before the block)."""

    def __init__(self, how: str, c: float = 0.5):
        super().__init__()
        self.how, self.c = how, c
        self.stem, self.head = nn.Linear(3, 2).double(), nn.Linear(2, 2).double()
        self.fs = nn.ModuleList([Linear(c) if how == "chain" else F()])

    def forward(self, x):
        z = self.stem(x)
        f = self.fs[0]
        if self.how == "chain":
            z = f(z)
        elif self.how == "before":  # a use of z computed before the block, one after it
            u = torch.tanh(z)
            z = z + self.c * f(z) + 0.3 * u
        else:
            z = (torch.tanh(z) if self.how == "other" else z) + self.c * f(z)
        return self.head(torch.tanh(z))


def test_a_one_block_stage_and_the_last_block_are_read_by_what_the_forward_does():
    """No block follows the last one, so the chain check could not tell z = b(z) from
    z = z + c f(z) there: a one-block stage with the skip in the parent was read as
    Delta = f(z) - z, silently (velocity and head wrong). The last step is measured now: a
    one-block parent skip is read with its c (to 1e-7 through a float64 copy, with a
    nonlinear head), a chained one as a block; a forward that uses the block's input
    otherwise is refused, as is a stage whose last block has another form than the others."""
    x = torch.randn(6, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    z = torch.randn(5, 2, dtype=torch.float64)
    for how, reading in (("chain", "block"), ("parent", "residual")):
        torch.manual_seed(0)
        net = OneBlock(how)
        st = read(net, "fs", x)
        assert st.spec.reading == reading
        if how == "parent":
            assert st.spec.scale == pytest.approx(0.5, rel=1e-7)
        assert torch.allclose(st.velocity(0, z), 0.5 * z @ B.T)
        assert torch.allclose(st.logits(x), net(x))
    for how in ("other", "before"):
        with pytest.raises(AdapterError, match="depends on the features before block 0's "
                                               "output otherwise"):
            read(OneBlock(how), "fs", x)

    class LastDiffers(Net):  # blocks 0..2 chained, block 3 with the skip in the parent
        def __init__(self):
            super().__init__(L=4)
            self.stage[3] = F()

        def forward(self, x):
            z = self.stem(x)
            for l, b in enumerate(self.stage):
                z = z + 0.25 * b(z) if l == 3 else b(z)
            return self.head(z)

    with pytest.raises(AdapterError, match=re.escape("block 3, the last, is added by the "
                                                     "forward as z + c f(z), c = 0.25")):
        read(LastDiffers(), "stage", x)
    st = read(LastDiffers(), "stage[:3]", x)  # control: the blocks of one form
    assert st.spec.reading == "block" and st.n_blocks == 3


    class AroundStage(Net):  # a skip around the whole stage, a head reading every block
        def __init__(self, how):
            super().__init__(L=4)
            self.how = how

        def forward(self, x):
            z0 = z = self.stem(x)
            seen = []
            for b in self.stage:
                z = b(z)
                seen.append(z)
            return self.head(z + z0 if self.how == "skip" else sum(seen))

    for how in ("skip", "all"):
        with pytest.raises(AdapterError, match="a skip around the stage, a head that reads"):
            read(AroundStage(how), "stage", x)


class Checkpointed(nn.Module):
    """Blocks z -> z + f(z)/4 run under torch.utils.checkpoint in training (recomputed during
    backward to save memory), plainly in evaluation; a batch norm in the stem."""

    def __init__(self, checkpointing: bool = True):
        super().__init__()
        self.checkpointing = checkpointing
        self.stem = nn.Sequential(nn.Linear(6, 4), nn.BatchNorm1d(4))
        self.res = nn.ModuleList(nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 4))
                                 for _ in range(3))
        self.head = nn.Linear(4, 3)

    def forward(self, x):
        from torch.utils.checkpoint import checkpoint

        z = self.stem(x)
        for f in self.res:
            if self.training and self.checkpointing:
                z = z + checkpoint(f, z, use_reentrant=False) / 4
            else:
                z = z + f(z) / 4
        return self.head(z)


def test_a_stage_recomputed_in_backward_is_refused_for_techniques_that_need_their_draws():
    """Activation checkpointing runs the blocks again during backward, without the
    techniques' hooks. Measured here: dropout's and EnResNet's gradients then differ from the
    same network's without checkpointing (same draws), the paper's additive noise's do not.
    The detection runs on a copy (the model's statistics, gradients and the global generator
    untouched) and fit refuses dropout and EnResNet there before any step, the paper's
    method not; without checkpointing nothing is refused (control)."""
    from validation.nets.fit import FitConfig, fit
    from validation.nets.techniques import injected

    x = torch.randn(16, 6, generator=torch.Generator().manual_seed(0))
    y = torch.arange(16) % 3

    def grads(checkpointing: bool, name: str) -> torch.Tensor:
        torch.manual_seed(0)
        net = Checkpointed(checkpointing)
        st = ResidualStage(net, "res")
        st.probe(x)
        with injected(st, name, 0.3, torch.Generator().manual_seed(1)):
            nn.functional.cross_entropy(net.train()(x), y).backward()
        return torch.cat([p.grad.flatten() for p in net.parameters()])

    assert torch.equal(grads(True, "paper"), grads(False, "paper"))
    for name in ("dropout", "enresnet"):
        assert not torch.allclose(grads(True, name), grads(False, name), atol=1e-4)
    torch.manual_seed(0)
    net = Checkpointed()
    st = ResidualStage(net, "res")
    st.probe(x)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    rng = torch.get_rng_state()
    assert st.recomputed_in_backward(x) is True
    assert torch.equal(rng, torch.get_rng_state())
    assert ResidualStage(Checkpointed(False), "res").recomputed_in_backward(x) is False
    assert all(torch.equal(v, net.state_dict()[k]) for k, v in before.items())
    assert all(p.grad is None for p in net.parameters())
    for name in ("dropout", "enresnet"):
        with pytest.raises(AdapterError, match=f"activation checkpointing.*{name} would get "
                                               "wrong gradients"):
            fit(st, x, y, FitConfig(technique=name, strength=0.2, epochs=1), progress=False)
        assert all(torch.equal(v, net.state_dict()[k]) for k, v in before.items())
    fit(st, x, y, FitConfig(technique="paper", strength=0.2, epochs=1), progress=False)
    fit(ResidualStage(Checkpointed(False), "res"), x, y,
        FitConfig(technique="dropout", strength=0.2, epochs=1), progress=False)  # control


class OwnNoise(nn.Module):
    """z + f(z)/4 with randomness of its own in training: "module" (nn.Dropout), "functional"
    (F.dropout), "depth" (stochastic depth: the branch dropped whole), or none."""

    def __init__(self, kind: str):
        super().__init__()
        self.kind = kind
        self.f = nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4), nn.Tanh())
        self.drop = nn.Dropout(0.3 if kind == "module" else 0.0)

    def forward(self, z):
        out = self.drop(self.f(z))
        if self.kind == "functional":
            out = nn.functional.dropout(out, 0.3, self.training)
        if self.kind == "depth" and self.training and float(torch.rand(())) < 0.5:
            out = out * 0
        return z + out / 4


class Scaling(nn.Module):
    """1.5 x + f(1.5 x) / 4 with x scaled in place: deterministic, but not idempotent on
    its input (two calls on one tensor see different inputs)."""

    def __init__(self):
        super().__init__()
        self.f = nn.Linear(4, 4)

    def forward(self, x):
        x = x.mul_(1.5)
        return x + torch.tanh(self.f(x)) / 4


def test_randomness_a_stage_draws_in_training_is_found_by_its_behaviour():
    """Blocks that draw randomness of their own in training are found whatever draws it (a
    dropout module, functional dropout, stochastic depth), by calling each block twice on the
    same features in training mode on a copy of the model; batch norm with batch statistics
    and a block that changes its input in place are deterministic and not found (controls);
    the global generator and the model's own state are left as they were. The dropout
    modules are also named with their p."""
    x = torch.randn(8, 4, generator=torch.Generator().manual_seed(0))
    for kinds, found in ((["module", "none", "functional", "depth"], [0, 2, 3]),
                         (["none"] * 3, []), (["inplace"] * 2, [])):
        torch.manual_seed(0)
        net = nn.Sequential(nn.Linear(4, 4), nn.Sequential(
            *(Scaling() if k == "inplace" else OwnNoise(k) for k in kinds)))
        st = read(net.eval(), "1", x)
        before = {k: v.clone() for k, v in net.state_dict().items()}
        rng = torch.get_rng_state()
        assert st.random_in_training(x) == found
        assert torch.equal(rng, torch.get_rng_state())
        assert all(torch.equal(v, net.state_dict()[k]) for k, v in before.items())
        assert not net.training
    assert st.dropout_in_training == [] and st.dropout_blocks == []
    mixed = read(nn.Sequential(nn.Linear(4, 4), nn.Sequential(
        *map(OwnNoise, ["module", "none", "functional", "depth"]))).eval(), "1", x)
    assert mixed.dropout_in_training == ["Dropout(p=0.3) in block 0"]
    assert mixed.dropout_blocks == [0]


class InPlace(nn.Module):
    """relu(x) + f(relu(x)) / 4 with the relu taken in place on the block's input."""

    def __init__(self):
        super().__init__()
        self.f = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 4))

    def forward(self, x):
        x = nn.functional.relu(x, inplace=True)
        return x + self.f(x) / 4


def test_a_block_that_changes_its_input_in_place_is_read_at_the_input_it_was_given():
    """A block that takes relu in place on its input changed z under Delta = block(z) - z:
    the adapter's Delta was off by as much as its size, and its flow's logits were not the
    model's, silently. The block now runs on a copy: Delta is block(z) - z at the z given, z
    is left as it was, and the flow's logits are the model's. A head that changes the
    stage's output in place gets a copy of z_L."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 4), nn.Sequential(*[InPlace() for _ in range(3)]),
                        nn.Linear(4, 2)).eval()
    x = torch.randn(6, 3, generator=torch.Generator().manual_seed(5))
    st = read(net, "1", x)
    with torch.no_grad():
        z = st.features(x) - 0.5  # negative entries: the relu changes them
        kept = z.clone()
        want = net[1][0](z.clone()) - z
        assert torch.equal(st.delta(0, z), want) and torch.equal(z, kept)
        assert torch.allclose(st.logits(x), net(x), atol=1e-6)
        path = st.trajectory(x)
        assert torch.allclose(net[2](path[-1]), net(x), atol=1e-6)
    # a head that changes the stage's output in place leaves the adapter's z_L as it was
    head = nn.Sequential(nn.ReLU(inplace=True), nn.Linear(4, 2))
    other = nn.Sequential(net[0], net[1], head).eval()
    st = read(other, "1", x)
    with torch.no_grad():
        z_last = st.trajectory(x)[-1] - 0.5
        kept = z_last.clone()
        assert torch.allclose(st.head(z_last, x), head[1](kept.clamp(min=0)), atol=1e-6)
        assert torch.equal(z_last, kept)


class McDropout(nn.Module):
    """z + dropout(tanh(f z)) / 3 with dropout kept on at evaluation (training=True)."""

    def __init__(self, p: float):
        super().__init__()
        self.f, self.p = nn.Linear(4, 4), p

    def forward(self, z):
        return z + nn.functional.dropout(torch.tanh(self.f(z)), self.p, training=True) / 3


def test_a_model_random_at_evaluation_is_deployed_as_an_average_with_common_draws():
    """A user's model that keeps its own randomness at evaluation (MC dropout) made the plain
    deployed predictor one random pass: accuracy a single draw, and the attacks saw a
    different function at every call. probe() now finds it (two evaluation passes differ),
    the deployed predictor averages its passes whatever the technique, and the global
    generator is reseeded per call (and restored) so that the average is a deterministic
    function of x. Control: the same model with p = 0 is one pass."""
    from validation.nets.techniques import ExpectedPredictor

    x = torch.randn(6, 4, generator=torch.Generator().manual_seed(2))
    for p, random in ((0.3, True), (0.0, False)):
        torch.manual_seed(0)
        net = nn.Sequential(nn.Linear(4, 4), nn.Sequential(McDropout(p), McDropout(p)),
                            nn.Linear(4, 3)).eval()
        st = read(net, "1", x)
        assert st.random_at_eval is random
        f = ExpectedPredictor(st, "plain", 0.0, passes=8, seed=3)
        assert f.passes == (8 if random else 1)
        rng = torch.get_rng_state()
        with torch.no_grad():
            a = f(x)
            assert torch.equal(rng, torch.get_rng_state())
            torch.rand(3)  # other work drawing from the global generator between two calls
            b = f(x)
        assert torch.equal(a, b)
        if random:  # the average of 8 passes, not one of them
            with torch.no_grad():
                one = ExpectedPredictor(st, "plain", 0.0, passes=1, seed=3)(x)
            assert not torch.allclose(a, one)
    # a deterministic model whose output is NaN is not random (NaN != NaN)
    nan = nn.Sequential(nn.Linear(4, 4), nn.Sequential(McDropout(0.0)), nn.Linear(4, 3)).eval()
    with torch.no_grad():
        nan[2].bias.fill_(float("nan"))
    assert read(nan, "1", x).random_at_eval is False


class Nested(nn.Module):
    """The stage two levels down, inside a list of encoders, its blocks in an nn.ModuleDict."""

    def __init__(self, L: int = 3):
        super().__init__()
        torch.manual_seed(0)
        self.stem = nn.Linear(3, 2).double()
        self.encoders = nn.ModuleList([nn.Module()])
        self.encoders[0].blocks = nn.ModuleDict({f"step{l}": Linear(1.0 / L) for l in range(L)})
        self.head = nn.Linear(2, 2).double()

    def forward(self, x):
        z = self.stem(x)
        for b in self.encoders[0].blocks.values():
            z = b(z)
        return self.head(z)


def test_stage_paths_take_bracketed_indices_and_module_dicts():
    """"encoders[0].blocks" is "encoders.0.blocks"; an nn.ModuleDict stage is its blocks in
    insertion order (v = B z, the model's logits; a slice of it too). A forward that runs the
    dict's blocks in another order than it holds them is refused (control), as are paths the
    parser cannot read."""
    net = Nested()
    x = torch.randn(5, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    z = torch.randn(4, 2, dtype=torch.float64)
    for spec in ("encoders[0].blocks", "encoders.0.blocks", "encoders[ 0 ].blocks[1:]"):
        st = read(net, spec)
        assert st.n_blocks == (2 if spec.endswith("[1:]") else 3)
        assert torch.allclose(st.velocity(0, z), z @ B.T * st.n_blocks / 3)
        assert torch.allclose(st.logits(x), net(x))
    reordered = Nested()
    reordered.forward = lambda x: reordered.head(
        reordered.encoders[0].blocks["step1"](reordered.encoders[0].blocks["step0"](
            reordered.encoders[0].blocks["step2"](reordered.stem(x)))))
    with pytest.raises(AdapterError, match=re.escape("in the order [2, 0, 1]")):
        read(reordered, "encoders[0].blocks")
    scripted = Nested()  # TorchScript blocks take no hooks: one line, not torch's error
    with warnings.catch_warnings():  # torch.jit.script is deprecated, still met in the wild
        warnings.simplefilter("ignore", DeprecationWarning)
        scripted.encoders[0].blocks["step1"] = torch.jit.script(nn.Linear(2, 2).double())
    with pytest.raises(AdapterError, match=r"TorchScript modules .* take no forward hooks"):
        ResidualStage(scripted, "encoders[0].blocks")
    for bad, said in (("encoders[x].blocks", "write attributes with dots"),
                      ("encoders..blocks", "write attributes with dots"),
                      ("encoders[1].blocks", "encoders has no '1'"),
                      ("encoders[0].blocks.step9", "has no 'step9'")):
        with pytest.raises(AdapterError, match=re.escape(said)):
            ResidualStage(net, bad)
    with pytest.raises(AdapterError, match="the model's forward does not call it"):
        read(net, "encoders[0]")  # one module, never called: no loop of it to read


class TupleBlock(nn.Module):
    """A transformer-style layer: returns (new features, attention weights); ``branch``: the
    branch f(z) = B z alone (the parent adds the skip)."""

    def __init__(self, h: float, branch: bool = False):
        super().__init__()
        self.h, self.branch = h, branch

    def forward(self, x, attention_mask=None):
        f = x @ B.T
        return (f if self.branch else x + self.h * f), torch.softmax(x, -1)


class TupleNet(Net):
    """Net with blocks that return tuples, the forward taking [0] (as Hugging Face's encoder
    layers are used), chained or with the skip in the parent (z + 0.25 f(z)[0])."""

    def __init__(self, how: str, L: int = 4):
        super().__init__(L=L)
        self.how = how
        self.stage = nn.ModuleList(TupleBlock(1.0 / L, branch=how == "parent") for _ in range(L))

    def forward(self, x):
        z = self.stem(x)
        for b in self.stage:
            out = b(z, attention_mask=None)
            z = z + 0.25 * out[0] if self.how == "parent" else out[0]
        return self.head(z)


def test_blocks_that_return_tuples_are_read_by_their_first_element():
    """A block returning (features, attention) was refused ("maps features to tuple"). Its
    first element is now the step: v = B z exactly, the logits are the model's (the head
    puts the stage's end into the tuple's first place), and the paper's noise goes into the
    steps (Cov / (2h) = sigma^2 / 2 within 8%). The mask=None the forward passes changes
    nothing and is accepted."""

    for how, reading in (("chain", "block"), ("parent", "residual")):
        torch.manual_seed(0)
        _reads_as_the_flow_with_the_papers_noise(TupleNet(how), reading)


class Timed(nn.Module):
    """z -> z + h (1 + t) B z (+ its own noise at evaluation when ``noisy``): a block whose
    extra argument t changes what it computes."""

    def __init__(self, h: float, noisy: bool = False):
        super().__init__()
        self.h, self.noisy = h, noisy

    def forward(self, x, t=0.0, flag=None, scale=None):
        if scale is not None:  # one factor per point: an argument of the batch's shape
            return x + self.h * scale[:, None] * (x @ B.T)
        out = x + self.h * (1 + t) * x @ B.T
        return out + 0.1 * torch.randn_like(out) if self.noisy else out


class TimedNet(Net):
    def __init__(self, call, noisy: bool = False, L: int = 4):
        super().__init__(L=L)
        self.call = call
        self.stage = nn.ModuleList(Timed(1.0 / L, noisy) for _ in range(L))

    def forward(self, x):
        z = self.stem(x)
        for l, b in enumerate(self.stage):
            z = self.call(b, z, l / len(self.stage))
        return self.head(z)


def test_a_block_called_with_a_time_is_read_at_that_time_and_a_batch_argument_refused():
    """A forward that calls block(z, t=l h) (a time-conditioned block, as neural-ODE-style
    code writes it) runs another function than block(z): it was read silently with the
    velocity of t = 0, then refused. Fixed numbers (a float, a one-element tensor, by keyword
    or by position) are now bound per step: step l reads v_l(z) = (1 + t_l) B z, the logits
    are the model's, the paper's noise goes in once per step, and the adapter's copy keeps
    them. An argument of the batch's shape (a mask, a second input) is still refused, naming
    it. Arguments that change nothing pass unbound: t = 0 given, flag=None, and a block
    drawing its own noise at evaluation (both calls start from one random state)."""
    from validation.nets.techniques import injected

    x = torch.randn(6, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    z = torch.randn(5, 2, dtype=torch.float64)
    for call in ((lambda b, z, t: b(z, t=t)), (lambda b, z, t: b(z, np.float64(t))),
                 # one time per point, all equal (t.expand(B), as diffusion-model code
                 # passes it): kept as one row, repeated for each call's points
                 (lambda b, z, t: b(z, t=torch.full((len(z), 1), t, dtype=z.dtype))),
                 (lambda b, z, t: b(flag=None, x=z, t=torch.tensor(t, dtype=z.dtype)))):
        torch.manual_seed(0)
        net = TimedNet(call)
        st = read(net, "stage")
        assert st.bound is not None and st.spec.reading == "block"
        for l in range(4):
            assert torch.allclose(st.velocity(l, z), (1 + l / 4) * z @ B.T)
        assert torch.allclose(st.logits(x), net(x))
        twin = st._twin()  # (not probed: its blocks' calls as measurements use them)
        assert torch.allclose(twin.call_block(3, z) - z, 0.25 * 1.75 * z @ B.T)
    from validation.studies.inspect.study import summary

    assert st.bound_text == "flag = None; t = 0, 0.25, 0.5, 0.75"  # the last call form
    timed = read(TimedNet(lambda b, z, t: b(z, t=t)), "stage")
    res = flowstats.inspect_stage(timed, x, passes=2, jacobian_points=0)
    assert ("each step with the arguments the forward gives its block there (t = 0, 0.25, "
            "0.5, 0.75)") in " ".join(summary(res | {"seconds": 0.0, "stage": "stage"},
                                              {}).split())
    # mutant: the bound arguments dropped, the flow reads t = 0 at every step
    st.bound = None
    assert not torch.allclose(st.velocity(3, z), 1.75 * z @ B.T)
    # the paper's noise once per step through the bound calls: step l's noise sigma sqrt(h)
    # xi is carried by the later steps M_k = I + h (1 + t_k) B, so Var z_L = sigma^2 h sum_l
    # P_l P_l^T with P_l = M_3 ... M_{l+1} (once per hook per call would be more)
    net = TimedNet(lambda b, z, t: b(z, t=t))
    st = read(net, "stage")
    with torch.no_grad(), injected(st, "paper", 0.3, torch.Generator().manual_seed(0)):
        out = net.stem(x[:1]).repeat(4000, 1)
        for l, b in enumerate(net.stage):
            out = b(out, t=l / 4)
    M = [torch.eye(2, dtype=torch.float64) + 0.25 * (1 + k / 4) * B for k in range(4)]
    cov = torch.zeros(2, 2, dtype=torch.float64)
    for l in range(4):
        P = torch.eye(2, dtype=torch.float64)
        for k in range(l + 1, 4):
            P = M[k] @ P
        cov += P @ P.T
    assert torch.allclose(out.var(0), 0.3**2 * 0.25 * torch.diagonal(cov), rtol=0.08)
    # an argument of the batch's shape: refused, naming it
    with pytest.raises(AdapterError, match=re.escape("block 0 with scale besides")):
        read(TimedNet(lambda b, z, t: b(z, scale=2.0 + torch.arange(len(z), dtype=z.dtype))),
             "stage")
    for call, noisy in ((lambda b, z, t: b(z, t=0.0), False),
                        (lambda b, z, t: b(z, flag=None), False),
                        (lambda b, z, t: b(z, 0.0, None), True)):
        torch.manual_seed(0)
        net = TimedNet(call, noisy)
        st = read(net, "stage")
        assert st.bound is None
        if not noisy:
            assert torch.allclose(st.logits(x), net(x))


class MaskedAttention(nn.Module):
    """A decoder layer on (B, N, d) tokens, z + attn(z, mask), the mask added to the scores
    (as Hugging Face's layers take attention_mask), returning a tuple."""

    def __init__(self, d: int = 4):
        super().__init__()
        self.q, self.k, self.v = (nn.Linear(d, d).double() for _ in range(3))

    def forward(self, z, attention_mask=None):
        s = self.q(z) @ self.k(z).transpose(-1, -2) / 2
        if attention_mask is not None:
            s = s + attention_mask
        return (z + 0.25 * torch.softmax(s, -1) @ self.v(z),)


class Decoder(nn.Module):
    """Tokens from 12 inputs (3 tokens of 4), L masked layers, the last token's logits;
    ``mask(h)`` builds the mask the forward gives every layer."""

    def __init__(self, mask, L: int = 4):
        super().__init__()
        self.mask = mask
        self.stem = nn.Linear(4, 4).double()
        self.layers = nn.ModuleList(MaskedAttention() for _ in range(L))
        self.head = nn.Linear(4, 2).double()

    def forward(self, x):
        h = self.stem(x.reshape(len(x), 3, 4))
        m = self.mask(h)
        for layer in self.layers:
            h = layer(h, attention_mask=m)[0]
        return self.head(h[:, -1])


def test_a_fixed_attention_mask_is_bound_and_a_mask_that_changes_with_the_batch_refused():
    """A causal decoder (GPT-style: every layer given one (N, N) mask built from the sequence
    length) was refused ("computes otherwise on the features alone"). A tensor without the
    batch's leading dimension is now bound like a time t_l: step l reads layer(z, mask), the
    logits are the model's on a batch of another size, and the summary names it. Masks that
    change with the batch are refused, naming the argument: one computed from the batch's
    statistics, and a mask per point built from its tokens. Mutant: the bound mask dropped,
    the flow reads unmasked attention."""
    causal = torch.triu(torch.full((3, 3), float("-inf"), dtype=torch.float64), diagonal=1)
    x = torch.randn(7, 12, dtype=torch.float64, generator=torch.Generator().manual_seed(5))
    torch.manual_seed(0)
    net = Decoder(lambda h: causal)
    st = read(net, "layers", x[:2])
    assert st.spec.reading == "block" and st.bound is not None
    assert st.bound_text == "attention_mask = a 3 x 3 tensor"
    assert torch.allclose(st.logits(x), net(x))
    z = torch.randn(5, 3, 4, dtype=torch.float64)
    assert torch.allclose(st.velocity(2, z), (net.layers[2](z, causal)[0] - z) / st.step)
    # the first token sees itself alone: its velocity is 0.25 v(z_0) / h whatever follows
    later = z.clone()
    later[:, 1:] += 1.0
    assert torch.allclose(st.velocity(1, z)[:, 0], st.velocity(1, later)[:, 0])
    st.bound = None  # mutant: unmasked attention, the first token reads the later ones
    assert not torch.allclose(st.velocity(1, z)[:, 0], st.velocity(1, later)[:, 0])
    # (a constant added to every score changes no softmax: such a mask passes unbound)
    for mask in (lambda h: h.mean() * torch.arange(9.0, dtype=h.dtype).reshape(3, 3),
                 # one (N, N) mask per point: the keys whose first feature is positive
                 lambda h: torch.where(h[:, None, :, 0] > 0, 0.0, -1e4).expand(-1, 3, 3)):
        torch.manual_seed(0)
        with pytest.raises(AdapterError, match=r"calls block 0 with attention_mask besides "
                           r"the features.* these are not fixed: the forward gives other values"):
            read(Decoder(mask), "layers", x[:2])


def test_block_arguments_from_trained_parameters_are_read_again_after_training():
    """z = b(z, t=tau * l) with tau a trainable parameter: the bound times are read on the
    forward's first call, so after training they would be the initial tau's; fit reads the
    stage again on the trained weights (the logits then equal the model's). Mutant: without
    the re-read the stage's logits differ from the model's."""
    from validation.nets.fit import FitConfig, fit

    class Tau(TimedNet):
        def __init__(self):
            super().__init__(lambda b, z, t: b(z, t=self.tau * t * 4))
            self.tau = nn.Parameter(torch.tensor(0.5, dtype=torch.float64))

    x = torch.randn(64, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(4))
    y = (x[:, 0] > 0).long()
    for reread in (True, False):
        torch.manual_seed(0)
        net = Tau()
        st = read(net, "stage", x[:2])
        before = float(st.bound[2][1]["t"])
        if not reread:  # the mutant: fit's re-read switched off
            st.bound, bound = None, st.bound
        fit(st, x, y, FitConfig(epochs=3, lr=0.05, seed=0), progress=False)
        if not reread:
            st.bound = bound
        moved = abs(float(net.tau.detach()) - 0.5) > 1e-3
        assert moved
        same = torch.allclose(st.logits(x), net(x))
        if reread:
            assert float(st.bound[2][1]["t"]) == pytest.approx(float(net.tau.detach()) * 2)
            assert before == pytest.approx(1.0) and same
        else:
            assert not same


def test_a_stage_the_forward_runs_twice_is_refused():
    """A forward that runs the stage's blocks twice (z = stage(stage(z)), or a siamese model
    on two inputs) was read as one pass of L steps: its logits then differed from the
    model's, silently. Refused now; control: the stage run once is read (a block tied across
    steps, called L times, is one pass too: test above)."""

    class Twice(Net):
        def forward(self, x):
            z = self.stem(x)
            for _ in range(2):
                for b in self.stage:
                    z = b(z)
            return self.head(z)

    x = torch.randn(6, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    with pytest.raises(AdapterError, match=re.escape("calls the blocks of stage 'stage' 8 "
                                                     "times in one pass")):
        read(Twice(), "stage", x)
    once = Net()
    assert torch.allclose(read(once, "stage", x).logits(x), once(x))


def test_skip_weights_that_training_moves_are_read_after_training_and_refused_for_noise():
    """A parent loop z + alpha_l f_l(z) with alpha a trainable parameter (ReZero): the stage
    was read once, before training, so after training its velocity (c_l f_l / h), its head
    and its agreement used the initial alpha; and the techniques inject through c_l
    ((step + noise - z) / c_l), so in training the noise was scaled by alpha_now / alpha_0.
    Now fit reads the stage again on the trained weights (the c_l are the trained alphas,
    the logits the model's), and a technique with strength > 0 is refused before training.
    Controls: a fixed c (z + 0.25 f(z); also in float32 with large features, where c is
    read to 1e-5 only: compared on a float64 copy) is not trainable and trains with noise;
    plain training of the ReZero stage is allowed."""
    from validation.nets.fit import FitConfig, fit
    from validation.nets.techniques import refuse_trainable_weights

    x = torch.randn(64, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(4))
    y = (x[:, 0] > 0).long()
    net = ReZero([0.2, 0.3, 0.25, 0.1])
    st = read(net, "fs", x)
    assert st.weights_trainable(x[:2])
    with pytest.raises(AdapterError, match="weights c_l that training changes"):
        refuse_trainable_weights(st, ["paper"], x[:2])
    with pytest.raises(AdapterError, match="weights c_l that training changes"):
        fit(st, x, y, FitConfig(technique="paper", strength=0.1, epochs=1, seed=0),
            progress=False)
    refuse_trainable_weights(st, ["plain"], x[:2])  # plain training: no injection
    fit(st, x, y, FitConfig(technique="plain", strength=0.0, epochs=3, lr=0.05,
                            batch_size=16, seed=0), progress=False)
    trained = net.alpha.detach().tolist()
    assert max(abs(a - b) for a, b in zip(trained, [0.2, 0.3, 0.25, 0.1], strict=True)) > 0.05
    assert [st.c(l) for l in range(4)] == pytest.approx(trained, rel=1e-6)
    assert torch.allclose(st.logits(x), net(x))
    fixed = Unchained("parent")
    fst = read(fixed, "fs", x)
    assert fst.spec.reading == "residual" and not fst.weights_trainable(x[:2])

    torch.manual_seed(0)
    # float32, |z| ~ 50 beside steps ~ 0.1: c read to 1e-5 only, not taken for a trained c
    big = read(Big(), "fs", torch.randn(8, 4))
    assert big.spec.reading == "residual" and not big.weights_trainable(torch.randn(2, 4))
    fit(fst, x, y, FitConfig(technique="paper", strength=0.1, epochs=1, seed=0),
        progress=False)


class _ReluInput(nn.Module):
    """f(z) = B relu(z), computed by changing its input in place first."""

    def forward(self, z):
        z.relu_()
        return z @ B.T


def test_a_forward_that_changes_features_in_place_between_blocks_is_refused():
    """z = b(z); z.relu_() in the parent: the chain check compared block l's output with
    block l+1's input by reference, after the parent's relu_ had changed both, so the stage
    was read as chained and its flow skipped the relu (logits unlike the model's), silently.
    A parent skip z + c f(z) whose f changes z in place first computes relu(z) + c f(z), which
    the check, reading z after the call, took for z + c f(z). Both are refused now (the check
    copies each block's input on entry and its output on return). Control: the forward
    without the parent's relu_ is read, and a chained block that changes its own input in
    place is read as before (test above)."""

    class ParentRelu(Net):
        def __init__(self, inplace: bool):
            super().__init__()
            self.inplace = inplace

        def forward(self, x):
            z = self.stem(x)
            for b in self.stage:
                z = b(z)
                if self.inplace:
                    z.relu_()
            return self.head(z)


    x = torch.randn(6, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    # seeded weights: the relu must change some features for the check to see it (with the
    # global generator's state left by the tests before, it once changed none)
    torch.manual_seed(0)
    for net in (ParentRelu(True), LoopNet(_ReluInput, lambda f, z: z + 0.25 * f(z))):
        with pytest.raises(AdapterError, match="the output of block 0 is not the input of "
                                               "block 1"):
            read(net, "stage", x)
    plain = ParentRelu(False)
    assert torch.allclose(read(plain, "stage", x).logits(x), plain(x))


def test_a_compiled_model_is_read_through_its_eager_module(tmp_path):
    """A factory returning torch.compile(model): the wrapper's forward is not the class's,
    and the run failed ("Module [OptimizedModule] is missing the required forward"). The
    flow is read through the eager module it holds (same weights, takes hooks), and weights
    saved from the compiled model (keys '_orig_mod.*') load into it."""
    from validation.nets.user import load_factory, load_weights

    factory = tmp_path / "compiled.py"
    factory.write_text(
        "import torch\nfrom torch import nn\n\n"
        "def make():\n"
        "    torch.manual_seed(0)\n"
        "    net = nn.Sequential(nn.Linear(3, 2), nn.Sequential(*[nn.Linear(2, 2)\n"
        "                                                         for _ in range(3)]),\n"
        "                        nn.Linear(2, 2))\n"
        "    return torch.compile(net, backend='eager')\n")
    compiled = load_factory(f"{factory}:make")
    assert type(compiled).__name__ == "Sequential"
    x = torch.randn(5, 3)
    st = read(compiled, "1", x)
    assert st.n_blocks == 3 and torch.allclose(st.logits(x), compiled(x))
    import importlib.util

    spec = importlib.util.spec_from_file_location("compiled_factory", factory)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    wrapped = mod.make()
    with torch.no_grad():
        wrapped._orig_mod[2].bias.add_(1.0)
    torch.save(wrapped.state_dict(), tmp_path / "w.pt")  # keys '_orig_mod.0.weight', ...
    assert all(k.startswith("_orig_mod.") for k in torch.load(tmp_path / "w.pt"))
    load_weights(compiled, str(tmp_path / "w.pt"))
    assert torch.equal(compiled[2].bias, wrapped._orig_mod[2].bias)
    # DataParallel (keys 'module.*'), around the compiled model too ('module._orig_mod.*'),
    # as a checkpoint from multi-GPU training holds them: each prefix is taken off in turn;
    # and a factory returning the DataParallel wrapper is read through its module
    with torch.no_grad():
        wrapped._orig_mod[2].bias.add_(1.0)
    torch.save(nn.DataParallel(wrapped).state_dict(), tmp_path / "dp.pt")
    assert all(k.startswith("module._orig_mod.") for k in torch.load(tmp_path / "dp.pt"))
    load_weights(compiled, str(tmp_path / "dp.pt"))
    assert torch.equal(compiled[2].bias, wrapped._orig_mod[2].bias)
    (tmp_path / "dp.py").write_text(
        "from torch import nn\n\n"
        "def make():\n"
        "    return nn.DataParallel(nn.Sequential(nn.Linear(3, 2), nn.Sequential(\n"
        "        *[nn.Linear(2, 2) for _ in range(3)]), nn.Linear(2, 2)))\n")
    dp = load_factory(f"{tmp_path / 'dp.py'}:make")
    assert type(dp).__name__ == "Sequential" and read(dp, "1", x).n_blocks == 3
    # control: a state dict whose keys are the model's own loads as it is, and one of
    # another architecture under the prefix is still refused
    torch.save(compiled.state_dict(), tmp_path / "own.pt")
    load_weights(compiled, str(tmp_path / "own.pt"))
    torch.save({"module.other.weight": torch.zeros(2, 2)}, tmp_path / "bad.pt")
    with pytest.raises(AdapterError, match="do not fit the model"):
        load_weights(compiled, str(tmp_path / "bad.pt"))


class _Branch(nn.Module):
    """f(z) = s B z: a sub-block that returns its branch (the parent adds the skip)."""

    def __init__(self, s: float):
        super().__init__()
        self.s = s

    def forward(self, z):
        return self.s * z @ B.T


class PairLayers(Net):
    """ViT code's layers: a ModuleList of [attention, MLP] pairs the forward unpacks, each
    sub-block with its own skip (x = attn(x) + x; x = ff(x) + x), here f = B z / 4 and
    B z / 8; ``swapped``: the forward calls each pair's MLP first."""

    def __init__(self, depth: int = 2, swapped: bool = False):
        super().__init__()
        self.swapped = swapped
        self.layers = nn.ModuleList(nn.ModuleList([_Branch(0.25), _Branch(0.125)])
                                    for _ in range(depth))

    def forward(self, x):
        z = self.stem(x)
        for attn, ff in self.layers:
            first, second = (ff, attn) if self.swapped else (attn, ff)
            z = first(z) + z
            z = second(z) + z
        return self.head(z)


def test_layers_of_sub_block_pairs_are_read_as_their_sub_blocks_in_turn():
    """A stage written as ViT code writes it, a ModuleList of [attention, MLP] ModuleLists
    that the forward unpacks, was refused ("never reached the stage": the pairs are never
    called). It is read as the 2 x depth sub-blocks in order, each a step z + f(z) (c = 1,
    h = T / (2 depth)): v = f / h exactly, the model's logits; a slice takes whole layers.
    A forward that calls each pair in the other order is refused (control)."""
    x = torch.randn(6, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    z = torch.randn(5, 2, dtype=torch.float64)
    net = PairLayers()
    st = read(net, "layers", x)
    assert st.n_blocks == 4 and st.spec.reading == "residual"
    assert st.spec.scale == pytest.approx(1.0, rel=1e-12)
    for l, s in enumerate((0.25, 0.125, 0.25, 0.125)):
        assert torch.allclose(st.velocity(l, z), s * z @ B.T / 0.25)
    assert torch.allclose(st.logits(x), net(x))
    assert read(PairLayers(depth=3), "layers[1:]", x).n_blocks == 4
    with pytest.raises(AdapterError, match=re.escape("in the order [1, 0, 3, 2]")):
        read(PairLayers(swapped=True), "layers", x)
