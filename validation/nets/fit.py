r"""Training any adapted residual network with a technique: the loop a practitioner would accept.

AdamW with a one-cycle learning-rate schedule (Smith and Topin 2019: warm-up to ``lr``, cosine
decay to ~0), cross-entropy on the technique's network (its noise or dropout live in training),
the data's usual augmentation where there is one (``crop-flip``: CIFAR-10's 4-pixel padded
random crop and horizontal flip; MNIST-1D and the 8 x 8 digits have none in their
publications), a fixed number of epochs and the last epoch's weights (no early stopping: the
split stays train / test as published).

Reproducible: shuffling, augmentation and the technique's draws come from explicit generators,
the global torch generator (a user's own nn.Dropout) is forked and seeded, and a checkpoint is
written atomically after every epoch with the model, optimiser, schedule and every generator
state, so a run resumed from it ends bit-identical to one that was never interrupted (on CPU).
"""

from __future__ import annotations

import hashlib
import io
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn

from validation.store.io import atomic_write_bytes

from .adapter import AdapterError, ResidualStage
from .techniques import (
    check_strength,
    injected,
    refuse_recomputed_stage,
    refuse_trainable_weights,
)
from .train import resolve_device

AUGMENTATIONS = ("none", "crop-flip")


@dataclass(frozen=True, kw_only=True)
class FitConfig:
    """Everything the training loop needs besides the model and the data."""

    technique: str = "plain"
    strength: float = 0.0
    epochs: int = 20
    lr: float = 1e-2  # one-cycle peak
    batch_size: int = 64
    weight_decay: float = 5e-4
    augment: str = "none"
    seed: int = 0
    device: str = "cpu"

    def __post_init__(self) -> None:
        check_strength(self.technique, self.strength)
        for name in ("epochs", "batch_size"):
            if int(getattr(self, name)) < 1:
                raise AdapterError(f"{name} = {getattr(self, name)}; must be >= 1")
        if not (self.lr > 0 and self.weight_decay >= 0):
            raise AdapterError(f"lr = {self.lr}, weight_decay = {self.weight_decay}: lr > 0 and "
                               "weight_decay >= 0")
        if self.augment not in AUGMENTATIONS:
            raise AdapterError(f"augment = {self.augment!r}; valid: {', '.join(AUGMENTATIONS)}")

    def key(self) -> str:
        """Content hash of the config (a checkpoint resumes only under the same key)."""
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:16]


def crop_flip(x: torch.Tensor, generator: torch.Generator, pad: int = 4) -> torch.Tensor:
    """Random crop of the zero-padded image (pad pixels each side) and a horizontal flip with
    probability 1/2, per image (C x H x W batches)."""
    n, _, H, W = x.shape
    padded = nn.functional.pad(x, (pad, pad, pad, pad))
    dy = torch.randint(0, 2 * pad + 1, (n,), generator=generator)
    dx = torch.randint(0, 2 * pad + 1, (n,), generator=generator)
    flip = torch.rand(n, generator=generator) < 0.5
    rows = (dy[:, None] + torch.arange(H)[None]).to(x.device)
    cols = (dx[:, None] + torch.arange(W)[None]).to(x.device)
    cols = torch.where(flip.to(x.device)[:, None], cols.flip(1), cols)
    idx = torch.arange(n, device=x.device)[:, None, None]
    out = padded.permute(0, 2, 3, 1)[idx, rows[:, :, None], cols[:, None, :]]
    return out.permute(0, 3, 1, 2).contiguous()


def batches(order: torch.Tensor, size: int) -> list[torch.Tensor]:
    """The indices ``order`` in batches of ``size``, a last batch of one point joined to the
    one before: BatchNorm in training refuses a batch of one ("Expected more than 1 value per
    channel"), which a training set of k * size + 1 points met at the end of every epoch."""
    parts = list(order.split(size))
    if len(parts) > 1 and len(parts[-1]) == 1:
        parts[-2:] = [torch.cat(parts[-2:])]
    return parts


def _state(model, opt, sched, gens, epoch, history, cfg) -> bytes:
    buf = io.BytesIO()
    torch.save({"key": cfg.key(), "config": asdict(cfg), "epoch": epoch,
                "model": model.state_dict(), "opt": opt.state_dict(),
                "sched": sched.state_dict(), "torch_rng": torch.get_rng_state(),
                "gens": [g.get_state() for g in gens], "history": history}, buf)
    return buf.getvalue()


