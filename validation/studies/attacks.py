r"""Attacks on a stochastic network (docs/theory.md section 4): PGD, EOT-PGD, FGSM and a
gradient-free random search, under linf and l2 in the box [0, 1]^d.

Stochastic networks look robust under plain PGD because one noisy pass gives a noisy gradient
(Athalye, Carlini, Wagner 2018), so EOT-PGD takes the gradient of the loss averaged over noise
draws. Attacks are hand-written (not torchattacks) because they must draw the network noise
from an explicit seeded generator and work in float64 under both norms; each is tested on a
linear classifier whose minimal adversarial distance is exact. Every adversarial point is
clipped to [0, 1]^d.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F

Logits = Callable[..., torch.Tensor]  # model(x, generator=...) -> logits


NORMS = ("linf", "l2")


class AttackError(ValueError):
    """Bad attack configuration."""


def _check_norm(norm: str) -> None:
    if norm not in NORMS:
        raise AttackError(f"unknown norm {norm!r}; valid: {', '.join(NORMS)}")


Bounds = tuple[float, float] | None  # the input box; None: unbounded inputs


def check_attack(x: torch.Tensor, eps: float, norm: str, bounds: Bounds = (0.0, 1.0),
                 **counts: int) -> None:
    """Refuse, before any work, what would give a silent wrong answer: a norm not in NORMS,
    an eps that is negative or not finite (clamp(-eps, eps) with eps < 0 moves every point
    by |eps|), counts (steps, restarts, draws, samples, iters) below 1, and inputs outside
    ``bounds`` (the projection into the box would move the point itself, farther than eps:
    standardised images are not in [0, 1]; pass their box, or None)."""
    _check_norm(norm)
    if not (math.isfinite(eps) and eps >= 0):
        raise AttackError(f"eps = {eps}; give a finite radius >= 0")
    for name, value in counts.items():
        if int(value) != value or value < 1:
            raise AttackError(f"{name} = {value}; give a whole number >= 1")
    if bounds is not None and x.numel():
        lo, hi = bounds
        below, above = float(x.min()), float(x.max())
        if below < lo or above > hi:
            raise AttackError(f"inputs span [{below:.4g}, {above:.4g}], outside the box "
                              f"bounds = ({lo:g}, {hi:g}) every adversarial point is clipped "
                              "to; pass the inputs' own box as bounds (or None: unbounded)")


def _point_norm(d: torch.Tensor) -> torch.Tensor:
    """Each point's l2 norm over all its coordinates, shaped to broadcast against d."""
    return d.flatten(1).norm(dim=1).reshape((-1,) + (1,) * (d.dim() - 1))


def project(x_adv: torch.Tensor, x: torch.Tensor, eps: float, norm: str,
            bounds: Bounds = (0.0, 1.0)) -> torch.Tensor:
    """Back onto the eps-ball around x (per point, inputs of any shape), then into the box."""
    d = x_adv - x
    if norm == "linf":
        d = d.clamp(-eps, eps)
    else:
        d = d * torch.clamp(eps / _point_norm(d).clamp_min(1e-300), max=1.0)
    return x + d if bounds is None else (x + d).clamp(*bounds)


def _ascent_direction(grad: torch.Tensor, norm: str) -> torch.Tensor:
    if norm == "linf":
        return grad.sign()
    return grad / _point_norm(grad).clamp_min(1e-300)


def mean_probs(model: Logits, x: torch.Tensor, draws: int, generator: torch.Generator | None
               ) -> torch.Tensor:
    """Softmax averaged over ``draws`` noisy passes (draws fresh from the generator)."""
    rep = x.repeat((draws,) + (1,) * (x.dim() - 1))
    p = torch.softmax(model(rep, generator=generator), -1)
    return p.reshape(draws, x.shape[0], -1).mean(0)


