r"""Robustness through the 2-D feature bottleneck: a lower estimate where no input grid reaches.

A 64-D input ball cannot be searched on a grid, but the network sees it only through its
encoder, z = sigmoid(W2 tanh(W1 x + b1) + b2) in R^2, and the flow and the head act on z. If a
set Z contains the encoder's image of the ball B(x, eps) (intersected with the data box
[0, 1]^D), then the expected predictor labelling every z in Z correctly implies it labels
every input of the ball correctly. This module builds such a Z, an axis-aligned box, as the
intersection of two sound outer bounds (robustness.box_search searches a regular grid of it):

* interval bound propagation (IBP): the first layer's pre-activations a_k = W1_k x + b1_k over
  the ball are exact intervals (linf: per-coordinate box clipped to [0, 1]; l2: eps |W1_k|_2),
  tanh and sigmoid are monotone, the second layer takes |W2| times the radii;
* a linear relaxation of tanh (one-hidden-layer CROWN): on [l_k, u_k] the chord slope
  alpha_k and the offsets beta_k^- = min (tanh a - alpha_k a), beta_k^+ = max (the same),
  found exactly at the interval's ends and the stationary points sech^2 a = alpha_k, give
  alpha_k a + beta^- <= tanh a <= alpha_k a + beta^+; so W2_j tanh(a) is bounded by a linear
  function of x plus a constant, whose extreme over the ball is exact (linf: per coordinate;
  l2: the dual norm). This keeps the correlation between the hidden units that IBP loses.

The grid search over Z is exhaustive at its resolution (spacing (hi - lo) / (per_axis - 1)),
like the 2-D input search; its robust accuracy is a *lower* estimate of the true one (Z is
larger than the image), the attacks' an *upper* one: the pair brackets the truth, and a lower
estimate above the attacks' value is a bug that the flags report.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.special import expit
from torch import nn


class BottleneckError(ValueError):
    """A model or input that the bottleneck bound does not cover."""


def encoder_layers(model) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(W1, b1, W2, b2) of the encoder Linear-Tanh-Linear-Sigmoid, as float64 arrays."""
    enc = getattr(model, "encoder", None)
    kinds = [type(m) for m in enc] if isinstance(enc, nn.Sequential) else []
    if kinds != [nn.Linear, nn.Tanh, nn.Linear, nn.Sigmoid]:
        raise BottleneckError(f"the bottleneck bound covers an encoder Linear-Tanh-Linear-"
                              f"Sigmoid; this model's encoder is {enc!r}")
    return tuple(p.detach().cpu().double().numpy()
                 for p in (enc[0].weight, enc[0].bias, enc[2].weight, enc[2].bias))


def covers(model) -> bool:
    """Whether :func:`feature_box` covers this model's encoder."""
    try:
        encoder_layers(model)
    except BottleneckError:
        return False
    return True


