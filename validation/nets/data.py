"""Data sets generated locally and seeded, min-max scaled, with train/validation/test splits.

2-D sets (moons, circles, blobs with 4 classes, two spirals, checkerboard) come from
scikit-learn's generators where it has them; ``digits`` is scikit-learn's ``load_digits`` (it
ships inside the wheel: no download), 64-D, to be passed through a learned 64 -> 2 encoder.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: the largest noise level sigma the command line and sweeps accept: the features live in a
#: unit box, and with T = 1 the injected noise has standard deviation sigma at the end of the
#: stage, so beyond 10 x the box the network's output is its noise (a verdict on it would be a
#: verdict on a constant predictor)
MAX_SIGMA = 10.0

NAMES = ("moons", "circles", "blobs", "spirals", "checkerboard", "digits")


class DataError(ValueError):
    """Bad data-set request."""


@dataclass(frozen=True)
class Dataset:
    """Splits as float arrays in [0, 1]^d and integer labels."""

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    n_classes: int
    seed: int
    #: the box the inputs live in (attacks clip to it); None: unbounded inputs
    bounds: tuple[float, float] | None = (0.0, 1.0)

    @property
    def dim(self) -> int:
        return self.x_train.shape[1]

    @property
    def shape(self) -> tuple[int, ...]:
        """One input's shape (d, C x W or C x H x W)."""
        return tuple(self.x_train.shape[1:])


#: the seed of the permutation that picks the measured test points (fixed: paired designs)
POINTS_SEED = 0


def measured_points(data, n: int) -> np.ndarray:
    """Indices of the n test points a study measures: all of them when n >= the split's size,
    else the first n of one fixed permutation (POINTS_SEED), sorted. The same points for every
    network, setting and seed (paired designs), and a random sample whatever order the split
    is stored in: the first n stored points are one class where a split is stored class by
    class (an image folder, a user's file)."""
    size = len(data.y_test)
    if n >= size:
        return np.arange(size)
    return np.sort(np.random.default_rng(POINTS_SEED).permutation(size)[:n])


def _spirals(n: int, noise: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    m = n // 2
    t = np.sqrt(rng.uniform(0, 1, m)) * 3 * np.pi
    arm = np.stack([t * np.cos(t), t * np.sin(t)], axis=1)
    x = np.concatenate([arm, -arm]) + noise * 3 * rng.standard_normal((2 * m, 2))
    y = np.concatenate([np.zeros(m, int), np.ones(m, int)])
    return x, y


def _checkerboard(n: int, noise: float, rng: np.random.Generator):
    x = rng.uniform(0, 1, (n, 2))
    y = ((np.floor(x[:, 0] * 4) + np.floor(x[:, 1] * 4)) % 2).astype(int)
    return x + noise * 0.1 * rng.standard_normal((n, 2)), y


def make_dataset(name: str = "moons", n: int = 1200, *, seed: int = 0, noise: float = 0.15,
                 split: tuple[float, float, float] = (0.6, 0.2, 0.2)) -> Dataset:
    """Generate ``name`` with ``n`` points (all of digits' 1797 for 'digits'), seeded."""
    from sklearn import datasets

    if name not in NAMES:
        raise DataError(f"unknown data set {name!r}; valid: {', '.join(NAMES)}")
    if n < 30 and name != "digits":
        raise DataError(f"n = {n} is too small for three splits; use n >= 30")
    if not np.isclose(sum(split), 1.0) or min(split) <= 0:
        raise DataError(f"split {split} must be three positive fractions summing to 1")
    rng = np.random.default_rng(seed)
    rs = int(rng.integers(2**31 - 1))
    if name == "moons":
        x, y = datasets.make_moons(n, noise=noise, random_state=rs)
    elif name == "circles":
        x, y = datasets.make_circles(n, noise=noise / 2, factor=0.5, random_state=rs)
    elif name == "blobs":
        x, y = datasets.make_blobs(n, centers=4, cluster_std=1.0 + 4 * noise, random_state=rs)
    elif name == "spirals":
        x, y = _spirals(n, noise, rng)
    elif name == "checkerboard":
        x, y = _checkerboard(n, noise, rng)
    else:
        d = datasets.load_digits()
        x, y = d.data.astype(float), d.target.astype(int)
    x = x.astype(float)
    lo, hi = x.min(axis=0), x.max(axis=0)
    x = (x - lo) / np.where(hi > lo, hi - lo, 1.0)  # min-max to [0, 1]^d
    perm = rng.permutation(len(x))
    a = int(split[0] * len(x))
    b = a + int(split[1] * len(x))
    tr, va, te = perm[:a], perm[a:b], perm[b:]
    return Dataset(name, x[tr], y[tr], x[va], y[va], x[te], y[te], int(y.max()) + 1, seed)
