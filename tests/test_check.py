"""cdverify check (issue 26): benchmark data, conv ResNets, techniques, the training loop, the
anchors and the paired verdicts; each check with a control that makes it fail."""

from __future__ import annotations

import json
import pickle
import re

import numpy as np
import pytest
import torch
from scipy import stats
from torch import nn

from validation.cli import main
from validation.nets.adapter import AdapterError, ResidualStage, StageSpec
from validation.nets.benchmark_data import cifar10, digits_images, image_folder, load_benchmark
from validation.nets.convnets import build_network, conv_stage
from validation.nets.data import DataError
from validation.nets.fit import FitConfig, fit
from validation.nets.techniques import TECHNIQUES, ExpectedPredictor, injected
from validation.stats.paired import compare_to_baseline
from validation.studies.check import (
    CheckConfig,
    Setting,
    anchors,
    measure,
    parse_techniques,
    verdicts,
)


@pytest.fixture(scope="module")
def digits():
    return digits_images()


def _block_noise(name: str, strength: float, blocks: int, digits, n: int = 64):
    """The perturbation technique ``name`` adds to block 0's output, and that output."""
    model = build_network("resnet2d", digits, blocks=blocks, width=4, seed=0).eval()
    stage = conv_stage(model)
    z = stage.features(torch.as_tensor(digits.x_test[:n]))
    with torch.no_grad():
        clean = stage.blocks[0](z)
        with injected(stage, name, strength, torch.Generator().manual_seed(1)):
            noisy = stage.blocks[0](z)
    return (noisy - clean).flatten(), clean, stage.step


def _variance_consistent(x: torch.Tensor, var: float) -> bool:
    """Two-sided chi-square test at 1e-4 of Var(x) = var (mean-zero normal draws)."""
    n = x.numel()
    q = float((x.double() ** 2).sum()) / var
    return stats.chi2.ppf(1e-4 / 2, n) < q < stats.chi2.ppf(1 - 1e-4 / 2, n)


#: the opening of the users' factories written by the tests below: a Net(kind) with a stem of
#: 64 -> 8 (the digits), the rest of its layers and its forward given by each test
_KIND_NET_HEAD = ("import torch\nfrom torch import nn\n\n"
                  "class Net(nn.Module):\n"
                  "    def __init__(self, kind):\n"
                  "        super().__init__()\n"
                  "        self.kind = kind\n"
                  "        self.stem = nn.Linear(64, 8)\n")


@pytest.mark.parametrize("blocks", [2, 8])
def test_paper_noise_has_variance_sigma2_h(digits, blocks):
    sigma = 0.3
    d, _, h = _block_noise("paper", sigma, blocks, digits)
    assert h == pytest.approx(1 / blocks)
    assert _variance_consistent(d, sigma**2 * h)
    # control: the same draws read without the sqrt(h) (a wrong scaling) are refused
    assert not _variance_consistent(d, sigma**2)
    assert not _variance_consistent(d, sigma**2 * h * 1.1)


def test_enresnet_noise_is_not_sqrt_h_scaled(digits):
    c = 0.2
    ratios = []
    for blocks in (2, 16):
        d, clean, _ = _block_noise("enresnet", c, blocks, digits)
        spread = clean.flatten(1).std(1)
        per = d.reshape(len(spread), -1) / spread[:, None]
        assert _variance_consistent(per.flatten(), c**2)
        ratios.append(float(per.var()))
    # variance per block independent of h (the paper's would fall 8-fold from L = 2 to 16)
    assert ratios[1] / ratios[0] == pytest.approx(1.0, rel=0.1)
    assert TECHNIQUES["enresnet"].catalogue == "unscaled-noise"
    assert TECHNIQUES["paper"].catalogue == "gaussian"


def test_dropout_keeps_the_mean_and_drops_at_rate_p(digits):
    model = build_network("resnet2d", digits, blocks=4, width=4, seed=0).eval()
    stage = conv_stage(model)
    z = stage.features(torch.as_tensor(digits.x_test[:128]))
    with torch.no_grad():
        delta = stage.blocks[0](z) - z
        with injected(stage, "dropout", 0.25, torch.Generator().manual_seed(3)):
            out = stage.blocks[0](z) - z
    kept = (out.abs() > 0) & (delta.abs() > 0)
    share = float(kept.sum() / (delta.abs() > 0).sum())
    assert share == pytest.approx(0.75, abs=0.01)
    assert torch.allclose(out[kept], delta[kept] / 0.75, rtol=1e-5, atol=1e-7)


def test_hook_injection_equals_the_adapter_flow(digits):
    """The hook route (training, deployment) and the adapter's Euler-Maruyama flow (Feynman-Kac)
    compute the same network for the same draws."""
    model = build_network("resnet2d", digits, blocks=3, width=4, seed=0).eval()
    stage = conv_stage(model)
    x = torch.as_tensor(digits.x_test[:5])
    with torch.no_grad():
        with injected(stage, "paper", 0.2, torch.Generator().manual_seed(7)):
            a = model(x)
        b = stage.logits(x, sigma=0.2, generator=torch.Generator().manual_seed(7))
        c = stage.logits(x, sigma=0.2, generator=torch.Generator().manual_seed(8))
    assert torch.allclose(a, b, atol=1e-6)
    assert not torch.allclose(a, c, atol=1e-3)


def test_expected_predictor_is_deterministic_and_averages(digits):
    model = build_network("resnet2d", digits, blocks=2, width=4, seed=0).eval()
    stage = conv_stage(model)
    x = torch.as_tensor(digits.x_test[:6])
    f = ExpectedPredictor(stage, "paper", 1.0, passes=4, seed=0)
    with torch.no_grad():
        assert torch.equal(f(x), f(x))
        assert not torch.equal(f(x), ExpectedPredictor(stage, "paper", 1.0, passes=4,
                                                       seed=1)(x))
    assert ExpectedPredictor(stage, "dropout", 0.3, passes=4).passes == 1  # off at test time


def test_fit_is_deterministic_and_resumes_bit_identical(digits, tmp_path, monkeypatch):
    cfg = FitConfig(technique="paper", strength=0.3, epochs=2, seed=4)
    x, y = digits.x_train[:256], digits.y_train[:256]

    def trained(**kw):
        stage = conv_stage(build_network("resnet2d", digits, blocks=2, width=4, seed=4))
        fit(stage, x, y, cfg, progress=False, **kw)
        return stage.model.state_dict()

    a, b = trained(), trained()
    assert all(torch.equal(a[k], b[k]) for k in a)
    other = conv_stage(build_network("resnet2d", digits, blocks=2, width=4, seed=4))
    fit(other, x, y, FitConfig(technique="paper", strength=0.3, epochs=2, seed=5),
        progress=False)
    assert not all(torch.equal(a[k], other.model.state_dict()[k]) for k in a)

    # interrupted after the first epoch's checkpoint, then resumed
    import importlib

    # the module, not the function validation.nets re-exports under the same name
    fit_module = importlib.import_module("validation.nets.fit")

    real = fit_module.atomic_write_bytes

    def write_then_stop(path, data):
        real(path, data)
        raise KeyboardInterrupt

    monkeypatch.setattr(fit_module, "atomic_write_bytes", write_then_stop)
    with pytest.raises(KeyboardInterrupt):
        trained(checkpoint=tmp_path / "ck.pt")
    monkeypatch.setattr(fit_module, "atomic_write_bytes", real)
    assert torch.load(tmp_path / "ck.pt", weights_only=False)["epoch"] == 1
    c = trained(checkpoint=tmp_path / "ck.pt")
    assert all(torch.equal(a[k], c[k]) for k in a)


def test_fit_refuses_bad_configs():
    with pytest.raises(AdapterError, match=r"p = 1\.0"):
        FitConfig(technique="dropout", strength=1.0)
    with pytest.raises(AdapterError, match="augment"):
        FitConfig(augment="mixup")
    with pytest.raises(AdapterError, match="unknown technique 'noise'"):
        FitConfig(technique="noise")


def test_fit_takes_a_training_set_one_point_past_a_whole_batch(digits):
    """129 points in batches of 64: the last batch held one point, on which a BatchNorm1d in
    training raised "Expected more than 1 value per channel" at the end of the first epoch.
    The point joins the batch before; every point is still seen once an epoch."""
    from validation.nets.fit import batches

    parts = batches(torch.randperm(129, generator=torch.Generator().manual_seed(0)), 64)
    assert [len(p) for p in parts] == [64, 65]
    assert sorted(torch.cat(parts).tolist()) == list(range(129))
    assert [len(p) for p in batches(torch.arange(130), 64)] == [64, 64, 2]  # control
    assert [len(p) for p in batches(torch.arange(1), 64)] == [1]

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = nn.Conv2d(1, 4, 3, padding=1)
            self.stage = nn.Sequential(nn.Conv2d(4, 4, 3, padding=1))
            self.head = nn.Sequential(nn.Flatten(), nn.Linear(256, 16), nn.BatchNorm1d(16),
                                      nn.Linear(16, 10))

        def forward(self, x):
            z = self.stem(x)
            return self.head(z + self.stage(z))

    torch.manual_seed(0)
    stage = ResidualStage(Net(), StageSpec("stage"))
    hist = fit(stage, digits.x_train[:129], digits.y_train[:129],
               FitConfig(epochs=2, seed=0), progress=False)
    assert len(hist["train_loss"]) == 2 and all(np.isfinite(hist["train_loss"]))


def test_mnist1d_restores_the_global_rng_and_caches(tmp_path, monkeypatch):
    pytest.importorskip("mnist1d")
    import mnist1d.data

    monkeypatch.setenv("CDVERIFY_DATA", str(tmp_path))
    np.random.seed(123)  # noqa: NPY002 (the global RNG is what is tested)
    before = np.random.get_state()[1].copy()  # noqa: NPY002
    d = load_benchmark("mnist1d")
    assert np.array_equal(np.random.get_state()[1], before)  # noqa: NPY002
    assert d.x_train.shape == (4000, 1, 40) and d.x_test.shape == (1000, 1, 40)
    assert d.n_classes == 10 and d.bounds is None
    # the second call reads the cache: the generator is not called again
    monkeypatch.setattr(mnist1d.data, "make_dataset", lambda *a: pytest.fail("regenerated"))
    again = load_benchmark("mnist1d")
    assert np.array_equal(again.x_test, d.x_test)


