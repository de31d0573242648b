r"""The diffusion training method (docs/theory.md): cross-entropy on noisy passes.

Each batch goes through the network with fresh noise (sigma > 0), so the loss is an unbiased
estimate of E_xi CE(base(z_L), y): the network is trained as the random evolution operator it
is. The checkpoint kept is the one with the best validation accuracy of the deployed predictor
(softmax averaged over ``eval_samples`` draws, a fixed evaluation generator). Seeded end to end:
initialisation inside ``torch.random.fork_rng`` (no global state leaks), noise and shuffling
from explicit generators.
"""

from __future__ import annotations

import copy
import io
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from validation.store.io import atomic_write_bytes, write_json
from validation.store.seal import file_sha256

from .data import Dataset, make_dataset
from .models import DiffusionResNet


@dataclass(frozen=True, kw_only=True)
class TrainConfig:
    """Everything that determines a trained model."""

    data: str = "moons"
    n: int = 1200
    noise: float = 0.15
    sigma: float = 0.3
    t_end: float = 1.0
    blocks: int = 10
    hidden: int = 32
    epochs: int = 100
    lr: float = 0.05
    batch_size: int = 128
    # no weight decay: it shrank encoder and head too, and the models ended up linear
    # classifiers (moons: 0.89 test, as logistic regression)
    weight_decay: float = 0.0
    # lambda of the kinetic-energy penalty lambda int_0^T |v|^2 dt on the flow: keeps the
    # velocities, and so the PDE's feature box, moderate (moons, sigma 0.3: box 24 wide without
    # it, 7 with lambda = 0.02) while the decision boundary stays nonlinear (test 0.98)
    flow_penalty: float = 0.02
    # the blocks' weight decay is weight_decay * decay_ref_blocks / blocks: the L2 penalty on
    # the velocity parameters as a Riemann sum (step h) of int_0^T |theta(t)|^2 dt, so that it
    # weighs the same against the loss at every depth (each block's loss gradient is O(h)).
    # With one decay for every block, digits at L = 80 trained to 0.51 test (0.92 with this).
    # None: every parameter takes weight_decay.
    decay_ref_blocks: int | None = 10
    eval_samples: int = 16
    seed: int = 0
    device: str = "cpu"

    def key(self) -> str:
        """Content hash of the config (cache key)."""
        import hashlib

        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:16]


# digits: ten classes pushed apart in a 2-D feature space stretch the flow; weight decay keeps
# the PDE box ~12 wide and a finer grid resolves the base model there. The flow penalty alone
# (the 2-D default) collapses sigma = 0.3 training on digits (test 0.30), so digits keeps the
# weight decay; no 2-D-feature model beats the 64-D linear baseline on digits (0.98)
DATA_OVERRIDES = {"digits": {"weight_decay": 3e-3, "flow_penalty": 0.0, "epochs": 100,
                             "grid": 192}}


def data_overrides(data: str, *, epochs: bool = True) -> dict:
    """The data set's own TrainConfig settings (DATA_OVERRIDES; epochs left out when
    ``epochs`` is False, for a study whose epochs are its own)."""
    keep = ("weight_decay", "flow_penalty") + (("epochs",) if epochs else ())
    return {k: v for k, v in DATA_OVERRIDES.get(data, {}).items() if k in keep}


def data_grid(data: str, default: int) -> int:
    """The PDE grid (cells per axis) of the data set: its own where DATA_OVERRIDES sets one."""
    return DATA_OVERRIDES.get(data, {}).get("grid", default)


def sweep_config(spec, sigma: float, seed: int) -> TrainConfig:
    """The TrainConfig of one (sigma, seed) model of a sweep spec (data, epochs, blocks, device,
    and weight_decay / flow_penalty where the spec sets them, else TrainConfig's defaults)."""
    over = {k: getattr(spec, k) for k in ("weight_decay", "flow_penalty")
            if getattr(spec, k, None) is not None}
    return TrainConfig(data=spec.data, sigma=sigma, epochs=spec.epochs, seed=seed,
                       blocks=getattr(spec, "blocks", TrainConfig.blocks), device=spec.device,
                       **over)


def resolve_device(name: str) -> torch.device:
    """'cpu' or 'cuda' (clear error when CUDA is asked for but absent)."""
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"--device {name} requested but torch.cuda.is_available() is False "
                         f"(torch {torch.__version__}); use --device cpu or a CUDA build of torch")
    if name not in ("cpu",) and not name.startswith("cuda"):
        raise ValueError(f"unknown device {name!r}; valid: cpu, cuda, cuda:N")
    return torch.device(name)


