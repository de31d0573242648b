r"""Built-in conv residual networks whose stage is the paper's flow: stem -> L residual blocks on
one feature shape -> pooling -> linear head.

Each block is z -> z + h f_l(z) with h = T / L and f_l = BN-ReLU-conv-BN-ReLU-conv (the
pre-activation block of He et al. 2016, identity shortcut), so the adapter reads
Delta_l = h f_l and the velocity v_l = f_l (docs/theory.md section 1): deeper stages at fixed T
are finer time steps of one flow. Inputs are normalised inside the stem by the training split's
per-channel mean and standard deviation, so attacks and radii act on the data's own units.

- ``resnet1d`` (C x W inputs, MNIST-1D): stem conv k = 5, stride 2 (40 -> 20 positions);
- ``resnet2d`` (C x H x W inputs, digit images, CIFAR-10): stem conv 3 x 3, stride 1.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from .adapter import AdapterError, ResidualStage, StageSpec


class ResBlock(nn.Module):
    """z -> z + h f(z), f = BN-ReLU-conv-BN-ReLU-conv (pre-activation), 1-D or 2-D."""

    def __init__(self, channels: int, h: float, dim: int):
        super().__init__()
        conv = nn.Conv1d if dim == 1 else nn.Conv2d
        norm = nn.BatchNorm1d if dim == 1 else nn.BatchNorm2d
        self.h = h
        self.f = nn.Sequential(norm(channels), nn.ReLU(), conv(channels, channels, 3, padding=1),
                               norm(channels), nn.ReLU(), conv(channels, channels, 3, padding=1))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return z + self.h * self.f(z)


class ConvResNet(nn.Module):
    """stem -> ``stage`` (L ResBlocks) -> BN-ReLU, global average pooling -> linear head."""

    def __init__(self, in_shape: tuple[int, ...], n_classes: int, *, blocks: int = 4,
                 width: int = 32, t_end: float = 1.0, mean=None, std=None):
        super().__init__()
        dim = len(in_shape) - 1
        if dim not in (1, 2):
            raise AdapterError(f"inputs of shape {in_shape}: a conv ResNet takes C x W or "
                               "C x H x W")
        if blocks < 1 or width < 1:
            raise AdapterError(f"blocks = {blocks}, width = {width}: both must be >= 1")
        c = in_shape[0]
        self.dim, self.t_end, self.width = dim, float(t_end), width
        shape = (1, c) + (1,) * dim
        self.register_buffer("mean", torch.as_tensor(
            np.zeros(c) if mean is None else mean, dtype=torch.float32).reshape(shape))
        self.register_buffer("std", torch.as_tensor(
            np.ones(c) if std is None else std, dtype=torch.float32).reshape(shape))
        conv = nn.Conv1d(c, width, 5, stride=2, padding=2) if dim == 1 else \
            nn.Conv2d(c, width, 3, padding=1)
        self.stem = conv
        self.stage = nn.Sequential(*[ResBlock(width, t_end / blocks, dim) for _ in range(blocks)])
        norm = nn.BatchNorm1d if dim == 1 else nn.BatchNorm2d
        pool = nn.AdaptiveAvgPool1d(1) if dim == 1 else nn.AdaptiveAvgPool2d(1)
        self.head = nn.Sequential(norm(width), nn.ReLU(), pool, nn.Flatten(),
                                  nn.Linear(width, n_classes))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """z_0 = stem((x - mean) / std)."""
        return self.stem((x - self.mean) / self.std)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.stage(self.features(x)))


@dataclass(frozen=True)
class NetFactory:
    """A built-in network: its input rank and its constructor."""

    name: str
    rank: int  # 2: C x W, 3: C x H x W
    description: str
    build: Callable[..., nn.Module]


FACTORIES: dict[str, NetFactory] = {
    "resnet1d": NetFactory("resnet1d", 2, "1-D conv ResNet (MNIST-1D)", ConvResNet),
    "resnet2d": NetFactory("resnet2d", 3, "2-D conv ResNet (digit images, CIFAR-10)",
                           ConvResNet),
}


def channel_stats(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and standard deviation of inputs of shape N x C x ..."""
    axes = (0,) + tuple(range(2, x.ndim))
    return x.mean(axis=axes), np.maximum(x.std(axis=axes), 1e-8)


def build_network(name: str, data, *, blocks: int = 4, width: int = 32, t_end: float = 1.0,
                  seed: int = 0) -> nn.Module:
    """FACTORIES[name] for the data set's input shape and classes, initialised with ``seed``
    (inside fork_rng: the global generator is left as it was)."""
    if name not in FACTORIES:
        raise AdapterError(f"unknown network {name!r}; valid: {', '.join(FACTORIES)} or "
                           "FILE.py:FACTORY")
    fac = FACTORIES[name]
    if len(data.shape) != fac.rank:
        want = "C x W" if fac.rank == 2 else "C x H x W"
        other = [n for n, f in FACTORIES.items() if f.rank == len(data.shape)]
        raise AdapterError(f"--model {name} takes {want} inputs, {data.name} has shape "
                           f"{data.shape}" + (f"; use --model {other[0]}" if other else ""))
    mean, std = channel_stats(data.x_train)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return fac.build(data.shape, data.n_classes, blocks=blocks, width=width, t_end=t_end,
                         mean=mean, std=std)


def conv_stage(model: ConvResNet) -> ResidualStage:
    """The built-in network's stage through the adapter (stem and head called directly)."""
    return ResidualStage(model, StageSpec("stage", model.t_end), stem=model.features,
                         head=model.head)
