r"""Certificates and measured Lipschitz constants: randomized smoothing (Cohen, Rosenfeld,
Kolter 2019) with a Clopper-Pearson bound, the Lipschitz-margin certificate and the
heat-semigroup bound where it applies (theory.bounds)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from validation.studies.attacks import AttackError, Logits, mean_probs


def clopper_pearson_lower(k: int, n: int, alpha: float) -> float:
    """One-sided (1 - alpha) lower confidence bound of a binomial proportion."""
    from scipy.stats import beta

    return 0.0 if k == 0 else float(beta.ppf(alpha, k, n - k + 1))


@dataclass(frozen=True)
class Certificate:
    prediction: int  # -1: abstain
    radius: float  # certified l2 radius (0 when abstaining)
    p_lower: float


def certify_smoothed(model: Logits, x: torch.Tensor, sigma_in: float, *, n0: int = 64,
                     n: int = 512, alpha: float = 0.001, generator: torch.Generator | None = None
                     ) -> list[Certificate]:
    """Randomized smoothing (Cohen, Rosenfeld, Kolter 2019) of the deployed network with input
    noise N(0, sigma_in^2 I): select the class on n0 draws, estimate its probability on n
    independent draws, Clopper-Pearson lower bound p_A; certified l2 radius sigma_in
    Phi^-1(p_A) when p_A > 1/2, else abstain."""
    from scipy.stats import norm as normal

    if sigma_in <= 0:
        raise AttackError(f"sigma_in = {sigma_in}: randomized smoothing needs sigma_in > 0")
    out = []
    with torch.no_grad():
        for i in range(x.shape[0]):
            xi = x[i:i + 1]

            def counts(m, xi=xi):
                z = xi.repeat(m, 1) + sigma_in * torch.randn((m, x.shape[1]), generator=generator,
                                                             dtype=x.dtype)
                logits = model(z, generator=generator)
                # every class counted (a class absent from these draws counts 0, not an
                # IndexError when it was the top class of the selection draws)
                return torch.bincount(logits.argmax(1), minlength=logits.shape[1])
            c0 = counts(n0)
            top = int(c0.argmax())
            k = int(counts(n)[top])
            p = clopper_pearson_lower(k, n, alpha)
            if p > 0.5:
                out.append(Certificate(top, float(sigma_in * normal.ppf(p)), p))
            else:
                out.append(Certificate(-1, 0.0, p))
    return out


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
