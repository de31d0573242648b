r"""Certificates and measured Lipschitz constants: randomized smoothing (Cohen, Rosenfeld,
Kolter 2019) with a Clopper-Pearson bound, the Lipschitz-margin certificate and the
heat-semigroup bound where it applies (theory.bounds)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from validation.studies.attacks import Logits, mean_probs
from validation.studies.smoothing import (  # noqa: F401 (the robustness package's API)
    ALPHA,
    N0,
    N,
    certified_accuracy,
    certify_batch,
    clopper_pearson_lower,
    max_certified_radius,
)


@dataclass(frozen=True)
class Certificate:
    prediction: int  # -1: abstain
    radius: float  # certified l2 radius (0 when abstaining)
    p_lower: float


def certify_smoothed(model: Logits, x: torch.Tensor, sigma_in: float, *, n0: int = 64,
                     n: int = 512, alpha: float = 0.001, generator: torch.Generator | None = None
                     ) -> list[Certificate]:
    """:func:`certify_batch` as one Certificate per point (the moons study's interface)."""
    c = certify_batch(model, x, sigma_in, n0=n0, n=n, alpha=alpha, generator=generator)
    return [Certificate(int(p), float(r), float(q))
            for p, r, q in zip(c["prediction"], c["radius"], c["p_lower"], strict=True)]


def lipschitz_certified(margins: np.ndarray, lipschitz: float, eps: float) -> np.ndarray:
    """Certified at l2 radius eps if p_y - max_{c != y} p_c > 2 L eps (each p_c is L-Lipschitz)."""
    return margins > 2 * lipschitz * eps


def heat_certified(certs: list[Certificate], labels: np.ndarray, sigma_in: float, eps: float
                   ) -> np.ndarray:
    """The heat-semigroup bound where it applies: the smoothed class probabilities are
    G_{sigma_in} * 1{class} with values in [0, 1], so Lip <= 1/(sigma_in sqrt(2 pi))
    (theory.bounds); with p_A >= p_lower, the margin is at least 2 p_lower - 1."""
    from theory.bounds import heat_lipschitz_bound

    lip = heat_lipschitz_bound(sigma_in, 1.0)
    margins = np.array([2 * c.p_lower - 1 if c.prediction == t else -1.0
                        for c, t in zip(certs, labels, strict=True)])
    return lipschitz_certified(margins, lip, eps)


def autograd_lipschitz(model: Logits, x: torch.Tensor, draws: int, seed: int) -> float:
    """max over points of |grad_x p_c(x)| for the noise-averaged probabilities, with common
    random numbers (the same draws at every point of the gradient evaluation)."""
    worst = 0.0
    for c in range(2):
        xa = x.clone().requires_grad_(True)
        g = torch.Generator().manual_seed(seed)
        p = mean_probs(model, xa, draws, g)[:, c].sum()
        (grad,) = torch.autograd.grad(p, xa)
        worst = max(worst, float(grad.norm(dim=1).max()))
    return worst