def _write_cifar(root, n=4, test_n=3, *, bad=None, raw_keys=False):
    """The archive's layout; keys as str (what the archive's Python 2 pickles give under
    encoding='latin1', as torchvision reads them) or, ``raw_keys``, as bytes."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    key = (lambda k: k.encode()) if raw_keys else (lambda k: k)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        m = test_n if name == "test_batch" else n
        blob = {key("data"): rng.integers(0, 256, (m, 3072), dtype=np.uint8),
                key("labels"): [int(v) for v in rng.integers(0, 10, m)]}
        if bad == name:
            blob[key("data")] = blob[key("data")][:, :100]
        with (folder / name).open("wb") as f:
            pickle.dump(blob, f, protocol=2)
    return folder


@pytest.mark.parametrize("raw_keys", [False, True])
def test_cifar10_reader_on_a_folder_in_the_real_format(tmp_path, raw_keys):
    folder = _write_cifar(tmp_path, raw_keys=raw_keys)
    d = cifar10(str(tmp_path))
    assert d.x_train.shape == (20, 3, 32, 32) and d.x_test.shape == (3, 3, 32, 32)
    with (folder / "data_batch_1").open("rb") as f:
        raw = pickle.load(f)
    key = (lambda k: k.encode()) if raw_keys else (lambda k: k)
    # channel-major rows, as the archive stores them
    assert np.allclose(d.x_train[0, 1, 0, :4], raw[key("data")][0, 1024:1028] / 255.0)
    assert d.y_train[:4].tolist() == raw[key("labels")]


def test_cifar10_reader_refuses_missing_and_malformed(tmp_path):
    with pytest.raises(DataError, match="lacks data_batch_1"):
        cifar10(str(tmp_path))
    _write_cifar(tmp_path / "a", bad="data_batch_3")
    with pytest.raises(DataError, match="data_batch_3: data of shape"):
        cifar10(str(tmp_path / "a"))

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    folder = _write_cifar(tmp_path / "b")
    with (folder / "test_batch").open("wb") as f:
        pickle.dump({b"data": Evil()}, f)
    with pytest.raises(DataError, match="not allowed"):
        cifar10(str(tmp_path / "b"))


def test_cifar10_reader_takes_the_downloaded_archive_itself(tmp_path):
    """cifar-10-python.tar.gz as downloaded (the file, or a folder holding it and nothing
    unpacked): the same arrays as its unpacked folder, read through the same restricted
    unpickler without extracting; an archive missing a batch, a file that is not a tar, and
    a batch that would run code are refused in one line."""
    import tarfile

    folder = _write_cifar(tmp_path / "unpacked")
    archive = tmp_path / "dl" / "cifar-10-python.tar.gz"
    archive.parent.mkdir()
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(folder, arcname="cifar-10-batches-py")
    ref = cifar10(str(tmp_path / "unpacked"))
    for root in (archive, archive.parent):
        d = cifar10(str(root))
        assert np.array_equal(d.x_train, ref.x_train) and np.array_equal(d.y_test, ref.y_test)
    short = tmp_path / "short.tar.gz"
    with tarfile.open(short, "w:gz") as tar:
        for name in [f"data_batch_{i}" for i in range(1, 6)]:
            tar.add(folder / name, arcname=f"cifar-10-batches-py/{name}")
    with pytest.raises(DataError, match="lacks test_batch"):
        cifar10(str(short))
    (tmp_path / "junk.tar.gz").write_bytes(b"not a tar at all")
    with pytest.raises(DataError, match="not a readable tar archive"):
        cifar10(str(tmp_path / "junk.tar.gz"))

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    with (folder / "test_batch").open("wb") as f:
        pickle.dump({b"data": Evil()}, f)
    evil = tmp_path / "evil.tar.gz"
    with tarfile.open(evil, "w:gz") as tar:
        tar.add(folder, arcname="cifar-10-batches-py")
    with pytest.raises(DataError, match="not allowed"):
        cifar10(str(evil))


def test_image_folder_reader(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(0)
    for split, n in (("train", 3), ("test", 2)):
        for c in ("cat", "dog"):
            (tmp_path / split / c).mkdir(parents=True)
            for i in range(n):
                Image.fromarray(rng.integers(0, 256, (6, 5, 3), dtype=np.uint8)).save(
                    tmp_path / split / c / f"{i}.png")
    d = image_folder(str(tmp_path))
    assert d.x_train.shape == (6, 3, 6, 5) and d.y_train.tolist() == [0, 0, 0, 1, 1, 1]
    Image.fromarray(np.zeros((7, 5, 3), np.uint8)).save(tmp_path / "test" / "dog" / "9.png")
    with pytest.raises(DataError, match=r"9\.png is 7 x 5"):
        image_folder(str(tmp_path))
    with pytest.raises(DataError, match=r"no .*train"):
        image_folder(str(tmp_path / "test"))
    # ImageNet's layout, train/ and val/: val is the held-out split where no test/ exists;
    # with both, test/ is (control)
    import shutil

    (tmp_path / "test" / "dog" / "9.png").unlink()
    held = image_folder(str(tmp_path))
    shutil.copytree(tmp_path / "test", tmp_path / "val")
    (tmp_path / "val" / "cat" / "0.png").unlink()
    assert len(image_folder(str(tmp_path)).x_test) == len(held.x_test) == 4
    shutil.rmtree(tmp_path / "test")
    d = image_folder(str(tmp_path))
    assert len(d.x_test) == 3 and d.y_test.tolist() == [0, 1, 1]


def test_image_folder_reader_takes_mixed_modes_and_16_bit_grey(tmp_path):
    """A colour data set with some grey images (common in photo collections) was refused
    ("resize the folder to one size and mode"): now every image is read as RGB, a grey one
    with three equal channels, as ImageFolder's loader reads it. 16-bit grey images were
    clipped at 255 by Pillow's convert('L') (every pixel above 255/65535 read as 1.0): now
    their values / 65535. Grey with alpha is grey. 32-bit integer or float pixels (range
    unknown) are refused naming the file. Control: a grey-only folder keeps one channel."""
    from PIL import Image

    rng = np.random.default_rng(3)
    rgb = rng.integers(0, 256, (4, 5, 3), dtype=np.uint8)
    grey = rng.integers(0, 256, (4, 5), dtype=np.uint8)
    wide = rng.integers(0, 65536, (4, 5), dtype=np.uint16)

    def folder(name, images):
        root = tmp_path / name
        for split in ("train", "test"):
            (root / split / "k").mkdir(parents=True)
            for i, img in enumerate(images):
                img.save(root / split / "k" / f"{i}.png")
        return str(root)

    d = image_folder(folder("mixed", [Image.fromarray(rgb), Image.fromarray(grey)]))
    assert d.x_train.shape == (2, 3, 4, 5)
    assert np.array_equal(d.x_train[0], rgb.transpose(2, 0, 1) / np.float32(255))
    assert all(np.array_equal(d.x_train[1, c], grey / np.float32(255)) for c in range(3))
    g = image_folder(folder("grey", [Image.fromarray(grey), Image.fromarray(wide),
                                     Image.fromarray(grey).convert("LA")]))
    assert g.x_train.shape == (3, 1, 4, 5)
    assert Image.open(tmp_path / "grey" / "train" / "k" / "1.png").mode == "I;16"
    assert np.allclose(g.x_train[1, 0], wide / 65535.0, atol=1e-7)
    assert np.array_equal(g.x_train[2, 0], g.x_train[0, 0])
    for mode, what in (("I", "32-bit integer"), ("F", "32-bit float")):
        root = tmp_path / mode
        for split in ("train", "test"):
            (root / split / "k").mkdir(parents=True)
            Image.fromarray(grey).convert(mode).save(root / split / "k" / "0.tif")
        with pytest.raises(DataError, match=re.escape(what) + ".*save it as an 8- or 16-bit"):
            image_folder(str(root))


def _torchvision():
    """torchvision's datasets, or a skip that says why (the optional extra: `make vision`)."""
    return pytest.importorskip("torchvision.datasets", reason="torchvision is not installed "
                               "(the optional extra, `make vision`): the reader's oracle test "
                               "needs it")


def test_cifar10_reader_returns_what_torchvisions_cifar10_returns(tmp_path):
    """The oracle: torchvision's own CIFAR10 on the same generated folder (its md5 checks are
    for the official files, so they are switched off for this generated copy: the pixels and
    labels are what is compared)."""
    tv = _torchvision()
    _write_cifar(tmp_path)
    unchecked = type("Unchecked", (tv.CIFAR10,), {"_check_integrity": lambda self: True,
                                                 "_load_meta": lambda self: None})
    d = cifar10(str(tmp_path))
    for x, y, train in ((d.x_train, d.y_train, True), (d.x_test, d.y_test, False)):
        ref = unchecked(str(tmp_path), train=train, download=False)
        assert np.array_equal(x, ref.data.transpose(0, 3, 1, 2).astype(np.float32) / 255.0)
        assert y.tolist() == list(ref.targets)


def test_image_folder_reader_returns_what_torchvisions_image_folder_returns(tmp_path):
    """Same classes, order (nested folders, mixed-case extensions, a file ImageFolder skips)
    and pixels as torchvision's ImageFolder; grey images keep one of its three channels."""
    tv = _torchvision()
    from PIL import Image

    rng = np.random.default_rng(1)
    for split in ("train", "test"):
        for c, mode in (("b", "RGB"), ("a", "RGB")):
            (tmp_path / split / c / "sub").mkdir(parents=True)
            for name in ("2.png", "10.PNG", "sub/0.jpg", "1.bmp"):
                img = Image.fromarray(rng.integers(0, 256, (6, 5, 3), dtype=np.uint8), mode)
                img.save(tmp_path / split / c / name, **({"quality": 95}
                                                         if name.endswith("jpg") else {}))
            (tmp_path / split / c / "notes.txt").write_text("not an image")
    d = image_folder(str(tmp_path))
    ref = tv.ImageFolder(str(tmp_path / "train"))
    assert d.y_train.tolist() == list(ref.targets) == [0] * 4 + [1] * 4
    theirs = np.stack([np.asarray(ref.loader(p), np.float32).transpose(2, 0, 1) / 255.0
                       for p, _ in ref.samples])
    assert np.array_equal(d.x_train, theirs)
    grey = tmp_path / "grey"
    for split in ("train", "test"):
        (grey / split / "k").mkdir(parents=True)
        Image.fromarray(rng.integers(0, 256, (4, 4), dtype=np.uint8), "L").save(
            grey / split / "k" / "0.png")
    g = image_folder(str(grey))
    rgb = np.asarray(tv.ImageFolder(str(grey / "train"))[0][0], np.float32) / 255.0
    assert g.x_train.shape == (1, 1, 4, 4) and np.array_equal(g.x_train[0, 0], rgb[..., 0])
    # a colour folder with a grey image: every image as ImageFolder's loader reads it (RGB)
    Image.fromarray(rng.integers(0, 256, (6, 5), dtype=np.uint8), "L").save(
        tmp_path / "train" / "a" / "3.png")
    mixed = image_folder(str(tmp_path))
    ref = tv.ImageFolder(str(tmp_path / "train"))
    assert np.array_equal(mixed.x_train, np.stack([
        np.asarray(ref.loader(p), np.float32).transpose(2, 0, 1) / 255.0
        for p, _ in ref.samples]))


