r"""The certificate checked where the truth is known: 2-D inputs.

For a randomised base classifier F on R^2 and input noise N(0, s^2 I), the smoothed classifier
is g(x) = argmax_c P(F(x + delta) = c). In 2-D its class probabilities are a convolution,
P_c = G_s * q_c with q_c(z) = P(F(z) = c) (the vote fraction over F's own noise), so g is
computed on a regular grid to quadrature accuracy: q_c from ``draws`` passes per cell, the
Gaussian filter of scipy.ndimage (truncated at 4 s, on a grid reaching 4 s beyond the region
searched). On that map, for each test point x:

* the **exact robust radius** of g at x: the distance from x to the nearest grid cell whose
  class differs from g(x) (resolution: half a cell diagonal), searched up to ``r_max``;
* the **certified radius** of :func:`~validation.studies.robustness.certify.certify_batch`
  (Cohen et al. 2019, independent draws), which must not exceed the exact radius except with
  probability alpha per point;
* the **attack radius**: the smallest radius on a grid of radii at which l2 PGD on the soft
  smoothed surrogate E_delta softmax F(x + delta) (M common draws; Salman et al. 2019) finds a
  point that g classifies differently, which can be no smaller than the exact radius.

certified <= exact <= attack, with the violations of each inequality counted: the first is the
theorem (expected alpha N at most), the second the search's soundness (expected 0 beyond the
grid's resolution).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from validation.studies.attacks import AttackError, Logits, pgd

from .certify import ALPHA, N0, N, certify_batch, max_certified_radius


def smoothed_map(base: Logits, lo: np.ndarray, hi: np.ndarray, sigma: float, *,
                 spacing: float, draws: int = 16, generator: torch.Generator | None = None,
                 batch: int = 65536) -> dict:
    """g's class probabilities on the cell centres of the box [lo, hi] padded by 4 sigma:
    ``axes`` (x and y centres), ``probs`` (C, nx, ny), ``label`` (argmax)."""
    from scipy.ndimage import gaussian_filter

    pad = 4 * sigma + spacing
    axes = [np.arange(lo[i] - pad, hi[i] + pad + spacing, spacing) for i in range(2)]
    X, Y = np.meshgrid(*axes, indexing="ij")
    pts = torch.tensor(np.stack([X.ravel(), Y.ravel()], 1))
    votes = None
    with torch.no_grad():
        for i in range(0, len(pts), batch):
            part = pts[i:i + batch]
            for _ in range(draws):
                logits = base(part, generator=generator)
                cls = logits.argmax(1).numpy()
                if votes is None:
                    votes = np.zeros((int(logits.shape[1]), len(pts)))
                np.add.at(votes, (cls, np.arange(i, i + len(part))), 1.0)
    q = (votes / draws).reshape(-1, *X.shape)
    probs = np.stack([gaussian_filter(c, sigma / spacing, mode="nearest", truncate=4.0)
                      for c in q])
    return {"axes": axes, "probs": probs, "label": probs.argmax(0), "spacing": spacing,
            "sigma": sigma}


def label_at(smap: dict, x: np.ndarray) -> np.ndarray:
    """g at points x (nearest cell centre of the map)."""
    idx = [np.clip(np.rint((x[:, i] - smap["axes"][i][0]) / smap["spacing"]).astype(int), 0,
                   len(smap["axes"][i]) - 1) for i in range(2)]
    return smap["label"][idx[0], idx[1]]


def exact_radius(smap: dict, x: np.ndarray, r_max: float) -> np.ndarray:
    """Distance from each x to the nearest cell whose class differs from g(x) (r_max when
    none lies within r_max)."""
    X, Y = np.meshgrid(*smap["axes"], indexing="ij")
    own = label_at(smap, x)
    out = np.full(len(x), r_max)
    for i, (p, c) in enumerate(zip(x, own, strict=True)):
        d = np.hypot(X - p[0], Y - p[1])
        other = (smap["label"] != c) & (d <= r_max)
        if other.any():
            out[i] = float(d[other].min())
    return out


def soft_smoothed(base: Logits, sigma: float, draws: int, seed: int):
    """x -> log E_delta softmax F(x + delta) over ``draws`` common input (and internal)
    draws: a deterministic, differentiable surrogate of g for the attacks (the common-noise
    average of the base classifier with input noise)."""
    from validation.nets.techniques import CommonNoisePredictor

    def noisy_input(z: torch.Tensor, generator=None) -> torch.Tensor:
        z = z + sigma * torch.randn(z.shape, generator=generator, dtype=z.dtype)
        return base(z, generator=generator)

    predictor = CommonNoisePredictor(noisy_input, passes=draws, seed=seed)
    return lambda x, generator=None: predictor(x)


def attack_radius(base: Logits, smap: dict, x: torch.Tensor, radii: np.ndarray, *,
                  draws: int = 64, steps: int = 20, seed: int = 0) -> np.ndarray:
    """For each point, the smallest radius in ``radii`` at which l2 PGD on the soft smoothed
    surrogate ends at a point g labels differently from g(x) (inf: none of them)."""
    surrogate = soft_smoothed(base, smap["sigma"], draws, seed)
    own = label_at(smap, x.numpy())
    y = torch.as_tensor(own, dtype=torch.long)
    out = np.full(len(x), np.inf)
    for r in sorted(radii):
        todo = np.isinf(out)
        if not todo.any():
            break
        xa = pgd(surrogate, x[todo], y[todo], float(r), norm="l2", steps=steps, bounds=None,
                 generator=torch.Generator().manual_seed(seed + 1))
        broken = label_at(smap, xa.numpy()) != own[todo]
        out[np.flatnonzero(todo)[broken]] = r
    return out


def bracket_2d(base: Logits, x: torch.Tensor, sigma: float, *, spacing: float | None = None,
               map_draws: int = 16, n0: int = N0, n: int = N, alpha: float = ALPHA,
               attack_radii: int = 24, seed: int = 0, radius_scale: float = 1.0) -> dict:
    """certified <= exact <= attack at every point of x (N x 2), with the violation counts
    (see the module docstring). ``spacing`` defaults to sigma / 20. ``radius_scale`` multiplies
    the certified radii: 1 is the certificate; any other value is a mutant for the tests."""
    if x.dim() != 2 or x.shape[1] != 2:
        raise AttackError(f"the exact bracket needs 2-D inputs (N x 2), got {tuple(x.shape)}")
    spacing = spacing if spacing is not None else sigma / 20
    r_max = max_certified_radius(sigma, n, alpha)
    xn = x.numpy()
    lo, hi = xn.min(0) - r_max, xn.max(0) + r_max
    gen = torch.Generator().manual_seed(seed)
    smap = smoothed_map(base, lo, hi, sigma, spacing=spacing, draws=map_draws, generator=gen)
    cert = certify_batch(base, x, sigma, n0=n0, n=n, alpha=alpha, generator=gen)
    certified = cert["radius"] * radius_scale
    exact = exact_radius(smap, xn, r_max)
    attack = attack_radius(base, smap, x, np.linspace(r_max / attack_radii, r_max,
                                                      attack_radii), seed=seed + 2)
    tol = spacing * math.sqrt(2) / 2  # half a cell diagonal: where the boundary may lie
    own = label_at(smap, xn)
    done = cert["prediction"] >= 0
    # a certified point whose class is not g's is a violation too (radius 0 at most)
    wrong_class = done & (cert["prediction"] != own)
    v_cert = (done & (certified > exact + tol)) | wrong_class
    v_attack = exact > attack + tol
    return {"points": len(x), "sigma": sigma, "spacing": spacing, "r_max": r_max,
            "alpha": alpha, "n": n, "certified": certified, "exact": exact, "attack": attack,
            "abstain": int((~done).sum()),
            "violations_certified_above_exact": int(v_cert.sum()),
            "violations_exact_above_attack": int(v_attack.sum()),
            "expected_certificate_violations": alpha * len(x),
            "mean_certified": float(certified.mean()), "mean_exact": float(exact.mean()),
            "mean_attack_finite": float(attack[np.isfinite(attack)].mean())
            if np.isfinite(attack).any() else float("nan"),
            "attack_found": int(np.isfinite(attack).sum())}
