r"""Randomized smoothing (Cohen, Rosenfeld, Kolter 2019) in any dimension and input shape,
batched over points and draws, shared by the robustness study and ``cdverify check``: the
one-sided Clopper-Pearson bound, the certificate of a randomised base classifier and the
certified accuracy against radius."""

from __future__ import annotations

import math

import numpy as np
import torch

from validation.studies.attacks import AttackError, Logits


def clopper_pearson_lower(k, n, alpha: float):
    """One-sided (1 - alpha) Clopper-Pearson lower confidence bound of a binomial proportion:
    the alpha quantile of Beta(k, n - k + 1), 0 at k = 0 (scipy's
    ``binomtest(k, n).proportion_ci(1 - 2 alpha, 'exact').low``, tested); k may be an array."""
    from scipy.stats import beta

    k = np.asarray(k)
    out = np.where(k > 0, beta.ppf(alpha, np.maximum(k, 1), n - k + 1), 0.0)
    return float(out) if out.ndim == 0 else out


#: defaults of the certificate (Cohen et al. use n0 = 100, n = 100,000, alpha = 0.001). With
#: n draws the largest lower bound is alpha^(1/n) (all n votes for the class), so the largest
#: certifiable radius is s Phi^-1(alpha^(1/n)): 2.46 s at n = 1,000 (0.0025 s at n = 10, where
#: almost every point abstains), against 3.8 s at Cohen's n; 1,000 passes a point is what a
#: CPU affords for 100 points of a conv net in seconds. n0 = 100 selects the top class.
N0, N, ALPHA = 100, 1000, 0.001


def max_certified_radius(sigma: float, n: int = N, alpha: float = ALPHA) -> float:
    """The largest radius n draws can certify at level alpha: s Phi^-1(alpha^(1/n))."""
    from scipy.stats import norm as normal

    return float(sigma * normal.ppf(alpha ** (1.0 / n)))


def _vote_counts(base: Logits, x: torch.Tensor, sigma: float, m: int, batch: int,
                 generator: torch.Generator | None) -> np.ndarray:
    """(N, C) counts of the base classifier's votes at m draws x + N(0, sigma^2 I) per point,
    in batches of about ``batch`` noisy inputs (points and draws together)."""
    n_pts = x.shape[0]
    per = max(1, min(m, batch))  # draws of one point per forward pass
    pts = max(1, batch // per)  # points per forward pass
    counts = None
    for i in range(0, n_pts, pts):
        xi = x[i:i + pts]
        done = 0
        while done < m:
            k = min(per, m - done)
            z = xi.repeat_interleave(k, 0)
            z = z + sigma * torch.randn(z.shape, generator=generator, dtype=z.dtype,
                                        device=z.device)
            logits = base(z, generator=generator)
            votes = logits.argmax(1).reshape(len(xi), k).cpu()
            if counts is None:
                counts = np.zeros((n_pts, logits.shape[1]), dtype=np.int64)
            counts[i:i + len(xi)] += torch.nn.functional.one_hot(
                votes, counts.shape[1]).sum(1).numpy()
            done += k
    return counts


def certify_batch(base: Logits, x: torch.Tensor, sigma: float, *, n0: int = N0, n: int = N,
                  alpha: float = ALPHA, batch: int = 4096,
                  generator: torch.Generator | None = None) -> dict:
    r"""Randomized smoothing (Cohen, Rosenfeld, Kolter 2019) of a randomised base classifier
    ``base(x, generator) -> logits`` (its own internal noise included: the theorem holds for
    a random base classifier, whose vote probabilities average over it) with input noise
    N(0, sigma^2 I), for every point of x (any shape) at once: select the top class c_A on n0
    draws, count its votes k on n independent draws, p_A_lower = the one-sided Clopper-Pearson
    bound at level alpha; certified l2 radius sigma Phi^-1(p_A_lower) when p_A_lower > 1/2,
    else abstain (prediction -1, radius 0). Returns arrays ``prediction``, ``radius``,
    ``p_lower``, ``counts`` (the n draws' votes, N x C) and the settings."""
    from scipy.stats import norm as normal

    if not (sigma > 0 and math.isfinite(sigma)):
        raise AttackError(f"sigma = {sigma}: randomized smoothing needs a finite sigma > 0")
    for name, v in (("n0", n0), ("n", n), ("batch", batch)):
        if int(v) < 1:
            raise AttackError(f"{name} = {v}; must be >= 1")
    if not 0 < alpha < 0.5:
        raise AttackError(f"alpha = {alpha}; must be in (0, 0.5)")
    with torch.no_grad():
        top = _vote_counts(base, x, sigma, n0, batch, generator).argmax(1)
        counts = _vote_counts(base, x, sigma, n, batch, generator)
    k = counts[np.arange(len(top)), top]
    p_lower = np.atleast_1d(clopper_pearson_lower(k, n, alpha))
    certified = p_lower > 0.5
    radius = np.where(certified, sigma * normal.ppf(np.clip(p_lower, 0.5, 1.0)), 0.0)
    return {"prediction": np.where(certified, top, -1), "radius": radius, "p_lower": p_lower,
            "counts": counts, "sigma": sigma, "n0": n0, "n": n, "alpha": alpha,
            "max_radius": max_certified_radius(sigma, n, alpha)}


def certified_accuracy(cert: dict, labels, radii) -> dict[str, float]:
    """Fraction of points whose certified prediction is the label with radius >= r, per r."""
    labels = np.asarray(labels)
    ok = cert["prediction"] == labels
    return {f"{r:g}": float(np.mean(ok & (cert["radius"] >= r))) for r in radii}