def test_compare_to_baseline_with_named_settings_matches_numeric_keys():
    rng = np.random.default_rng(0)
    base = rng.normal(0.9, 0.01, 8)
    a, b = base + rng.normal(0.02, 0.005, 8), base + rng.normal(0.0, 0.005, 8)
    num = compare_to_baseline({0.0: base, 0.1: a, 0.3: b}, lower_is_better=False, delta=0.01)
    named = compare_to_baseline({"plain": base, "x": a, "y": b}, lower_is_better=False,
                                delta=0.01, baseline="plain", label="setting")
    for r, s in zip(num["rows"], named["rows"], strict=True):
        assert r["p_holm"] == s["p_holm"] and r["ci95"] == s["ci95"]
    assert named["verdict"] == num["verdict"] == "holds"


def _runs(plain_acc: float, other_acc: float, seeds: int = 4):
    rng = np.random.default_rng(1)
    out = []
    for s in range(seeds):
        for label, tech, acc in (("plain", "plain", plain_acc), ("paper sigma=0.1", "paper",
                                                                 other_acc)):
            out.append({"setting": label, "technique": tech, "seed": s,
                        "accuracy": acc + 0.002 * rng.standard_normal()})
    return out


def test_a_model_below_its_anchor_is_flagged():
    pytest.importorskip("mnist1d")
    data = load_benchmark("mnist1d")
    cfg = CheckConfig(data="mnist1d", settings=(Setting("plain"), Setting("paper", 0.1)),
                      claims=("training",))
    low = _runs(0.80, 0.81)
    a = anchors(cfg, data, low)
    assert a["rows"][0]["met"]  # logistic regression reproduces the published 32%
    assert abs(a["rows"][0]["measured"] - 0.32) <= 0.02
    assert not a["met"] and not a["rows"][1]["met"]
    v = verdicts(cfg, low, a)["training"]
    assert v["rows"][0]["anchor"].startswith("missed")
    assert "missed its anchor" in v["summary"]
    good = _runs(0.97, 0.975)  # control: at or above the published CNN's 94%
    a2 = anchors(cfg, data, good)
    assert a2["met"] and verdicts(cfg, good, a2)["training"]["rows"][0]["anchor"] == "met"


def test_the_linear_anchor_is_capped_at_one_where_the_linear_model_is_perfect():
    """On a split that logistic regression classifies perfectly the anchor 'linear + margin'
    was 1.02, missed by every network; capped at 1 it is met by a perfect network and still
    missed by a weaker one (control)."""
    from types import SimpleNamespace

    rng = np.random.default_rng(0)
    y = np.repeat([0, 1], 40)
    x = (y[:, None] * 4.0 + rng.normal(size=(80, 3))).astype(np.float32)  # separable
    data = SimpleNamespace(name="separable", x_train=x, y_train=y, x_test=x, y_test=y)
    cfg = CheckConfig(data="digits-img", settings=(Setting("plain"), Setting("paper", 0.1)),
                      claims=("training",))
    def plain(acc):
        return [{"setting": "plain", "technique": "plain", "seed": s, "accuracy": acc}
                for s in range(3)]

    a = anchors(cfg, data, plain(1.0))
    assert a["linear"] == 1.0 and a["network_anchor"] == 1.0 and a["met"]
    assert not anchors(cfg, data, plain(0.95))["met"]


class _Masked(nn.Module):
    """A linear digits classifier behind a rounding step (zero gradient almost everywhere):
    the masking negative control; without rounding it is the honest control."""

    def __init__(self, weight, bias, rounding: bool):
        super().__init__()
        self.rounding = rounding
        self.stage = nn.Sequential(nn.Identity())
        self.lin = nn.Linear(64, 10)
        with torch.no_grad():
            self.lin.weight.copy_(torch.as_tensor(weight, dtype=torch.float32))
            self.lin.bias.copy_(torch.as_tensor(bias, dtype=torch.float32))

    def forward(self, x):
        z = self.stage(x)
        z = torch.round(z * 4) / 4 if self.rounding else z
        return self.lin(z.flatten(1)) * 5


def test_masking_flag_trips_on_a_masked_model(digits):
    from sklearn.linear_model import LogisticRegression

    clf = LogisticRegression(max_iter=2000).fit(digits.x_train.reshape(-1, 64), digits.y_train)
    cfg = CheckConfig(data="digits-img", attack_points=60, square_iters=150, pgd_steps=10,
                      eps_linf=0.15)
    flags = {}
    for rounding in (True, False):
        stage = ResidualStage(_Masked(clf.coef_, clf.intercept_, rounding), StageSpec("stage"))
        res = measure.robustness(stage, digits, Setting("plain"), cfg, 0)
        flags[rounding] = res
    assert flags[True]["masking_suspected"], flags[True]
    assert not flags[False]["masking_suspected"], flags[False]
    assert flags[False]["suspect"] == [], flags[False]  # the honest model raises no flag
    # robust accuracy is the AND over attacks: never above any one attack's
    for res in flags.values():
        assert res["robust_linf"] <= min(res[k] for k in res["attacks_linf"])
        assert res["robust_l2"] <= min(res[k] for k in res["attacks_l2"])
        if res["library"].startswith("adversarial-robustness-toolbox"):
            assert {"art-apgd-ce_linf", "art-apgd-dlr_linf", "art-square_linf",
                    "art-apgd-ce_l2"} <= set(res)
    # the library's gradient attack is masked too, its gradient-free Square is not
    if "art-apgd-ce_linf" in flags[True]:
        assert flags[True]["art-apgd-ce_linf"] > flags[True]["art-square_linf"] + 0.05


class _Constant(nn.Module):
    """A model that ignores its input: robust at every radius (its clean accuracy stays)."""

    def __init__(self):
        super().__init__()
        self.stage = nn.Sequential(nn.Identity())
        self.bias = nn.Parameter(torch.tensor([5.0] + [0.0] * 9))

    def forward(self, x):
        return self.stage(self.bias.expand(len(x), 10) + 0 * x.flatten(1)[:, :1])


def test_a_radius_that_reaches_any_input_must_break_every_point(digits):
    # every test point: the constant model is right on its class's 10% of them
    cfg = CheckConfig(data="digits-img", attack_points=len(digits.y_test), square_iters=20,
                      pgd_steps=5, certify_points=0, library=False)
    res = measure.robustness(ResidualStage(_Constant(), StageSpec("stage")), digits,
                             Setting("plain"), cfg, 0)
    assert res["eps_big"] == 1.0 and res["robust_big"] == res["clean"] > 0.05
    assert "big_radius_not_zero" in res["suspect"]


def test_the_measured_points_are_a_fixed_sample_whatever_the_splits_stored_order(digits):
    """A split stored class by class (an image folder) must not be measured on its first n
    points, which are then one class: every measurement takes one fixed permutation's first n,
    the same for every seed and setting (paired)."""
    from dataclasses import replace

    order = np.argsort(digits.y_test, kind="stable")
    by_class = replace(digits, x_test=digits.x_test[order], y_test=digits.y_test[order])
    assert set(by_class.y_test[:20]) == {0}  # what the first 20 points were: one class
    idx = measure.measured_points(by_class, 20)
    assert len(set(by_class.y_test[idx])) >= 5 and np.all(np.diff(idx) > 0)
    assert np.array_equal(idx, measure.measured_points(by_class, 20))
    assert np.array_equal(measure.measured_points(by_class, 10**6), np.arange(len(order)))
    cfg = CheckConfig(data="digits-img", attack_points=20, square_iters=5, pgd_steps=2,
                      certify_points=20, certify_n=20, library=False, lipschitz_points=20)
    stage = ResidualStage(_Constant(), StageSpec("stage"))  # always class 0
    res = measure.robustness(stage, by_class, Setting("plain"), cfg, 0)
    share = float(np.mean(by_class.y_test[idx] == 0))
    assert res["clean"] == pytest.approx(share) and share < 0.5  # first 20: 1.0
    # the certificate reads the same points: its accuracy at radius 0 is at most that share
    assert res["certified"]["accuracy"]["0"] <= share


def test_each_flag_is_raised_by_its_own_condition():
    base = {"pgd_linf": 0.5, "pgd_linf_more_steps": 0.5, "square_linf": 0.5, "robust_big": 0.0}
    linf = ["pgd_linf", "pgd_linf_more_steps", "square_linf"]
    assert measure.sanity_flags(base, linf, 100)["suspect"] == []
    cases = {"masking_suspected": {"square_linf": 0.4}, "more_steps_raise": {
        "pgd_linf_more_steps": 0.53}, "big_radius_not_zero": {"robust_big": 0.1}}
    for flag, change in cases.items():
        assert measure.sanity_flags(base | change, linf, 100)["suspect"] == [flag]


def test_parse_techniques_and_bad_names():
    s = parse_techniques("enresnet,dropout=0.2", (0, 0.1))
    assert [x.label for x in s] == ["plain", "paper sigma=0.1", "enresnet c=0.1",
                                    "dropout p=0.2"]
    with pytest.raises(AdapterError, match="valid: plain, paper, enresnet, dropout"):
        parse_techniques("noise")
    with pytest.raises(AdapterError, match="twice"):
        parse_techniques("dropout,dropout")


def test_a_config_refuses_substeps_without_the_network_level():
    # the gap network - PDE is taken from the first level: it must be the network (r = 1)
    with pytest.raises(AdapterError, match=r"substeps = \(2, 4, 8\): the first level is 2"):
        CheckConfig(substeps=(2, 4, 8))
    assert CheckConfig(substeps=(1, 2, 4, 8, 16, 32)).substeps[-1] == 32  # control


