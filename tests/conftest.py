"""Shared test harness: headless plotting, seeded randomness, strict floating point, slow marker."""

from __future__ import annotations

import os

if os.environ.get("PYTEST_XDIST_WORKER"):  # `make test` runs two workers on two cores: one
    # BLAS / torch thread each, or each would start one per core and they would contend
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ.setdefault(var, "1")

import matplotlib

matplotlib.use("Agg")  # headless: no display on CI
# every figure a test writes through validation.doc.save_figure has its layout checked: an
# overlap raises (worker processes inherit the setting)
os.environ["CDVERIFY_CHECK_FIGURES"] = "1"

import matplotlib.pyplot as plt
import numpy as np
import pytest

SEED = 20261127  # one fixed seed for every stochastic fixture: same seed, same numbers


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--runslow", action="store_true", default=False, help="run tests marked slow")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--runslow"):
        return
    skip_slow = pytest.mark.skip(reason="slow: run with --runslow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip_slow)


@pytest.fixture(autouse=True)
def _strict_float_and_close_figures():
    """Raise on overflow, division by zero and invalid operations; close figures afterwards."""
    old = np.seterr(all="raise", under="ignore")
    try:
        yield
    finally:
        np.seterr(**old)
        plt.close("all")


@pytest.fixture
def rng() -> np.random.Generator:
    """A seeded numpy generator."""
    return np.random.default_rng(SEED)


@pytest.fixture
def torch_generator():
    """A seeded CPU torch.Generator."""
    import torch  # a core dependency: its absence is an install error, not a skip

    return torch.Generator().manual_seed(SEED)