def eot_loss(model: Logits, x: torch.Tensor, y: torch.Tensor, draws: int,
             generator: torch.Generator | None) -> torch.Tensor:
    """Per-point cross-entropy of the noise-averaged prediction (EOT: the gradient goes
    through the average over ``draws`` noise draws)."""
    p = mean_probs(model, x, draws, generator)
    return F.nll_loss(torch.log(p.clamp_min(1e-12)), y, reduction="none")


def pgd(model: Logits, x: torch.Tensor, y: torch.Tensor, eps: float, *, norm: str = "linf",
        steps: int = 20, step_size: float | None = None, restarts: int = 1, eot: int = 1,
        generator: torch.Generator | None = None, loss_fn=None,
        bounds: Bounds = (0.0, 1.0)) -> torch.Tensor:
    """PGD (eot = 1: one noisy pass per gradient; eot > 1: EOT-PGD), random restarts; returns
    for each point the restart's end point with the highest loss. Inputs of any shape; every
    iterate stays in ``bounds``."""
    check_attack(x, eps, norm, bounds, steps=steps, restarts=restarts, eot=eot)
    if eps == 0:
        return x.clone()
    step_size = step_size if step_size is not None else 2.5 * eps / steps
    loss_fn = loss_fn or (lambda xa: eot_loss(model, xa, y, eot, generator))
    best = x.clone()
    best_loss = torch.full((x.shape[0],), -math.inf, dtype=x.dtype)
    for r in range(restarts):
        if r == 0:
            xa = x.clone()
        else:  # uniform start in the box around x (seeded)
            noise = torch.rand(x.shape, generator=generator, dtype=x.dtype) * 2 - 1
            xa = project(x + eps * noise, x, eps, norm, bounds)
        for _ in range(steps):
            xa = xa.detach().requires_grad_(True)
            per = loss_fn(xa)
            (g,) = torch.autograd.grad(per.sum(), xa)
            # keep each point's highest-loss iterate along the whole path (so that more steps
            # can never end at a weaker point than fewer steps along the same path)
            better = per.detach() > best_loss
            best[better] = xa.detach()[better]
            best_loss = torch.maximum(best_loss, per.detach())
            xa = project(xa.detach() + step_size * _ascent_direction(g, norm), x, eps, norm,
                         bounds)
        with torch.no_grad():
            per = loss_fn(xa)
        better = per > best_loss
        best[better] = xa[better]
        best_loss = torch.maximum(best_loss, per)
    return best.detach()


def fgsm(model: Logits, x: torch.Tensor, y: torch.Tensor, eps: float, *, norm: str = "linf",
         generator: torch.Generator | None = None, bounds: Bounds = (0.0, 1.0)) -> torch.Tensor:
    """One step of size eps along sign(grad) (linf) or grad/|grad| (l2), one noisy pass."""
    check_attack(x, eps, norm, bounds)
    xa = x.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(eot_loss(model, xa, y, 1, generator).sum(), xa)
    return project(x + eps * _ascent_direction(g, norm), x, eps, norm, bounds).detach()