@pytest.mark.parametrize("argv,needle", [
    (["--model", "resnet9"], "valid: resnet1d, resnet2d"),
    (["--techniques", "foo"], "unknown technique 'foo'"),
    (["--claims", "training,speed"], "unknown claim 'speed'"),
    (["--data", "cifar10:/no/such/folder"], "no folder /no/such/folder"),
    (["--data", "image-folder:/no/such/folder"], "no /no/such/folder/train"),
    (["--data", "moons"], "valid: mnist1d, digits-img"),
    (["--sigmas", "0.1,0.3"], "include 0"),
    (["--model", "resnet1d", "--data", "digits-img"], "use --model resnet2d"),
    (["--certify-points", "-1"], "--certify-points: -1 is negative"),
    (["--smoothing", "0"], "--smoothing"),
])
def test_check_cli_refuses_bad_input(argv, needle, tmp_path, capsys):
    try:
        rc = main(["check", *argv, "--out", str(tmp_path / "o")])
    except SystemExit as exc:  # argparse's own refusal (usage, then one error line)
        rc = exc.code
    assert rc == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert needle in err[-1] and err[-1].startswith("cdverify check: error:")
    assert not (tmp_path / "o" / "check.json").exists()


def test_check_end_to_end_on_digit_images(tmp_path, capsys):
    """Two seeds, one epoch: every output written, every claim present (numbers not judged)."""
    argv = ["check", "--model", "resnet2d", "--data", "digits-img", "--sigmas", "0,0.3",
            "--techniques", "dropout", "--seeds", "2", "--epochs", "1", "--width", "4",
            "--blocks", "2", "--attack-points", "16", "--passes", "2", "--certify-points", "8",
            "--certify-n", "50", "--no-library", "--out", str(tmp_path)]
    assert main(argv) == 0

    res = json.loads((tmp_path / "check.json").read_text())
    assert set(res["verdicts"]) == {"training", "robustness", "robustness-l2",
                                    "robustness-certified", "robustness-bracket", "lipschitz",
                                    "rademacher"}
    assert res["verdicts"]["robustness-bracket"]["verdict"] in ("agree", "disagree",
                                                                "uninformative")
    cert = res["runs"][0]["robustness"]["certified"]
    assert cert["n"] == 50 and cert["points"] == 8 and cert["sigma"] == 0.25
    assert res["verdicts"]["rademacher"]["verdict"] == "skipped"
    assert len(res["runs"]) == 6 and res["agreement"][0]["setting"] == "paper sigma=0.3"
    assert "## Anchors" in (tmp_path / "summary.md").read_text()
    assert (tmp_path / "rows.csv").read_text().count("\n") == 7
    # a second run reads every model from the cache
    [measured] = (tmp_path / "models").glob("plain-seed0-*/measure.json")
    mtime = measured.stat().st_mtime
    assert main(argv) == 0
    assert measured.stat().st_mtime == mtime


def test_certify_counts_a_top_class_absent_from_the_estimation_draws():
    """The class selected on the n0 draws may not appear among the n draws: it counts 0 and the
    point abstains (bincount was sized for two classes: an IndexError for class 2)."""
    from validation.studies.robustness.certify import certify_smoothed

    calls = []

    def model(z, generator=None):
        calls.append(1)
        out = torch.zeros(z.shape[0], 3, dtype=z.dtype)
        out[:, 2 if len(calls) == 1 else 0] = 1.0  # class 2 on selection, class 0 after
        return out

    cert = certify_smoothed(model, torch.zeros(1, 4, dtype=torch.float64), 0.5, n0=8, n=32,
                            generator=torch.Generator().manual_seed(0))
    assert cert[0].prediction == -1 and cert[0].p_lower == 0.0


def _verdict(status, mean, baseline):
    return {"rows": [{"setting": "paper sigma=0.3", "status": status, "mean": mean,
                      "baseline": baseline, "improvement": mean - baseline}]}


def test_the_bracket_says_when_the_ends_disagree_and_when_the_certificate_is_at_its_floor():
    from validation.studies.check.study import bracket

    up = _verdict("inconclusive", 0.2, 0.22)
    split = bracket(up, _verdict("equivalent within 0.02", 0.30, 0.30))
    assert split["verdict"] == "disagree" and split["bracket"][0]["agree"] is False
    both = bracket(up, _verdict("inconclusive", 0.30, 0.31))
    assert both["verdict"] == "agree" and "agree for every setting" in both["summary"]
    # negative control of the floor rule: the same statuses at 0.6% certified accuracy are no
    # lower end at all (an "equivalent" at the floor is not evidence of equal robustness)
    floor = bracket(up, _verdict("equivalent within 0.02", 0.006, 0.006))
    assert floor["verdict"] == "uninformative" and floor["bracket"][0]["agree"] is None
    assert "floor" in floor["summary"] and "disagree" not in floor["summary"]


def test_check_claim_rows_map_each_settings_status_and_flag_a_missed_anchor():
    """One claims row per (claim, setting): better -> holds, worse -> fails, equivalent or no
    gain -> refuted at delta; a row whose networks missed their anchor, or whose attacks were
    suspect, cannot hold (inconclusive, flag named)."""
    from validation.studies.check.stage import claim_rows, setting_status

    assert [setting_status(s) for s in ("better", "worse", "equivalent within 0.01",
                                        "no gain >= 0.01", "inconclusive", "undecidable")] == \
        ["holds", "fails", "refuted at delta", "refuted at delta", "inconclusive", "inconclusive"]

    def row(setting, status, anchor="met"):
        return {"setting": setting, "status": status, "improvement": 0.02, "ci95": [0.01, 0.03],
                "mde": 0.01, "seeds_needed": 5, "anchor": anchor}

    v = compare_to_baseline({"plain": [0.9, 0.91, 0.92], "x": [0.95, 0.97, 0.96]},
                            lower_is_better=False, delta=0.01, baseline="plain",
                            label="setting")
    result = {"data": "mnist1d", "model": "resnet1d", "config": {
        "model": "resnet1d", "blocks": 4, "width": 32, "seeds": 3},
        "masking_flags": ["paper sigma=0.3 seed 1: masking_suspected"],
        "verdicts": {"training": v | {"rows": [row("paper sigma=0.1", "better"),
                                               row("paper sigma=0.3", "better", "missed: x"),
                                               row("dropout p=0.1", "worse")]},
                     "robustness": v | {"rows": [row("paper sigma=0.3", "better")]},
                     "rademacher": {"verdict": "skipped", "rows": []}}}
    rows = claim_rows(result, "check")
    assert [r.status for r in rows] == ["holds", "inconclusive", "fails", "inconclusive"]
    assert rows[1].flags == ("anchor missed (missed: x)",)
    assert rows[3].flags == ("suspect attacks (1 runs)",)
    assert rows[0].claim.startswith("The paper's training method (sigma=0.1) improves the clean")
    assert "mnist1d, resnet1d L = 4, width 32, 3 paired seeds" in rows[2].claim
    assert "effect +0.020 (95% CI +0.010 .. +0.030), MDE 0.01" in rows[0].evidence
    # rows with nothing to test: equal paired differences (no spread: no MDE, no power) and a
    # single seed (no interval) are stored as null, and read as n/a (a format of None raised)
    flat = row("paper sigma=0.1", "undecidable") | {"improvement": 0.0, "ci95": [0.0, 0.0],
                                                    "mde": None, "seeds_needed": None}
    single = flat | {"improvement": 0.009, "ci95": [None, None]}
    result["verdicts"] = {"training": v | {"rows": [flat]}, "robustness": v | {"rows": [single]}}
    rows = claim_rows(result, "check")
    assert [r.status for r in rows] == ["inconclusive", "inconclusive"]
    assert "effect +0.000 (95% CI +0.000 .. +0.000), MDE n/a, seeds for 80% power n/a" \
        in rows[0].evidence
    assert "effect +0.00900 (95% CI n/a), MDE n/a" in rows[1].evidence


def test_check_on_a_users_factory_reports_its_own_stage(tmp_path, capsys):
    """A user's model has its own depth and width: the summary and the claim rows name the
    stage as built (6 blocks of 8 x 8 x 8 features in the example), not the built-in models'
    --blocks 4 / --width 32 defaults that were never used."""
    from pathlib import Path

    from validation.studies.check.stage import claim_rows

    example = Path(__file__).resolve().parents[1] / "examples" / "byo_resnet.py"
    argv = ["check", "--model", f"{example}:make_model", "--stage", "layer1", "--data",
            "digits-img", "--sigmas", "0,0.3", "--techniques", "", "--seeds", "2", "--epochs",
            "1", "--claims", "training", "--passes", "2", "--out", str(tmp_path)]
    assert main(argv) == 0
    res = json.loads((tmp_path / "check.json").read_text())
    assert res["stage"] == {"path": "layer1", "blocks": 6, "feature_shape": [8, 8, 8],
                            "reading": "block", "scale": 1.0, "scales": [],
                            "distinct_blocks": 6, "plain_layers": [], "bound": "",
                            "dropout_in_training": [], "dropout_blocks": [],
                            "random_in_training": [], "random_at_eval": False,
                            "same_init_every_seed": False}
    summary = (tmp_path / "summary.md").read_text()
    assert "stage layer1: 6 blocks, features 8 x 8 x 8" in summary
    assert "width 32" not in summary
    rows = claim_rows(res, "check")
    assert rows and all("6 blocks" in r.claim and "width 32" not in r.claim for r in rows)
    # control: the toolkit's own models are described by --blocks and --width
    res["config"]["model"] = "resnet2d"
    assert all("L = 4, width 32" in r.claim for r in claim_rows(res, "check"))


#: a user's factory on the digit images: one plain and one sigma = 0.3 network, one epoch, the
#: training claim alone (the refusals' tests and their controls)
TRAINING_ONLY = ["check", "--data", "digits-img", "--sigmas", "0,0.3", "--techniques", "",
                 "--seeds", "1", "--epochs", "1", "--claims", "training", "--passes", "2",
                 "--workers", "1"]


