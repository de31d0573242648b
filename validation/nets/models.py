r"""Residual networks with noise: the discrete evolution operators of docs/theory.md section 1.

    z_0 = encoder(x),  z_{l+1} = z_l + h g_l(z_l) + sigma sqrt(h) xi_l,  h = T / L,
    logits = base(z_L),

xi_l i.i.d. standard normal per sample. The noise is live in train *and* eval mode (never gated
on ``.training``, never scaled by batch statistics) and drawn from an optional seeded
``torch.Generator``. sigma = 0 is a plain ResNet. ``substeps = r`` splits each block into r
steps of size h/r with the same g_l (refinement of the block step at a fixed trained model).
"""

from __future__ import annotations

import math

import torch
from torch import nn


class ModelError(ValueError):
    """Bad model configuration."""


def block_mlp(dim: int, hidden: int) -> nn.Sequential:
    """The residual branch g_l: dim -> hidden -> dim, tanh (smooth, Lipschitz velocity)."""
    return nn.Sequential(nn.Linear(dim, hidden), nn.Tanh(), nn.Linear(hidden, dim))


class DiffusionResNet(nn.Module):
    """Encoder (optional) -> L noisy residual blocks on a feature space R^d -> linear base."""

    def __init__(self, in_dim: int, n_classes: int, *, feature_dim: int = 2, blocks: int = 10,
                 t_end: float = 1.0, sigma: float = 0.0, hidden: int = 16,
                 encoder: bool | None = None):
        super().__init__()
        if blocks < 1 or t_end <= 0 or sigma < 0 or hidden < 1:
            raise ModelError(f"need blocks >= 1, t_end > 0, sigma >= 0, hidden >= 1; got "
                             f"blocks={blocks}, t_end={t_end}, sigma={sigma}, hidden={hidden}")
        if n_classes < 2:
            raise ModelError(f"n_classes = {n_classes}; a classifier needs at least 2")
        use_encoder = (in_dim != feature_dim) if encoder is None else encoder
        if not use_encoder and in_dim != feature_dim:
            raise ModelError(f"in_dim {in_dim} != feature_dim {feature_dim}: enable the encoder")
        self.in_dim, self.feature_dim, self.n_classes = in_dim, feature_dim, n_classes
        self.t_end, self.sigma = float(t_end), float(sigma)
        # the encoder ends in a sigmoid so that features live in the box [0, 1]^d like 2-D data
        self.encoder = (nn.Sequential(nn.Linear(in_dim, 32), nn.Tanh(),
                                      nn.Linear(32, feature_dim), nn.Sigmoid())
                        if use_encoder else nn.Identity())
        self.blocks = nn.ModuleList(block_mlp(feature_dim, hidden) for _ in range(blocks))
        self.base = nn.Linear(feature_dim, n_classes)

    @property
    def n_blocks(self) -> int:
        return len(self.blocks)

    @property
    def step(self) -> float:
        """h = T / L."""
        return self.t_end / self.n_blocks

    def config(self) -> dict:
        return {"in_dim": self.in_dim, "n_classes": self.n_classes,
                "feature_dim": self.feature_dim, "blocks": self.n_blocks, "t_end": self.t_end,
                "sigma": self.sigma, "hidden": self.blocks[0][0].out_features,
                "encoder": not isinstance(self.encoder, nn.Identity)}

    def flow(self, z: torch.Tensor, *, generator: torch.Generator | None = None,
             substeps: int = 1, noise: list[torch.Tensor] | None = None,
             return_path: bool = False, energy: list | None = None):
        """Run the blocks on features z (N, d). ``noise`` fixes the increments xi (one tensor
        (N, d) per sub-step) instead of drawing them; returns z_L (and the path if asked).
        ``energy``, a list, receives h * mean_batch |g(z)|^2 per sub-step: summed, the kinetic
        energy int_0^T |v|^2 dt of the flow (the training's flow penalty)."""
        if substeps < 1:
            raise ModelError(f"substeps = {substeps}; must be >= 1")
        from .stepping import euler_maruyama

        dt = self.step / substeps

        def increment(l: int, z: torch.Tensor, r: int) -> torch.Tensor:
            v = self.blocks[l](z)
            if energy is not None:
                energy.append(dt * (v**2).sum(1).mean())
            return dt * v

        out = euler_maruyama(increment, self.n_blocks, self.step, z, sigma=self.sigma,
                             substeps=substeps, generator=generator, noise=noise,
                             path="step" if return_path else None)
        return (out[0], torch.stack(out[1])) if return_path else out

    def forward(self, x: torch.Tensor, *, generator: torch.Generator | None = None,
                substeps: int = 1, noise: list[torch.Tensor] | None = None) -> torch.Tensor:
        """Logits of one noisy pass (noise live in every mode; ``noise`` fixes the increments)."""
        return self.base(self.flow(self.encoder(x), generator=generator, substeps=substeps,
                                   noise=noise))

    def predict_proba(self, x: torch.Tensor, samples: int = 32, *,
                      generator: torch.Generator | None = None, substeps: int = 1,
                      return_stderr: bool = False):
        """Softmax averaged over ``samples`` noise draws (Monte Carlo estimate of u(., T))."""
        if samples < 1:
            raise ModelError(f"samples = {samples}; must be >= 1")
        if self.sigma == 0:
            samples = 1  # deterministic: one pass is exact
        z0 = self.encoder(x)
        rep = z0.repeat(samples, 1)
        p = torch.softmax(self.base(self.flow(rep, generator=generator, substeps=substeps)), -1)
        p = p.reshape(samples, x.shape[0], -1)
        mean = p.mean(0)
        if not return_stderr:
            return mean
        se = p.std(0, unbiased=True) / math.sqrt(samples) if samples > 1 else torch.zeros_like(
            mean)
        return mean, se


def stacked_logits(model: DiffusionResNet, params: dict[str, torch.Tensor], x: torch.Tensor,
                   noise: list[torch.Tensor] | None = None) -> torch.Tensor:
    """Logits of K networks at once: ``params`` maps each parameter name of ``model`` to a
    stack (K, ...) of values; x (n, in_dim) is shared; ``noise`` fixes the increments (one
    (n, d) tensor per block, shared by the K networks). Returns (K, n, classes).

    The same recursion as :meth:`DiffusionResNet.flow` (nets.stepping, one sub-step per
    block; no noise when ``noise`` is None), with blocks written as batched matrix products
    so that K parameter sets cost one pass (the Rademacher ascent optimises K sign draws
    together); tests compare it with ``functional_call`` per draw.
    """
    def affine(prefix: str, z: torch.Tensor) -> torch.Tensor:
        W, b = params[f"{prefix}.weight"], params[f"{prefix}.bias"]
        return torch.baddbmm(b.unsqueeze(1), z, W.transpose(1, 2))

    k = next(iter(params.values())).shape[0]
    z = x.unsqueeze(0).expand(k, *x.shape)
    if not isinstance(model.encoder, nn.Identity):
        z = torch.sigmoid(affine("encoder.2", torch.tanh(affine("encoder.0", z))))
    from .stepping import euler_maruyama

    h = model.step
    z = euler_maruyama(lambda i, z, r: h * affine(f"blocks.{i}.2",
                                                  torch.tanh(affine(f"blocks.{i}.0", z))),
                       model.n_blocks, h, z, sigma=model.sigma if noise is not None else 0.0,
                       noise=noise)
    return affine("base", z)
