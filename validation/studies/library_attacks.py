r"""A maintained attack library beside the toolkit's own attacks: the Adversarial Robustness
Toolbox (ART, Linux Foundation AI & Data; ``pip install 'cdverify[attacks]'``).

Why ART: it is maintained (releases through 2025), runs on CPU, and its requirements are
unpinned lower bounds (numpy, scipy, scikit-learn, six, setuptools, tqdm) that the torch pin's
environment already meets, so it installs without downgrading anything; torchattacks pins
``requests~=2.25.1`` and AutoAttack is not on the package index. It is an optional extra: the
toolkit's own attacks (studies/attacks.py) stay complete without it.

The attacks (Croce and Hein 2020; Andriushchenko et al. 2020):

* ``apgd-ce``: Auto-PGD on the cross-entropy, step-size schedule and momentum of the paper,
  initial step 2 eps;
* ``apgd-dlr``: Auto-PGD on the difference-of-logits ratio
  -(z_y - max_{j != y} z_j) / (z_(1) - z_(3)), invariant to the scale of the logits, so a
  saturated softmax does not flatten it (needs at least 3 classes);
* ``square``: the score-based Square attack, gradient-free, so masked gradients do not stop
  it. ART's Square takes square images only: a flat or 1-D input of d coordinates is laid out
  row-major on the smallest s x s image with s^2 >= d, s >= 2 (linf) or 4 (l2) (the padding
  coordinates are ignored by
  the wrapped model), which keeps neighbouring coordinates mostly in one tile.

Every attack runs on a deterministic predictor (the common-noise average of a noisy network,
nets.CommonNoisePredictor, whose log-probabilities serve as logits: softmax(log p) = p), so no
attack sees a changing function. ART draws from numpy's and Python's global generators: each
call seeds them and restores their states afterwards (and forks torch's), so a seed gives the
same points and the caller's generators are untouched. The adversarial points come back in
the input's shape and dtype, inside ``bounds``; the caller scores them with its own predictor.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import torch
from torch import nn

from validation.studies.attacks import AttackError, Bounds, check_attack, project

LIBRARY = "adversarial-robustness-toolbox"
INSTALL = "pip install 'cdverify[attacks]' (the adversarial-robustness-toolbox package)"
ATTACKS = ("apgd-ce", "apgd-dlr", "square")


class LibraryMissing(AttackError):
    """The optional attack library is not installed."""


def available() -> bool:
    """Whether ART can be imported here."""
    try:
        import art  # noqa: F401
    except ImportError:
        return False
    return True


def version() -> str | None:
    """ART's version, or None when it is not installed."""
    try:
        import art
    except ImportError:
        return None
    return art.__version__


@contextmanager
def seeded(seed: int) -> Iterator[None]:
    """numpy's and Python's global generators seeded (states restored after), torch's forked."""
    np_state, py_state = np.random.get_state(), random.getstate()  # noqa: NPY002
    try:
        with torch.random.fork_rng(devices=[]):
            np.random.seed(seed)  # noqa: NPY002 (ART draws from the global generator)
            random.seed(seed)
            torch.manual_seed(seed)
            yield
    finally:
        np.random.set_state(np_state)  # noqa: NPY002
        random.setstate(py_state)


class _Cast(nn.Module):
    """ART feeds float32: cast to the predictor's dtype and the point's true shape."""

    def __init__(self, predictor: nn.Module, shape: tuple[int, ...], dtype: torch.dtype,
                 square: int | None):
        super().__init__()
        self.predictor, self.shape, self.dtype, self.square = predictor, shape, dtype, square

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        if self.square is not None:  # s x s image -> the first d coordinates
            d = math.prod(self.shape)
            z = z.flatten(1)[:, :d]
        return self.predictor(z.reshape((-1, *self.shape)).to(self.dtype)).float()


def _square_side(shape: tuple[int, ...], norm: str) -> int | None:
    """None when the point is already a square image (C x s x s) that Square takes, else the
    side s of the padded image: at least 2 (linf) or 4 (l2: ART's l2 tiles are >= 3 wide and
    drawn strictly inside the image)."""
    least = 2 if norm == "linf" else 4
    if len(shape) == 3 and shape[1] == shape[2] and shape[1] >= least:
        return None
    return max(least, math.isqrt(math.prod(shape) - 1) + 1)


def _p_init(side: int) -> float:
    """Square's initial tile fraction: 0.8 (the paper's), capped so that the first tile,
    round(side sqrt(p)), stays below the side (ART draws its corner in [0, side - tile))."""
    return min(0.8, ((side - 1) / side) ** 2)


