r"""The one recursion of every residual stage with the paper's diffusion: r Euler(-Maruyama)
sub-steps of size dt = h / r per block,

    z <- z + increment_l(z) + sigma sqrt(dt) xi,    xi ~ N(0, I) i.i.d.,

with increment_l(z) = dt v_l(z) (r = 1 and sigma = 0: the network itself). DiffusionResNet and
the adapter's ResidualStage both run it, so the toolkit's own network and a user's network read
through the adapter are one code path.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch


def euler_maruyama(increment: Callable[[int, torch.Tensor, int], torch.Tensor], blocks: int,
                   step: float, z: torch.Tensor, *, sigma: float = 0.0, substeps: int = 1,
                   generator: torch.Generator | None = None,
                   noise: list[torch.Tensor] | None = None, path: str | None = None):
    """z_L from z_0 (see the module docstring). ``increment(l, z, r)``: block l's drift over one
    of its r sub-steps; ``noise``: the increments xi, one tensor per sub-step, instead of draws
    from ``generator``; ``path``: None (z_L only), "block" or "step" ((z_L, [z_0, ...]) with
    one state per block or per sub-step)."""
    dt = step / substeps
    scale = sigma * math.sqrt(dt)
    states, i = [z], 0
    for l in range(blocks):
        for _ in range(substeps):
            z = z + increment(l, z, substeps)
            if sigma > 0:
                xi = noise[i] if noise is not None else torch.randn(
                    z.shape, generator=generator, device=z.device, dtype=z.dtype)
                z = z + scale * xi
            i += 1
            if path == "step":
                states.append(z)
        if path == "block":
            states.append(z)
    return (z, states) if path is not None else z