def build_model(cfg: TrainConfig, data: Dataset) -> DiffusionResNet:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed)
        return DiffusionResNet(data.dim, data.n_classes, blocks=cfg.blocks, t_end=cfg.t_end,
                               sigma=cfg.sigma, hidden=cfg.hidden).double()


def param_groups(model: DiffusionResNet, cfg: TrainConfig) -> list[dict]:
    """Adam's parameter groups: encoder and head take ``weight_decay``; the residual blocks
    take weight_decay * decay_ref_blocks / L (depth-consistent; see TrainConfig)."""
    if cfg.decay_ref_blocks is not None and cfg.decay_ref_blocks < 1:
        raise ValueError(f"decay_ref_blocks = {cfg.decay_ref_blocks}: give a depth >= 1, or "
                         "None for one decay for every parameter")
    scale = 1.0 if cfg.decay_ref_blocks is None else cfg.decay_ref_blocks / model.n_blocks
    blocks = [p for n, p in model.named_parameters() if n.startswith("blocks.")]
    rest = [p for n, p in model.named_parameters() if not n.startswith("blocks.")]
    return [{"params": rest, "weight_decay": cfg.weight_decay},
            {"params": blocks, "weight_decay": cfg.weight_decay * scale}]


def accuracy(model: DiffusionResNet, x: torch.Tensor, y: torch.Tensor, samples: int,
             seed: int) -> float:
    g = torch.Generator(device=x.device).manual_seed(seed)
    with torch.no_grad():
        p = model.predict_proba(x, samples, generator=g)
    return float((p.argmax(-1) == y).double().mean())


def train(cfg: TrainConfig, data: Dataset | None = None, *, out: str | Path | None = None,
          progress: bool = True) -> tuple[DiffusionResNet, dict]:
    """Train a DiffusionResNet; returns the best-validation model and the history."""
    data = data or make_dataset(cfg.data, cfg.n, seed=cfg.seed, noise=cfg.noise)
    dev = resolve_device(cfg.device)
    model = build_model(cfg, data).to(dev)
    X = torch.tensor(data.x_train, dtype=torch.float64, device=dev)
    Y = torch.tensor(data.y_train, device=dev)
    Xv = torch.tensor(data.x_val, dtype=torch.float64, device=dev)
    Yv = torch.tensor(data.y_val, device=dev)
    # foreach: one kernel per step for all parameters instead of a Python loop over them (the
    # same arithmetic, bit for bit on the CPU; 7% of a moons training run)
    opt = torch.optim.Adam(param_groups(model, cfg), lr=cfg.lr, foreach=True)
    noise_gen = torch.Generator(device=dev).manual_seed(cfg.seed + 1)
    shuffle_gen = torch.Generator().manual_seed(cfg.seed + 2)
    loss_fn = nn.CrossEntropyLoss()
    history: dict = {"epoch": [], "train_loss": [], "val_acc": []}
    best = (-1.0, None, -1)
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=cfg.epochs, desc=f"train {cfg.data} sigma={cfg.sigma}", leave=False)
    start = time.perf_counter()
    for epoch in range(cfg.epochs):
        model.train()
        perm = torch.randperm(len(X), generator=shuffle_gen).to(dev)
        total = 0.0
        for i in range(0, len(X), cfg.batch_size):
            idx = perm[i:i + cfg.batch_size]
            if cfg.flow_penalty > 0:
                parts: list = []
                logits = model.base(model.flow(model.encoder(X[idx]), generator=noise_gen,
                                               energy=parts))
                loss = loss_fn(logits, Y[idx]) + cfg.flow_penalty * torch.stack(parts).sum()
            else:
                loss = loss_fn(model(X[idx], generator=noise_gen), Y[idx])
            if not torch.isfinite(loss):
                raise FloatingPointError(
                    f"training diverged: the loss became {float(loss.detach())} at epoch "
                    f"{epoch}, batch {i // cfg.batch_size} ({cfg.data}, sigma = {cfg.sigma}); "
                    "lower the learning rate or check the data for non-finite values")
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(idx)
        model.eval()
        acc = accuracy(model, Xv, Yv, cfg.eval_samples, cfg.seed + 3)
        history["epoch"].append(epoch)
        history["train_loss"].append(total / len(X))
        history["val_acc"].append(acc)
        if acc > best[0]:
            best = (acc, copy.deepcopy(model.state_dict()), epoch)
        if bar is not None:
            bar.update(1)
            bar.set_postfix(loss=f"{total / len(X):.3f}", val_acc=f"{acc:.3f}")
    if bar is not None:
        bar.close()
    model.load_state_dict(best[1])
    history.update(best_epoch=best[2], best_val_acc=best[0],
                   train_time_s=time.perf_counter() - start)
    if out is not None:
        save_model(model, cfg, history, out)
    return model, history