def _classifier(predictor: nn.Module, shape, dtype, n_classes: int, clip, square: int | None):
    from art.estimators.classification import PyTorchClassifier

    wrapped = _Cast(predictor, tuple(shape), dtype, square)
    input_shape = (1, square, square) if square is not None else tuple(shape)
    return PyTorchClassifier(wrapped, loss=nn.CrossEntropyLoss(), input_shape=input_shape,
                             nb_classes=n_classes, clip_values=clip, device_type="cpu")


def library_attack(predictor: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, *,
                   attack: str, n_classes: int, norm: str = "linf", bounds: Bounds = (0.0, 1.0),
                   steps: int = 100, restarts: int = 1, square_iters: int = 1000,
                   seed: int = 0, batch: int = 256) -> torch.Tensor:
    """One of ART's attacks (``apgd-ce``, ``apgd-dlr``, ``square``) at radius eps on the
    deterministic ``predictor`` (x -> logits or log-probabilities); returns the adversarial
    points (x's shape and dtype). ``steps``: APGD iterations; ``restarts``: random starts
    (APGD) or restarts (Square); ``square_iters``: Square's query budget per restart."""
    check_attack(x, eps, norm, bounds, steps=steps, restarts=restarts,
                 square_iters=square_iters, batch=batch)
    if attack not in ATTACKS:
        raise AttackError(f"unknown library attack {attack!r}; valid: {', '.join(ATTACKS)}")
    if attack == "apgd-dlr" and n_classes < 3:
        raise AttackError(f"apgd-dlr needs at least 3 classes (its ratio divides by "
                          f"z_(1) - z_(3)); this classifier has {n_classes}")
    if not available():
        raise LibraryMissing(f"the attack library is not installed: {INSTALL}")
    if eps == 0:
        return x.clone()
    from art.attacks.evasion import AutoProjectedGradientDescent, SquareAttack

    shape = tuple(x.shape[1:])
    square = _square_side(shape, norm) if attack == "square" else None
    if bounds is None:  # ART's Square clips to its box: one the ball never reaches
        span = float(x.max() - x.min()) + 2 * eps + 1.0
        clip = (float(x.min()) - span, float(x.max()) + span)
    else:
        clip = (float(bounds[0]), float(bounds[1]))
    clf = _classifier(predictor, shape, x.dtype, n_classes,
                      clip if (bounds is not None or attack == "square") else None, square)
    ord_ = np.inf if norm == "linf" else 2
    xs = x.detach().cpu().numpy().astype(np.float32)
    if square is not None:
        flat = np.zeros((len(xs), square * square), dtype=np.float32)
        flat[:, : math.prod(shape)] = xs.reshape(len(xs), -1)
        xs = flat.reshape(len(xs), 1, square, square)
    labels = y.detach().cpu().numpy()
    with seeded(seed):
        if attack == "square":
            side = square if square is not None else shape[-1]
            att = SquareAttack(clf, norm=ord_, eps=eps, max_iter=square_iters,
                               p_init=_p_init(side), nb_restarts=restarts, batch_size=batch,
                               verbose=False)
        else:
            att = AutoProjectedGradientDescent(
                clf, norm=ord_, eps=eps, eps_step=2 * eps, max_iter=steps,
                nb_random_init=restarts, batch_size=batch, verbose=False,
                loss_type="cross_entropy" if attack == "apgd-ce" else "difference_logits_ratio")
        # ART's l2 Square normalises a zero window when a tile is one pixel high (0 / 0), and
        # divides by max(1e-9, |window|), whose square can overflow float32 (seen on digits:
        # 'overflow encountered in square'): the NaN candidate is never accepted (NaN
        # compares false) and a non-finite point is replaced below, so silence the warnings
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            adv = att.generate(xs, y=labels)
    adv = torch.as_tensor(adv.reshape(len(adv), -1)[:, : math.prod(shape)].reshape(x.shape),
                          dtype=x.dtype)
    bad = ~torch.isfinite(adv.flatten(1)).all(1)
    adv[bad] = x.detach()[bad]  # a non-finite point is no attack: the clean point stands
    # ART works in float32: put its points back into the ball and the box in x's precision
    return project(adv, x.detach(), eps, norm, bounds)


def library_attacks(predictor: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, *,
                    n_classes: int, norm: str = "linf", attacks: tuple[str, ...] = ATTACKS,
                    **kw) -> dict[str, torch.Tensor]:
    """Every applicable library attack at eps: ``{"art-apgd-ce": points, ...}``; apgd-dlr is
    left out below 3 classes (its ratio is undefined there)."""
    return {f"art-{a}": library_attack(predictor, x, y, eps, attack=a, n_classes=n_classes,
                                       norm=norm, **kw)
            for a in attacks if not (a == "apgd-dlr" and n_classes < 3)}