def fit(stage: ResidualStage, x_train, y_train, cfg: FitConfig, *,
        checkpoint: str | Path | None = None, progress: bool = True) -> dict:
    """Train ``stage.model`` in place (see the module docstring); returns the history
    (per-epoch training loss and accuracy on the noisy batches, seconds per epoch).
    ``checkpoint``: a file written after every epoch and resumed from when its config matches.
    A stage read with the forward's own skip weights is read again on the trained weights
    (ResidualStage.settle), and refused for a technique where training moves those weights
    (techniques.refuse_trainable_weights)."""
    dev = resolve_device(cfg.device)
    model = stage.model.to(dev)
    dtype = next(model.parameters()).dtype
    X = torch.as_tensor(x_train, dtype=dtype).to(dev)
    Y = torch.as_tensor(y_train, dtype=torch.long).to(dev)
    if not stage.settled:  # how the blocks are read (and so where noise goes), before work
        stage.probe(X[:2])
    if cfg.strength > 0:
        refuse_recomputed_stage(stage, [cfg.technique], X[:2])
        refuse_trainable_weights(stage, [cfg.technique], X[:2])
    if cfg.augment == "crop-flip" and X.dim() != 4:
        raise AdapterError(f"augment crop-flip needs images (N x C x H x W), got {tuple(X.shape)}")
    steps = len(batches(torch.arange(len(X)), cfg.batch_size))
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr / 25, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, cfg.lr, total_steps=cfg.epochs * steps)
    shuffle = torch.Generator().manual_seed(cfg.seed + 11)
    augment = torch.Generator().manual_seed(cfg.seed + 12)
    noise = torch.Generator(device=dev).manual_seed(cfg.seed + 13)
    gens = (shuffle, augment, noise)
    history: dict = {"epoch": [], "train_loss": [], "train_acc": [], "seconds": []}
    start = 0
    path = Path(checkpoint) if checkpoint is not None else None
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed + 14)
        if path is not None and path.is_file():
            blob = torch.load(path, map_location=dev, weights_only=False)
            if blob.get("key") == cfg.key():
                model.load_state_dict(blob["model"])
                opt.load_state_dict(blob["opt"])
                sched.load_state_dict(blob["sched"])
                torch.set_rng_state(blob["torch_rng"])
                for g, s in zip(gens, blob["gens"], strict=True):
                    g.set_state(s)
                history, start = blob["history"], int(blob["epoch"])
        bar = None
        if progress and start < cfg.epochs:
            from tqdm import tqdm

            bar = tqdm(total=cfg.epochs, initial=start, leave=False,
                       desc=f"fit {cfg.technique} {cfg.strength:g} seed {cfg.seed}")
        with injected(stage, cfg.technique, cfg.strength, noise):
            for epoch in range(start, cfg.epochs):
                t0 = time.perf_counter()
                model.train()
                total = correct = 0.0
                for idx in batches(torch.randperm(len(X), generator=shuffle),
                                   cfg.batch_size):
                    idx = idx.to(dev)
                    xb = X[idx] if cfg.augment == "none" else crop_flip(X[idx], augment)
                    logits = model(xb)
                    loss = nn.functional.cross_entropy(logits, Y[idx])
                    if not torch.isfinite(loss):
                        raise FloatingPointError(
                            f"training diverged: the loss became {float(loss.detach())} at "
                            f"epoch {epoch} ({cfg.technique} {cfg.strength:g}, seed "
                            f"{cfg.seed}); lower --lr or check the data for non-finite values")
                    opt.zero_grad(set_to_none=True)
                    loss.backward()
                    opt.step()
                    sched.step()
                    total += float(loss.detach()) * len(idx)
                    correct += float((logits.detach().argmax(1) == Y[idx]).sum())
                history["epoch"].append(epoch)
                history["train_loss"].append(total / len(X))
                history["train_acc"].append(correct / len(X))
                history["seconds"].append(time.perf_counter() - t0)
                if path is not None:
                    atomic_write_bytes(path, _state(model, opt, sched, gens, epoch + 1, history,
                                                    cfg))
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix(loss=f"{total / len(X):.3f}")
        if bar is not None:
            bar.close()
    model.eval()
    # read again on the trained weights: skip weights of the forward's own (ReZero's alpha),
    # and the arguments it gives the blocks (a time computed from a trained parameter)
    if stage.spec.reading == "residual" or stage.bound is not None:
        stage.settle(X[:2])
    return history