def save_model(model: DiffusionResNet, cfg: TrainConfig, history: dict, out: str | Path) -> None:
    """model.pt (state and architecture) and train.json (history, and the SHA-256 of model.pt),
    both written atomically."""
    out = Path(out)
    buf = io.BytesIO()
    torch.save({"state": model.state_dict(), "model": model.config(), "train": asdict(cfg)}, buf)
    atomic_write_bytes(out / "model.pt", buf.getvalue())
    # the weights' hash: a cache reads the model back only while it is the one trained here
    write_json(out / "train.json", {"history": history, "model": model.config(),
                                    "model_sha256": file_sha256(out / "model.pt")},
               config=asdict(cfg), seed=cfg.seed)


#: the training options (option, TrainConfig field) a loaded model's own config replaces
TRAINING_OPTIONS = (("--data", "data"), ("--sigma", "sigma"), ("--blocks", "blocks"),
                    ("--T", "t_end"), ("--epochs", "epochs"), ("--seed", "seed"),
                    ("--weight-decay", "weight_decay"), ("--flow-penalty", "flow_penalty"))


def refuse_overrides(path: str, cfg: TrainConfig, given: dict, defaults: dict) -> None:
    """A loaded model (``path``) is used with its own training ``cfg``: an option of
    TRAINING_OPTIONS ``given`` away from its default and from the model's value would be
    silently ignored (a spirals model validated with --data digits gave spirals' numbers), so
    it is refused by name."""
    from .errors import AdapterError

    clash = [f"{opt} {given[key]} (the model's: {getattr(cfg, key)})"
             for opt, key in TRAINING_OPTIONS
             if key in given and given[key] not in (defaults.get(key), getattr(cfg, key))]
    if clash:
        raise AdapterError(f"--model {path} carries its own training config, which replaces "
                           f"{'; '.join(clash)}: drop those options, or train anew without "
                           "--model")


def load_model(path: str | Path, device: str = "cpu") -> tuple[DiffusionResNet, TrainConfig]:
    """The model and its training config from a model.pt written by :func:`save_model`."""
    from .models import ModelError

    try:
        blob = torch.load(Path(path), map_location=resolve_device(device), weights_only=True)
        m = blob["model"]
    except FileNotFoundError:
        raise
    except Exception as exc:  # truncated zip, wrong pickle, missing keys ...
        from validation.store.io import load_failure

        why = load_failure(exc)
        raise ModelError(f"{path} is not a model.pt written by cdverify ({type(exc).__name__}: "
                         f"{why}); train again or pass another file") from exc
    model = DiffusionResNet(m["in_dim"], m["n_classes"], feature_dim=m["feature_dim"],
                            blocks=m["blocks"], t_end=m["t_end"], sigma=m["sigma"],
                            hidden=m["hidden"], encoder=m["encoder"]).double()
    model.load_state_dict(blob["state"])
    return model.to(resolve_device(device)), TrainConfig(**blob["train"])


def evaluate(model: DiffusionResNet, data: Dataset, samples: int = 64, seed: int = 0) -> dict:
    """Train/test accuracy and cross-entropy of the deployed predictor (softmax averaged over
    ``samples`` noise draws, a fixed generator), the linear baseline on the same split
    (nets.baseline) and whether the model beats it by its margin."""
    dev = next(model.parameters()).device
    out = {}
    for split in ("train", "test"):
        x = torch.tensor(getattr(data, f"x_{split}"), dtype=torch.float64, device=dev)
        y = torch.tensor(getattr(data, f"y_{split}"), device=dev)
        g = torch.Generator(device=dev).manual_seed(seed)
        with torch.no_grad():
            p = model.predict_proba(x, samples, generator=g)
        out[f"{split}_acc"] = float((p.argmax(-1) == y).double().mean())
        out[f"{split}_loss"] = float(-torch.log(p[torch.arange(len(y)), y].clamp_min(1e-12))
                                     .mean())
    from .baseline import MARGIN, beats_linear, linear_baseline

    base = linear_baseline(data)
    out |= base | {"beats_linear": beats_linear(out["test_acc"], base), "linear_margin": MARGIN}
    return out


def features(model: DiffusionResNet, x: np.ndarray) -> np.ndarray:
    """Encoder output z_0 for inputs x (numpy, float64)."""
    dev = next(model.parameters()).device
    with torch.no_grad():
        return model.encoder(torch.tensor(x, dtype=torch.float64, device=dev)).cpu().numpy()