def _refused(capsys, argv: list, out, said: str) -> None:
    """`check` on argv exits 2 with one line containing ``said`` and writes nothing to out."""
    assert main([*argv, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert said in err and len(err.splitlines()) == 1, err
    assert not out.exists()


def _check_user(factory, make: str, stage: str, out) -> tuple[dict, str]:
    """`check` (TRAINING_ONLY) on a user's factory: its stage record and summary."""
    assert main([*TRAINING_ONLY, "--model", f"{factory}:{make}", "--stage", stage,
                 "--out", str(out)]) == 0
    return (json.loads((out / "check.json").read_text())["stage"],
            (out / "summary.md").read_text())


def test_the_check_names_torch_layers_without_a_skip_in_a_users_stage(tmp_path):
    """A user's stage with a BatchNorm2d between its residual blocks: check.json records it
    and the summary says it is read as a step (h = T / 3); the stage without it says nothing."""
    factory = tmp_path / "bn.py"
    factory.write_text(
        "import torch\nfrom torch import nn\n\n"
        "class Res(nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.conv = nn.Conv2d(4, 4, 3, padding=1)\n"
        "    def forward(self, z):\n"
        "        return z + torch.tanh(self.conv(z))\n\n"
        "class Net(nn.Module):\n"
        "    def __init__(self, blocks):\n"
        "        super().__init__()\n"
        "        self.stem = nn.Conv2d(1, 4, 3, padding=1)\n"
        "        self.stage = nn.Sequential(*blocks)\n"
        "        self.out = nn.Linear(4, 10)\n"
        "    def forward(self, x):\n"
        "        return self.out(self.stage(self.stem(x)).mean((2, 3)))\n\n"
        "def mixed():\n    return Net([Res(), nn.BatchNorm2d(4), Res()])\n\n"
        "def pure():\n    return Net([Res(), Res()])\n")
    stage, text = _check_user(factory, "mixed", "stage", tmp_path / "m")
    assert stage["plain_layers"] == ["BatchNorm2d (block 1)"]
    assert "Not residual: BatchNorm2d (block 1), a torch.nn layer with no skip connection; it " \
           "is read as a step z -> layer(z) like the others, so h = T / 3" in " ".join(
               text.split())
    stage, text = _check_user(factory, "pure", "stage", tmp_path / "p")
    assert stage["plain_layers"] == [] and "Not residual" not in text


def test_a_users_model_whose_outputs_depend_on_the_batch_is_refused_first(tmp_path, capsys):
    """BatchNorm without running statistics normalises every batch by itself: a point's
    prediction, its attacks and its dp/dx (taken through the sum over a batch) would depend on
    its batch. Refused before any training; control: the same model with running statistics."""
    factory = tmp_path / "batchy.py"
    factory.write_text(
        "import torch\nfrom torch import nn\n\n"
        "class Block(nn.Module):\n"
        "    def __init__(self, track):\n"
        "        super().__init__()\n"
        "        self.conv = nn.Conv2d(4, 4, 3, padding=1)\n"
        "        self.bn = nn.BatchNorm2d(4, track_running_stats=track)\n"
        "    def forward(self, z):\n"
        "        return z + torch.relu(self.bn(self.conv(z)))\n\n"
        "def make(track=False):\n"
        "    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1),\n"
        "                         nn.Sequential(Block(track), Block(track)),\n"
        "                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 10))\n\n"
        "def make_tracked():\n"
        "    return make(True)\n\n"
        "class Noise(nn.Module):\n"
        "    def forward(self, z):\n"
        "        return z + 0.1 * torch.randn_like(z)\n\n"
        "def make_noisy():\n"
        "    net = make(True)\n"
        "    net[1].append(Noise())\n"
        "    return net\n")
    argv = [*TRAINING_ONLY, "--stage", "1"]
    assert main([*argv, "--model", f"{factory}:make", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "its output for a point depends on the other points of the batch" in err
    assert not (tmp_path / "o" / "models").exists()
    assert main([*argv, "--model", f"{factory}:make_tracked", "--out",
                 str(tmp_path / "t")]) == 0
    # control: noise of the model's own at evaluation (two passes differ) is not taken for
    # batch statistics
    from validation.studies.check.study import build

    build(CheckConfig(model=f"{factory}:make_noisy", stage="1", data="digits-img"),
          load_benchmark("digits-img"), 0)


def test_a_model_returning_probabilities_is_refused_before_training(tmp_path, capsys):
    """A forward ending in softmax: cross-entropy would softmax the probabilities again (its
    gradients shrunk by the softmax's slope: weak training, and gradient attacks that fail
    for that reason counted as robustness). Refused in one line, exit 2, nothing written;
    control: log_softmax (softmax(log p) = p) and plain logits are built."""
    from validation.studies.check.study import build

    factory = tmp_path / "probs.py"
    factory.write_text(
        "import torch\nfrom torch import nn\n\n"
        "class Net(nn.Module):\n"
        "    def __init__(self, end):\n"
        "        super().__init__()\n"
        "        self.stem = nn.Linear(64, 8)\n"
        "        self.blocks = nn.Sequential(*[nn.Linear(8, 8) for _ in range(2)])\n"
        "        self.out, self.end = nn.Linear(8, 10), end\n"
        "    def forward(self, x):\n"
        "        return self.end(self.out(self.blocks(self.stem(x.flatten(1)))))\n\n"
        "def probs():\n    return Net(lambda z: torch.softmax(z, 1))\n\n"
        "def logprobs():\n    return Net(lambda z: torch.log_softmax(z, 1))\n\n"
        "def logits():\n    return Net(lambda z: z)\n")
    _refused(capsys, [*TRAINING_ONLY, "--model", f"{factory}:probs", "--stage", "blocks"],
             tmp_path / "p", "its outputs are probabilities")
    data = load_benchmark("digits-img")
    for name in ("logprobs", "logits"):
        build(CheckConfig(model=f"{factory}:{name}", stage="blocks", data="digits-img"),
              data, 0)


def test_a_forward_detached_from_its_input_is_refused_where_a_claim_needs_input_gradients(
        tmp_path, capsys):
    """A stem under torch.no_grad(): the attacks failed after training with torch's 'appears
    to not have been used in the graph'. Refused before any training where robustness or
    Lipschitz is claimed (one line, exit 2, nothing written); training alone runs."""
    factory = tmp_path / "frozen.py"
    factory.write_text(
        "import torch\nfrom torch import nn\n\n"
        "class Net(nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.stem = nn.Linear(64, 8)\n"
        "        self.blocks = nn.Sequential(*[nn.Linear(8, 8) for _ in range(2)])\n"
        "        self.out = nn.Linear(8, 10)\n"
        "    def forward(self, x):\n"
        "        with torch.no_grad():\n"
        "            z = self.stem(x.flatten(1))\n"
        "        return self.out(self.blocks(z))\n\n"
        "def make():\n    return Net()\n")
    for claim in ("robustness", "lipschitz"):
        argv = [*TRAINING_ONLY[:-6], "--claims", claim, "--attack-points", "8",
                "--certify-points", "0", "--workers", "1"]
        _refused(capsys, [*argv, "--model", f"{factory}:make", "--stage", "blocks"],
                 tmp_path / claim, f"do not depend on the input through autograd (a "
                 f"torch.no_grad() block or a .detach() before the stage?), and the claims "
                 f"{claim}")
    _check_user(factory, "make", "blocks", tmp_path / "t")  # training alone: no input gradient


def test_a_forward_that_changes_its_input_in_place_is_refused_before_any_work(tmp_path,
                                                                             capsys):
    """x.sub_(0.5) in the forward normalised the data set's own array at every evaluation
    (the probe's view of it first), and a ReLU(inplace=True) on the input crashed the
    attacks ("a view of a leaf Variable that requires grad is being used in an in-place
    operation") after training. Both are refused in one line before any work, by check and
    by inspect, and the data set is left as it was; control: the same forwards out of place."""
    factory = tmp_path / "inplace.py"
    factory.write_text(
        _KIND_NET_HEAD +
        "        self.blocks = nn.Sequential(*[nn.Linear(8, 8) for _ in range(2)])\n"
        "        self.out = nn.Linear(8, 10)\n"
        "    def forward(self, x):\n"
        "        x = x.flatten(1)\n"
        "        if self.kind == 'sub':\n"
        "            x.sub_(0.5)\n"
        "        elif self.kind == 'relu':\n"
        "            x = torch.relu_(x)\n"
        "        else:\n"
        "            x = torch.relu(x - 0.5)\n"
        "        return self.out(self.blocks(self.stem(x)))\n\n"
        "def sub():\n    return Net('sub')\n\n"
        "def relu():\n    return Net('relu')\n\n"
        "def fresh():\n    return Net('fresh')\n")
    from validation.studies.check.study import build

    data = load_benchmark("digits-img")
    before = data.x_train[:2].copy()
    with pytest.raises(AdapterError, match="changes its input in place"):
        build(CheckConfig(model=f"{factory}:sub", stage="blocks", data="digits-img"), data, 0)
    assert np.array_equal(data.x_train[:2], before)  # the probe ran on a copy
    argv = [*TRAINING_ONLY[:-6], "--claims", "training,robustness", "--attack-points", "8",
            "--certify-points", "0", "--passes", "2", "--workers", "1"]
    for make in ("sub", "relu"):
        _refused(capsys, [*argv, "--model", f"{factory}:{make}", "--stage", "blocks"],
                 tmp_path / make, "changes its input in place")
        assert main(["inspect", "--model", f"{factory}:{make}", "--stage", "blocks", "--data",
                     "digits", "--out", str(tmp_path / f"i{make}")]) == 2
        assert "changes its input in place" in capsys.readouterr().err
    _check_user(factory, "fresh", "blocks", tmp_path / "fresh")


def test_a_measurement_of_an_older_version_is_taken_again_without_training(tmp_path,
                                                                              monkeypatch, capsys):

    import validation.studies.check.study as study

    # one process: the version is monkeypatched here, which spawned workers would not see
    argv = ["check", "--model", "resnet2d", "--data", "digits-img", "--sigmas", "0,0.3",
            "--techniques", "", "--seeds", "1", "--epochs", "1", "--width", "4", "--blocks",
            "2", "--claims", "training", "--passes", "2", "--workers", "1", "--out",
            str(tmp_path)]
    assert main(argv) == 0
    [measured] = (tmp_path / "models").glob("plain-seed0-*/measure.json")
    checkpoint = measured.parent / "checkpoint.pt"
    before = json.loads(measured.read_text())
    stamps = measured.stat().st_mtime_ns, checkpoint.stat().st_mtime_ns
    # the same version: read from the cache (control)
    assert main(argv) == 0
    assert (measured.stat().st_mtime_ns, checkpoint.stat().st_mtime_ns) == stamps
    monkeypatch.setattr(study, "MEASURE_VERSION", study.MEASURE_VERSION + 1)
    assert main(argv) == 0
    after = json.loads(measured.read_text())
    assert measured.stat().st_mtime_ns != stamps[0]  # measured again
    assert checkpoint.stat().st_mtime_ns == stamps[1]  # not trained again
    assert after["measure_version"] == study.MEASURE_VERSION
    assert after["result"]["train_seconds"] == before["result"]["train_seconds"]
    assert after["result"]["accuracy"] == before["result"]["accuracy"]
    # other measurement options (the deployed predictor's passes) measure the same network
    # again: the folder is named by what makes the network, and nothing is trained
    stamp = measured.stat().st_mtime_ns
    capsys.readouterr()
    assert main([*argv, "--passes", "3"]) == 0
    assert "was measured with other options; measuring again, the trained network kept" in \
        capsys.readouterr().err
    again = json.loads(measured.read_text())
    assert measured.stat().st_mtime_ns != stamp and checkpoint.stat().st_mtime_ns == stamps[1]
    assert again["key"]["check"]["passes"] == 3
    assert again["result"]["train_seconds"] == before["result"]["train_seconds"]
    # a lost measurement (its file removed): measured again, the training time read from the
    # checkpoint's epochs (it was the resumed run's 0.0 s)
    measured.unlink()
    assert main([*argv, "--passes", "3"]) == 0
    assert checkpoint.stat().st_mtime_ns == stamps[1]
    assert json.loads(measured.read_text())["result"]["train_seconds"] == \
        before["result"]["train_seconds"]
    # control: an option that makes another network (its width) trains one in its own folder
    assert main([*argv[:argv.index("--width")], "--width", "5",
                 *argv[argv.index("--width") + 2:]]) == 0
    assert len(list((tmp_path / "models").glob("plain-seed0-*/checkpoint.pt"))) == 2


def test_networks_on_workers_give_the_numbers_of_one_process_and_the_same_cache(tmp_path):
    """--workers 2 computes the networks on a pool (the caller taking some): every network
    computes on one torch thread wherever it runs, so the runs equal those of one process,
    and the cache key does not hold the worker count (a rerun with another count reads it)."""

    argv = ["check", "--model", "resnet2d", "--data", "digits-img", "--sigmas", "0,0.3",
            "--techniques", "dropout", "--seeds", "2", "--epochs", "2", "--width", "4",
            "--blocks", "2", "--claims", "training,lipschitz", "--passes", "2",
            "--attack-points", "20"]
    assert main([*argv, "--workers", "1", "--out", str(tmp_path / "one")]) == 0
    assert main([*argv, "--workers", "2", "--out", str(tmp_path / "two")]) == 0
    runs = {k: json.loads((tmp_path / k / "check.json").read_text())["runs"]
            for k in ("one", "two")}
    drop = ("seconds", "train_seconds", "epoch_seconds")
    strip = [[{k: v for k, v in r.items() if k not in drop} for r in runs[k]]
             for k in ("one", "two")]
    assert len(strip[0]) == 6 and strip[0] == strip[1]
    # control: the settings differ from each other (the comparison is not of constants)
    assert len({r["accuracy"] for r in strip[0]}) > 1
    # the same folder read back with workers 2 after one process: nothing trained again
    measured = sorted((tmp_path / "one" / "models").glob("*/measure.json"))
    stamps = [m.stat().st_mtime_ns for m in measured]
    assert main([*argv, "--workers", "2", "--out", str(tmp_path / "one")]) == 0
    assert [m.stat().st_mtime_ns for m in measured] == stamps


def test_a_stage_that_is_not_a_chain_of_steps_is_refused_before_training(tmp_path, capsys):
    """A forward that changes the features between blocks (z = tanh(z + f(z)) in the parent's
    loop) and a stage whose first block downsamples: both were found only after every network
    had trained (the velocity then read wrong, or a shape error from the first measurement).
    Now refused from the first two points, nothing written. The skip written in the parent's
    loop (z = z + 0.3 f(z)) is read as such and runs, its paper's noise injected into the step
    (control: the measured diffusion of the step is the catalogue's sigma^2 / 2)."""
    factory = tmp_path / "unchained.py"
    factory.write_text(
        "import torch\nfrom torch import nn\n\n"
        "class Net(nn.Module):\n"
        "    def __init__(self, between):\n"
        "        super().__init__()\n"
        "        self.between = between\n"
        "        self.inp = nn.Linear(64, 8)\n"
        "        self.fs = nn.ModuleList(nn.Sequential(nn.Linear(8, 8), nn.Tanh())\n"
        "                                for _ in range(3))\n"
        "        self.down = nn.Sequential(nn.Linear(8, 4), nn.Linear(4, 4))\n"
        "        self.out = nn.Linear(4, 10)\n"
        "    def forward(self, x):\n"
        "        z = self.inp(x.flatten(1))\n"
        "        for f in self.fs:\n"
        "            z = z + 0.3 * f(z)\n"
        "            z = torch.tanh(z) if self.between else z\n"
        "        return self.out(self.down(z))\n\n"
        "def between():\n    return Net(True)\n\n"
        "def parent():\n    return Net(False)\n")
    argv = TRAINING_ONLY
    for make, stage, said in (("between", "fs", "output of block 0 is not the input of block 1"),
                              ("parent", "down", r"maps features of shape (2, 8) to (2, 4)")):
        out = tmp_path / make
        assert main([*argv, "--model", f"{factory}:{make}", "--stage", stage,
                     "--out", str(out)]) == 2
        assert said in capsys.readouterr().err and not out.exists()
    assert main([*argv, "--model", f"{factory}:parent", "--stage", "fs", "--out",
                 str(tmp_path / "ok")]) == 0
    assert ("stage fs: 3 blocks, features 8; the forward adds the skip itself, read as "
            "Delta = c f(z), c = 0.3" in (tmp_path / "ok" / "summary.md").read_text())
    # the paper's noise on the parent's step z + 0.3 f(z): Cov(step) / (2h) = sigma^2 / 2
    from validation.nets.techniques import injected
    from validation.studies.check.study import build

    stage = build(CheckConfig(model=f"{factory}:parent", stage="fs", data="digits-img"),
                  load_benchmark("digits-img"), 0)
    assert stage.spec.reading == "residual" and stage.spec.scale == pytest.approx(0.3)
    x = torch.as_tensor(load_benchmark("digits-img").x_train[:1]).repeat(4000, 1, 1, 1)
    z1 = []  # the input of block 1: one step from the same z_0, 4000 draws of the noise
    hook = stage.blocks[1].register_forward_pre_hook(lambda m, a: z1.append(a[0]))
    with torch.no_grad(), injected(stage, "paper", 0.3, torch.Generator().manual_seed(0)):
        stage.model.eval()(x)
    hook.remove()
    # (the mutant that adds the noise to f(z) instead of the step reads 0.3^2 of this)
    assert float(z1[0].var(0).mean()) / (2 * stage.step) == pytest.approx(0.3**2 / 2, rel=0.08)


def test_a_users_own_dropout_in_the_stage_is_named_as_live_in_every_setting(tmp_path):
    """A user's blocks that carry their own Dropout train with it in every setting, the plain
    baseline included: the catalogue's generator rows (plain: A = 0) leave that diffusion out.
    The check names the stage's own dropout (per block, with p) in its stage record, its
    summary line and beside the generators. Controls: dropout outside the stage (the stem)
    and p = 0 are not named, and a stage without dropout gets neither sentence."""
    factory = tmp_path / "dropping.py"
    factory.write_text(
        "import torch\nfrom torch import nn\n\n"
        "class Net(nn.Module):\n"
        "    def __init__(self, p):\n"
        "        super().__init__()\n"
        "        self.inp = nn.Sequential(nn.Linear(64, 8), nn.Dropout(0.5))\n"
        "        self.fs = nn.Sequential(*[nn.Sequential(\n"
        "            nn.Linear(8, 8), nn.Dropout(p if l else 0.0), nn.Tanh()) for l in range(3)])\n"
        "        self.out = nn.Linear(8, 10)\n"
        "    def forward(self, x):\n"
        "        return self.out(self.fs(self.inp(x.flatten(1))))\n\n"
        "def dropping():\n    return Net(0.2)\n\n"
        "def plain():\n    return Net(0.0)\n")
    for make, own in (("dropping", ["Dropout(p=0.2) in blocks 1, 2"]), ("plain", [])):
        stage, text = _check_user(factory, make, "fs", tmp_path / make)
        assert stage["dropout_in_training"] == own
        assert ("its own Dropout(p=0.2) in blocks 1, 2 (live in training in every setting)"
                in text) == bool(own)
        assert ("the plain baseline included, also carries the stage's own Dropout(p=0.2) in "
                "blocks 1, 2" in text) == bool(own)
        assert "p=0.5" not in text  # the stem's dropout is not the stage's


def test_check_runs_on_a_slice_of_a_stage_whose_first_block_downsamples(tmp_path, capsys):
    """torchvision's layer2-4 open with a block that halves the resolution: the whole stage is
    refused before training (naming the slice that would do), and "layer2[1:]" trains and is
    measured as the flow of the blocks after it (the stage record names the slice)."""
    factory = tmp_path / "down.py"
    factory.write_text(
        "import torch\nfrom torch import nn\n\n"
        "class Net(nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.stem = nn.Conv2d(1, 4, 3, padding=1)\n"
        "        self.layer2 = nn.Sequential(nn.Conv2d(4, 8, 3, stride=2, padding=1), *[\n"
        "            nn.Sequential(nn.Conv2d(8, 8, 3, padding=1), nn.Tanh()) for _ in range(2)])\n"
        "        self.fc = nn.Linear(8, 10)\n"
        "    def forward(self, x):\n"
        "        z = self.layer2[0](self.stem(x))\n"
        "        for f in self.layer2[1:]:\n"
        "            z = z + 0.5 * f(z)\n"
        "        return self.fc(z.mean((2, 3)))\n\n"
        "def make():\n    return Net()\n")
    whole = tmp_path / "whole"
    assert main([*TRAINING_ONLY, "--model", f"{factory}:make", "--stage", "layer2",
                 "--out", str(whole)]) == 2
    assert "e.g. layer2[1:]" in capsys.readouterr().err and not whole.exists()
    stage, _ = _check_user(factory, "make", "layer2[1:]", tmp_path / "sliced")
    assert stage["path"] == "layer2[1:]" and stage["blocks"] == 2
    assert stage["feature_shape"] == [8, 4, 4] and stage["reading"] == "residual"
    assert stage["scale"] == pytest.approx(0.5)


def test_check_names_a_stage_whose_weights_are_tied_across_steps(tmp_path):
    """A weight-tied stage (one module at every step) trains and is measured as L steps; the
    stage record and the summary say how many distinct modules it has (the untied control
    is test_check_on_a_users_factory_reports_its_own_stage: 6 of 6, no such words)."""
    factory = tmp_path / "tied.py"
    factory.write_text(
        "import torch\nfrom torch import nn\n\n"
        "class Net(nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.inp = nn.Linear(64, 8)\n"
        "        one = nn.Sequential(nn.Linear(8, 8), nn.Tanh())\n"
        "        self.fs = nn.ModuleList([one] * 3)\n"
        "        self.out = nn.Linear(8, 10)\n"
        "    def forward(self, x):\n"
        "        z = self.inp(x.flatten(1))\n"
        "        for f in self.fs:\n"
        "            z = z + f(z) / 3\n"
        "        return self.out(z)\n\n"
        "def make():\n    return Net()\n")
    stage, text = _check_user(factory, "make", "fs", tmp_path / "o")
    assert stage["blocks"] == 3 and stage["distinct_blocks"] == 1
    assert stage["reading"] == "residual" and stage["scale"] == pytest.approx(1 / 3)
    assert "stage fs: 3 blocks (1 distinct module: weights tied across steps)" in text


def test_check_refuses_dropout_on_a_checkpointed_stage_before_training(tmp_path, capsys):
    """A user's stage under activation checkpointing: dropout (its backward needs its mask)
    is refused before any network trains, nothing written; the paper's method alone runs."""
    factory = tmp_path / "ckpt.py"
    factory.write_text(
        "import torch\nfrom torch import nn\nfrom torch.utils.checkpoint import checkpoint\n\n"
        "class Net(nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.inp = nn.Linear(64, 8)\n"
        "        self.fs = nn.ModuleList(nn.Sequential(nn.Linear(8, 8), nn.Tanh())\n"
        "                                for _ in range(3))\n"
        "        self.out = nn.Linear(8, 10)\n"
        "    def forward(self, x):\n"
        "        z = self.inp(x.flatten(1))\n"
        "        for f in self.fs:\n"
        "            z = z + (checkpoint(f, z, use_reentrant=False) if self.training\n"
        "                     else f(z)) / 3\n"
        "        return self.out(z)\n\n"
        "def make():\n    return Net()\n")
    argv = [*TRAINING_ONLY, "--model", f"{factory}:make", "--stage", "fs"]
    refused = argv[:argv.index("--techniques") + 1] + ["dropout"] + \
        argv[argv.index("--techniques") + 2:]
    assert main([*refused, "--out", str(tmp_path / "no")]) == 2
    assert "dropout would get wrong gradients" in capsys.readouterr().err
    assert not (tmp_path / "no").exists()
    assert main([*argv, "--out", str(tmp_path / "ok")]) == 0


def test_a_stage_random_in_training_without_a_dropout_module_is_named(tmp_path):
    """Functional dropout in a user's blocks (no module to find by type) trains in every
    setting too: the check finds it by behaviour and names it beside the generators; the
    same network without it gets no such sentence (control)."""
    factory = tmp_path / "fdrop.py"
    factory.write_text(
        "import torch\nfrom torch import nn\n\n"
        "class Blk(nn.Module):\n"
        "    def __init__(self, p):\n"
        "        super().__init__()\n"
        "        self.f, self.p = nn.Linear(8, 8), p\n"
        "    def forward(self, z):\n"
        "        return z + nn.functional.dropout(torch.tanh(self.f(z)), self.p,\n"
        "                                         self.training) / 3\n\n"
        "class Net(nn.Module):\n"
        "    def __init__(self, p):\n"
        "        super().__init__()\n"
        "        self.inp, self.out = nn.Linear(64, 8), nn.Linear(8, 10)\n"
        "        self.fs = nn.Sequential(*[Blk(p if l else 0.0) for l in range(3)])\n"
        "    def forward(self, x):\n"
        "        return self.out(self.fs(self.inp(x.flatten(1))))\n\n"
        "def dropping():\n    return Net(0.2)\n\n"
        "def plain():\n    return Net(0.0)\n")
    for make, found in (("dropping", [1, 2]), ("plain", [])):
        stage, text = _check_user(factory, make, "fs", tmp_path / make)
        assert stage["random_in_training"] == found and stage["dropout_blocks"] == []
        assert ("also carries the stage's own randomness in blocks 1, 2 that is not a dropout "
                "module" in text) == bool(found)


def test_check_averages_the_passes_of_a_model_random_at_evaluation(tmp_path):
    """MC dropout kept at evaluation in a user's blocks: the check records the forward as
    random at evaluation and says that every deployed predictor, the plain one included,
    averages its passes (the deterministic control is
    test_check_on_a_users_factory_reports_its_own_stage: random_at_eval False)."""
    factory = tmp_path / "mc.py"
    factory.write_text(
        "import torch\nfrom torch import nn\n\n"
        "class Blk(nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.f = nn.Linear(8, 8)\n"
        "    def forward(self, z):\n"
        "        return z + nn.functional.dropout(torch.tanh(self.f(z)), 0.3, True) / 3\n\n"
        "class Net(nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.inp, self.out = nn.Linear(64, 8), nn.Linear(8, 10)\n"
        "        self.fs = nn.Sequential(Blk(), Blk())\n"
        "    def forward(self, x):\n"
        "        return self.out(self.fs(self.inp(x.flatten(1))))\n\n"
        "def make():\n    return Net()\n")
    stage, text = _check_user(factory, "make", "fs", tmp_path / "o")
    assert stage["random_at_eval"] is True and stage["random_in_training"] == [0, 1]
    assert "its forward is random at evaluation too: every setting's deployed predictor " \
           "averages its passes" in text


def test_a_factory_that_sets_its_own_seed_is_said_to_share_one_initialisation(tmp_path):
    """A factory that calls torch.manual_seed itself returns the same weights at every seed:
    its paired seeds differ only in data order and draws, so their spread leaves out the
    initialisation's. The check records it and, with two or more seeds, says so in the
    summary; control: the same network without the seed call (the check's seed then decides
    its weights) gets neither.
    The probe leaves the global generator as it was."""
    from validation.studies.check.study import same_initialisation

    factory = tmp_path / "seeding.py"
    factory.write_text(
        "import torch\nfrom torch import nn\n\n"
        "def net():\n"
        "    return nn.Sequential(nn.Flatten(), nn.Linear(64, 8),\n"
        "                         nn.Sequential(*[nn.Linear(8, 8) for _ in range(3)]),\n"
        "                         nn.Linear(8, 10))\n\n"
        "def seeded():\n    torch.manual_seed(0)\n    return net()\n")
    said = "its factory returns the same initial weights at every seed"
    for make, same in (("seeded", True), ("net", False)):
        state = torch.get_rng_state()
        assert same_initialisation(f"{factory}:{make}", torch.zeros(2, 1, 8, 8)) is same
        assert torch.equal(torch.get_rng_state(), state)
        stage, text = _check_user(factory, make, "2", tmp_path / make)  # one seed
        assert stage["same_init_every_seed"] is same and said not in text
        assert "1 paired seed;" in text and "; 1 epoch;" in text  # not "1 paired seeds"
        two = [*TRAINING_ONLY[:TRAINING_ONLY.index("--seeds") + 1], "2",
               *TRAINING_ONLY[TRAINING_ONLY.index("--seeds") + 2:]]
        assert main([*two, "--model", f"{factory}:{make}", "--stage", "2",
                     "--out", str(tmp_path / f"{make}2")]) == 0
        assert (said in (tmp_path / f"{make}2" / "summary.md").read_text()) is same


def test_a_users_model_returning_a_tuple_or_a_mapping_is_read_by_its_logits(tmp_path, capsys):
    """A forward returning (logits, features) or {'logits': ..., ...} (Hugging Face's model
    outputs) failed with "AttributeError: 'tuple' object has no attribute 'shape'". The
    toolkit now reads the logits among them (a field or key named 'logits' first, else the
    first element; a NamedTuple (features, logits) was read by its features): the
    check trains and measures such a network, and the stage's logits are those of the
    model's own output, also on a deep copy (the adapter's twin). A forward returning
    something else is refused in one line, exit 2, before any work."""
    from validation.nets.user import load_factory

    factory = tmp_path / "outs.py"
    factory.write_text(
        _KIND_NET_HEAD +
        "        self.fs = nn.ModuleList(nn.Sequential(nn.Linear(8, 8), nn.Tanh())\n"
        "                                for _ in range(3))\n"
        "        self.out = nn.Linear(8, 10)\n"
        "    def forward(self, x):\n"
        "        z = self.stem(x.flatten(1))\n"
        "        for f in self.fs:\n"
        "            z = z + 0.3 * f(z)\n"
        "        y = self.out(z)\n"
        "        return {'tuple': (y, z), 'dict': {'features': z, 'logits': y},\n"
        "                'named': Out(z, y), 'data': Data(z, y),\n"
        "                'other': {'scores': y}}[self.kind]\n\n"
        "class Out(NamedTuple):\n    features: torch.Tensor\n    logits: torch.Tensor\n\n"
        "@dataclass\nclass Data:\n    features: torch.Tensor\n    logits: torch.Tensor\n\n"
        "def tup():\n    return Net('tuple')\n\n"
        "def dic():\n    return Net('dict')\n\n"
        "def named():\n    return Net('named')\n\n"
        "def data():\n    return Net('data')\n\n"
        "def other():\n    return Net('other')\n")
    factory.write_text("from dataclasses import dataclass\nfrom typing import NamedTuple\n"
                       + factory.read_text())
    x = torch.rand(5, 1, 8, 8)
    # (features, logits) as a NamedTuple or a dataclass: read by the name (the first element
    # of the NamedTuple, its features, was read before)
    for make in ("tup", "dic", "named", "data"):
        torch.manual_seed(0)
        model = load_factory(f"{factory}:{make}")
        raw = type(model).forward(model, x)
        ref = raw[0] if make == "tup" else raw["logits"] if make == "dic" else raw.logits
        assert ref.shape == (5, 10)
        st = ResidualStage(model, "fs")
        st.probe(x)
        assert torch.equal(model(x), ref) and torch.allclose(st.logits(x), ref, atol=1e-6)
        twin = st._twin()
        with torch.no_grad():  # the copy's forward runs the copy's weights, not the model's
            twin.model.out.bias.add_(1.0)
        assert torch.allclose(twin.model(x), ref + 1.0) and torch.equal(model(x), ref)
    stage, text = _check_user(factory, "dic", "fs", tmp_path / "dic")
    assert stage["reading"] == "residual" and "### training:" in text
    capsys.readouterr()
    assert main([*TRAINING_ONLY, "--model", f"{factory}:other", "--stage", "fs",
                 "--out", str(tmp_path / "other")]) == 2
    err = capsys.readouterr().err.strip()
    assert "returns a mapping with keys ['scores']" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "other").exists()


def test_check_refuses_noise_on_skip_weights_that_training_moves(tmp_path, capsys):
    """A user's ReZero-style stage (z + alpha_l f_l(z), alpha trainable in the parent) with
    the paper's noise: refused in one line, exit 2, before any training (the injection goes
    through alpha, which training moves). Control: the same stage with a fixed weight runs."""
    factory = tmp_path / "rezero.py"
    factory.write_text(
        "import torch\nfrom torch import nn\n\n"
        "class Net(nn.Module):\n"
        "    def __init__(self, learn):\n"
        "        super().__init__()\n"
        "        self.stem = nn.Linear(64, 8)\n"
        "        self.fs = nn.ModuleList(nn.Sequential(nn.Linear(8, 8), nn.Tanh())\n"
        "                                for _ in range(3))\n"
        "        self.alpha = nn.Parameter(torch.full((3,), 0.3), requires_grad=learn)\n"
        "        self.out = nn.Linear(8, 10)\n"
        "    def forward(self, x):\n"
        "        z = self.stem(x.flatten(1))\n"
        "        for a, f in zip(self.alpha, self.fs):\n"
        "            z = z + a * f(z)\n"
        "        return self.out(z)\n\n"
        "def learnt():\n    return Net(True)\n\n"
        "def fixed():\n    return Net(False)\n")
    assert main([*TRAINING_ONLY, "--model", f"{factory}:learnt", "--stage", "fs",
                 "--out", str(tmp_path / "learnt")]) == 2
    err = capsys.readouterr().err.strip()
    assert "weights c_l that training changes" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "learnt").exists()
    stage, _ = _check_user(factory, "fixed", "fs", tmp_path / "fixed")
    assert stage["reading"] == "residual" and stage["scale"] == pytest.approx(0.3)


def _l2_worst_drop(a: np.ndarray, x: np.ndarray, r: float) -> np.ndarray:
    """max of -a.d over ||d||_2 <= r with 0 <= x + d <= 1, per row (exact, by KKT): the
    maximiser is d(t) = clip(-t a, -x, 1 - x) at the t >= 0 where ||d(t)|| = r (nondecreasing
    in t: bisection), or the box's corner where even that lies inside the ball."""
    def d(t):
        return np.clip(-t[:, None] * a, -x, 1 - x)

    big = np.full(len(x), 1e12)
    corner = d(big)
    lo, hi = np.zeros(len(x)), big
    for _ in range(120):
        mid = (lo + hi) / 2
        out = np.linalg.norm(d(mid), axis=1) > r
        lo, hi = np.where(out, lo, mid), np.where(out, mid, hi)
    inside = np.linalg.norm(corner, axis=1) <= r
    return -(a * np.where(inside[:, None], corner, d(lo))).sum(1)


def test_robust_accuracy_of_a_linear_network_brackets_its_box_constrained_closed_form(digits):
    """A linear classifier on the digit images in [0, 1]^64: a point is robust at eps iff
    every margin (w_y - w_j).x + b_y - b_j exceeds the most that the box-clipped ball can
    lower it: under linf sum_i |a_i| min(eps, x_i or 1 - x_i) (exact: the margin is
    separable per pixel), under l2 the maximum of a linear function over the ball and the box
    (_l2_worst_drop). The check's robust accuracy (the AND over its attacks, an upper
    estimate) is at or above that exact value and at most 3 points above it; the exact value
    at another radius (the control) is not within those bounds, nor is the l2 value of the
    unclipped ball (attacks that left the box would land at or below it)."""
    from sklearn.linear_model import LogisticRegression

    clf = LogisticRegression(max_iter=2000).fit(digits.x_train.reshape(-1, 64), digits.y_train)
    W, b = 5 * clf.coef_, 5 * clf.intercept_
    eps, eps_2 = 0.1, 0.5
    cfg = CheckConfig(data="digits-img", attack_points=80, square_iters=100, pgd_steps=20,
                      eps_linf=eps, eps_l2=eps_2, certify_points=0)
    stage = ResidualStage(_Masked(clf.coef_, clf.intercept_, False), StageSpec("stage"))
    res = measure.robustness(stage, digits, Setting("plain"), cfg, 0)
    idx = measure.measured_points(digits, 80)
    x, y = digits.x_test[idx].reshape(-1, 64).astype(float), digits.y_test[idx]

    def exact(r: float, norm: str = "linf", box: bool = True) -> float:
        z = x @ W.T + b
        ok = z.argmax(1) == y
        for j in range(10):
            a = W[y] - W[j]
            if norm == "linf":
                room = np.where(a > 0, np.minimum(r, x), np.minimum(r, 1 - x))
                drop = (np.abs(a) * room).sum(1)
            else:
                drop = _l2_worst_drop(a, x, r) if box else r * np.linalg.norm(a, axis=1)
            ok &= (y == j) | (z[np.arange(len(y)), y] - z[:, j] > drop)
        return float(ok.mean())

    truth = exact(eps)
    assert 0.1 < truth < 0.95  # the radius matters: a test that can fail
    assert truth - 1e-12 <= res["robust_linf"] <= truth + 0.03, (res["robust_linf"], truth)
    assert not truth - 1e-12 <= exact(eps / 2) <= truth + 0.03  # control: another radius
    truth_2 = exact(eps_2, "l2")
    assert 0.1 < truth_2 < 0.95 and res["eps_l2"] == eps_2
    assert truth_2 - 1e-12 <= res["robust_l2"] <= truth_2 + 0.03, (res["robust_l2"], truth_2)
    for control in (exact(eps_2 / 2, "l2"), exact(eps_2, "l2", box=False)):
        assert not truth_2 - 1e-12 <= control <= truth_2 + 0.03, control


def test_lipschitz_rows_equal_the_softmax_jacobian_of_a_linear_classifier(digits):
    """dp/dx of p = softmax(A x + c) is (diag p - p p^T) A: the check's spectral norms of it
    (mean and 95% quantile over its points) equal that closed form; controls: the closed form
    of the classifier at half its scale, and |A|_2 (the logits' constant), do not."""
    from sklearn.linear_model import LogisticRegression

    clf = LogisticRegression(max_iter=2000).fit(digits.x_train.reshape(-1, 64), digits.y_train)
    cfg = CheckConfig(data="digits-img", lipschitz_points=40)
    stage = ResidualStage(_Masked(clf.coef_, clf.intercept_, False), StageSpec("stage"))
    res = measure.lipschitz(stage, digits, Setting("plain"), cfg, 0)
    idx = measure.measured_points(digits, 40)
    x = digits.x_test[idx].reshape(-1, 64).astype(float)

    def norms(scale: float) -> np.ndarray:
        A, c = scale * 5 * clf.coef_, scale * 5 * clf.intercept_
        z = x @ A.T + c
        p = np.exp(z - z.max(1, keepdims=True))
        p /= p.sum(1, keepdims=True)
        return np.array([np.linalg.norm((np.diag(q) - np.outer(q, q)) @ A, 2) for q in p])

    exact = norms(1.0)
    assert res["points"] == 40
    assert res["mean"] == pytest.approx(exact.mean(), rel=1e-4)
    assert res["q95"] == pytest.approx(np.quantile(exact, 0.95), rel=1e-4)
    # controls: the classifier at half its scale, and the logits' Lipschitz constant |A|_2
    assert res["mean"] != pytest.approx(norms(0.5).mean(), rel=0.05)
    assert res["mean"] < 0.5 * np.linalg.norm(5 * clf.coef_, 2)


def test_a_factory_with_lazy_modules_is_built_seeded_and_checked(tmp_path):
    """nn.LazyLinear draws its weights at its first call, not when built: the check's stage
    summary failed on the unmaterialised parameters ("Attempted to use an uninitialized
    parameter"), and the weights came from whatever the global generator held at the first
    forward, not from the check's seed. Now the first pass runs under the seed: one seed
    gives the same network whatever ran before, two seeds give two, and the check runs."""
    from validation.studies.check.study import build, same_initialisation

    factory = tmp_path / "lazy.py"
    factory.write_text(
        "import torch\nfrom torch import nn\n\n"
        "class Block(nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.f = nn.LazyLinear(8)\n"
        "    def forward(self, z):\n"
        "        return z + 0.2 * torch.tanh(self.f(z))\n\n"
        "def make():\n"
        "    return nn.Sequential(nn.Flatten(), nn.LazyLinear(8),\n"
        "                         nn.Sequential(*[Block() for _ in range(3)]),\n"
        "                         nn.LazyLinear(10))\n")
    data = digits_images()
    cfg = CheckConfig(model=f"{factory}:make", stage="2", data="digits-img")
    states = []
    for seed in (0, 0, 1):
        torch.rand(7)  # other work on the global generator between two builds
        states.append(build(cfg, data, seed).model.state_dict())
    same = [all(torch.equal(a[k], b[k]) for k in a) for a, b in ((states[0], states[1]),
                                                                 (states[0], states[2]))]
    assert same == [True, False]
    assert not same_initialisation(f"{factory}:make", torch.as_tensor(data.x_train[:2]))
    stage, _ = _check_user(factory, "make", "2", tmp_path / "run")
    assert stage["blocks"] == 3 and stage["feature_shape"] == [8]
    # its trained weights load into a fresh (unmaterialised) model: the shape check skipped
    # the lazy parameters (it raised "Can't access the shape of an uninitialized parameter")
    from validation.nets.user import load_factory, load_weights

    torch.save(states[2], tmp_path / "w.pt")
    fresh = load_factory(f"{factory}:make")
    load_weights(fresh, str(tmp_path / "w.pt"))
    assert all(torch.equal(fresh.state_dict()[k], v) for k, v in states[2].items())