def random_search(score: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor,
                  y: torch.Tensor, eps: float, *, norm: str = "linf", samples: int = 400,
                  generator: torch.Generator | None = None,
                  bounds: Bounds = (0.0, 1.0)) -> torch.Tensor:
    """Gradient-free: ``samples`` uniform points of the ball (plus its vertices/boundary), the
    one with the lowest score (probability of the true class) wins. Flat inputs (n, d)."""
    check_attack(x, eps, norm, bounds, samples=samples)
    if x.dim() != 2:
        raise AttackError(f"random_search takes flat inputs (n, d), got shape {tuple(x.shape)}")
    n, d = x.shape
    if norm == "linf":
        u = torch.rand((samples, n, d), generator=generator, dtype=x.dtype) * 2 - 1
        u[: samples // 2] = u[: samples // 2].sign()  # half on the vertices of the cube
        cand = x[None] + eps * u
    else:
        g = torch.randn((samples, n, d), generator=generator, dtype=x.dtype)
        g = g / g.norm(dim=2, keepdim=True)
        rad = torch.rand((samples, n, 1), generator=generator, dtype=x.dtype) ** (1 / d)
        rad[: samples // 2] = 1.0  # half on the sphere
        cand = x[None] + eps * rad * g
    if bounds is not None:
        cand = cand.clamp(*bounds)
    with torch.no_grad():
        s = score(cand.reshape(-1, d)).reshape(samples, n)
    return cand[s.argmin(0), torch.arange(n)]


def margin_loss(model, y: torch.Tensor, n_points: int, draws: int, seed: int):
    """xa -> the mean over ``draws`` common noise draws of the logit margin
    z_y - max_{j != y} z_j of each point (sigma = 0: one exact pass). A deterministic,
    differentiable function of xa whose gradient does not vanish when the softmax saturates:
    the logits scale with the head, the margin's direction does not (Carlini-Wagner's loss; a
    head scaled by 1e4 leaves it a multiple of itself, while cross-entropy goes flat)."""
    noisy = model.sigma > 0
    m = draws if noisy else 1
    g = torch.Generator().manual_seed(seed)
    noise = [torch.randn(m * n_points, model.feature_dim, generator=g, dtype=torch.float64)
             for _ in range(model.n_blocks)] if noisy else None

    def margin(xa: torch.Tensor) -> torch.Tensor:
        n = xa.shape[0]
        if n != n_points:
            raise AttackError(f"the margin loss was built for {n_points} points, got {n}")
        z = model(xa.repeat(m, 1), noise=noise).reshape(m, n, -1)
        zy = z.gather(2, y[None, :, None].expand(m, -1, 1))[..., 0]
        other = z.scatter(2, y[None, :, None].expand(m, -1, 1), -math.inf).max(2).values
        return (zy - other).mean(0)
    return margin


def square_search(margin: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor,
                  eps: float, *, iters: int = 100, fraction: float = 0.1,
                  generator: torch.Generator | None = None,
                  bounds: Bounds = (0.0, 1.0)) -> torch.Tensor:
    """A gradient-free score-based linf attack in the manner of Square (Andriushchenko et al.
    2020) for flat inputs: start at a random vertex of the eps-cube, then ``iters`` times
    resample the signs of a random block of coordinates (a ``fraction`` of them, shrinking over
    the run) and keep the change where it lowers the point's ``margin``. Needs no gradient, so
    a saturated or masked gradient does not stop it. Inputs of any shape (coordinates taken
    flat, ``margin`` called on the original shape); every candidate stays in ``bounds``."""
    check_attack(x, eps, "linf", bounds, iters=iters)
    if not 0 < fraction <= 1:
        raise AttackError(f"fraction = {fraction}; give a share of the coordinates in (0, 1]")
    if eps == 0:
        return x.clone()
    shape = x.shape
    x = x.reshape(shape[0], -1)
    n, d = x.shape
    lo, hi = bounds if bounds is not None else (-math.inf, math.inf)

    def score_of(xf: torch.Tensor) -> torch.Tensor:
        return margin(xf.reshape(shape))

    sign = torch.randint(0, 2, (n, d), generator=generator).to(x.dtype) * 2 - 1
    best = (x + eps * sign).clamp(lo, hi)
    with torch.no_grad():
        score = score_of(best)
        for i in range(iters):
            k = max(1, round(d * fraction * (1 - i / iters)))
            cols = torch.rand((n, d), generator=generator).argsort(1)[:, :k]
            flip = torch.randint(0, 2, (n, k), generator=generator).to(x.dtype) * 2 - 1
            cand = best.clone()
            cand.scatter_(1, cols, (x.gather(1, cols) + eps * flip).clamp(lo, hi))
            s = score_of(cand)
            better = s < score
            best[better] = cand[better]
            score = torch.where(better, s, score)
    return best.reshape(shape)