def _tanh_offsets(lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Chord slope alpha and offsets (beta_lo, beta_hi) with
    alpha a + beta_lo <= tanh a <= alpha a + beta_hi on [lo, hi] (elementwise, exact)."""
    width = hi - lo
    flat = width < 1e-12
    alpha = np.where(flat, 1.0 - np.tanh(lo) ** 2,
                     (np.tanh(hi) - np.tanh(lo)) / np.where(flat, 1.0, width))
    # candidates: the ends and the stationary points of tanh a - alpha a (sech^2 a = alpha)
    s = np.arccosh(1.0 / np.sqrt(np.clip(alpha, 1e-300, 1.0)))
    cands = np.stack([lo, hi, np.clip(s, lo, hi), np.clip(-s, lo, hi)])
    vals = np.tanh(cands) - alpha * cands
    return alpha, vals.min(0), vals.max(0)


def _ball_extremes(c: np.ndarray, x: np.ndarray, eps: float, norm: str
                   ) -> tuple[np.ndarray, np.ndarray]:
    """min and max of c_j . x' over the ball B(x, eps) (linf: intersected with [0, 1]^D);
    c (N, J, D), x (N, D) -> (N, J) each."""
    if norm == "linf":
        lo_x, hi_x = np.clip(x - eps, 0, 1), np.clip(x + eps, 0, 1)
        a, b = c * lo_x[:, None, :], c * hi_x[:, None, :]
        return np.minimum(a, b).sum(2), np.maximum(a, b).sum(2)
    centre = np.einsum("njd,nd->nj", c, x)
    r = eps * np.linalg.norm(c, axis=2)
    return centre - r, centre + r


def feature_box(model, x: np.ndarray, eps: float, norm: str = "linf", *,
                method: str = "both") -> tuple[np.ndarray, np.ndarray]:
    """An axis-aligned box [lo, hi] (N, d) in feature space containing the encoder's image of
    every input ball B(x_i, eps) (linf balls intersected with [0, 1]^D). ``method``: "ibp",
    "linear" (the tanh relaxation) or "both" (their intersection; each is sound)."""
    if norm not in ("linf", "l2"):
        raise BottleneckError(f"unknown norm {norm!r}; use 'linf' or 'l2'")
    if method not in ("ibp", "linear", "both"):
        raise BottleneckError(f"unknown method {method!r}; use 'ibp', 'linear' or 'both'")
    if not eps >= 0:
        raise BottleneckError(f"eps = {eps}: the radius must be >= 0")
    x = np.asarray(x, dtype=float)
    W1, b1, W2, b2 = encoder_layers(model)
    if x.ndim != 2 or x.shape[1] != W1.shape[1] or not np.isfinite(x).all():
        raise BottleneckError(f"x must be finite with shape (N, {W1.shape[1]}); got "
                              f"{x.shape}")
    # first layer: exact intervals of the pre-activations
    c1 = np.broadcast_to(W1, (len(x), *W1.shape))
    a_lo, a_hi = _ball_extremes(c1, x, eps, norm)
    a_lo, a_hi = a_lo + b1, a_hi + b1
    # IBP through tanh and the second layer (centre-radius form)
    t_lo, t_hi = np.tanh(a_lo), np.tanh(a_hi)
    mid, rad = (t_lo + t_hi) / 2, (t_hi - t_lo) / 2
    s_mid, s_rad = mid @ W2.T + b2, rad @ np.abs(W2).T
    lo, hi = s_mid - s_rad, s_mid + s_rad
    if method != "ibp":
        alpha, beta_lo, beta_hi = _tanh_offsets(a_lo, a_hi)  # (N, K)
        # W2_j tanh(a) <= sum_k W2_jk alpha_k (W1_k x + b1_k) + sum_k W2_jk beta_k^(+/-)
        coef = W2[None] * alpha[:, None, :]  # (N, J, K)
        c = coef @ W1  # (N, J, D)
        const = np.einsum("njk,k->nj", coef, b1) + b2
        pos, neg = np.clip(W2, 0, None), np.clip(W2, None, 0)
        up_off = beta_hi @ pos.T + beta_lo @ neg.T
        lo_off = beta_lo @ pos.T + beta_hi @ neg.T
        e_lo, e_hi = _ball_extremes(c, x, eps, norm)
        l_lo, l_hi = e_lo + const + lo_off, e_hi + const + up_off
        if method == "linear":
            lo, hi = l_lo, l_hi
        else:
            lo, hi = np.maximum(lo, l_lo), np.minimum(hi, l_hi)
            # both contain the image, so they meet; at eps ~ 0 rounding may cross them
            lo, hi = np.minimum(lo, hi), np.maximum(lo, hi)
    sig = expit(np.stack([lo, hi]))
    return sig[0], sig[1]


class FeatureHead(nn.Module):
    """The flow and head of a DiffusionResNet as a model of the features z: the same noise
    interface (``noise``, ``generator``) so that an ExpectedPredictor can score features."""

    def __init__(self, model):
        super().__init__()
        self.model = model
        self.sigma, self.feature_dim = model.sigma, model.feature_dim
        self.n_blocks, self.t_end = model.n_blocks, model.t_end

    def forward(self, z: torch.Tensor, *, generator: torch.Generator | None = None,
                noise: list[torch.Tensor] | None = None) -> torch.Tensor:
        return self.model.base(self.model.flow(z.to(next(self.model.parameters()).dtype),
                                               generator=generator, noise=noise))


def box_grid(lo: np.ndarray, hi: np.ndarray, per_axis: int) -> np.ndarray:
    """The regular per_axis x per_axis grid of each box: (N, per_axis^2, 2)."""
    if per_axis < 2:
        raise BottleneckError(f"per_axis = {per_axis}: a grid of a box needs >= 2 per axis")
    t = np.linspace(0.0, 1.0, per_axis)
    u = np.stack(np.meshgrid(t, t, indexing="ij"), -1).reshape(-1, 2)
    return lo[:, None, :] + u[None] * (hi - lo)[:, None, :]
