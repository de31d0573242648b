"""Fitted orders: the least-squares slope of log error against log step, the number every
convergence claim of the studies is decided on."""

from __future__ import annotations

import numpy as np


def slope(xs, ys) -> float:
    """Least-squares slope of log y against log x."""
    xs, ys = np.asarray(xs, float), np.asarray(ys, float)
    ok = ys > 0
    if ok.sum() < 2:
        return float("nan")
    return float(np.polyfit(np.log(xs[ok]), np.log(ys[ok]), 1)[0])
