"""Fitted orders: the least-squares slope of log error against log step, the number every
convergence claim of the studies is decided on."""

from __future__ import annotations

import itertools

import numpy as np


def slope(xs, ys) -> float:
    """Least-squares slope of log y against log x."""
    xs, ys = np.asarray(xs, float), np.asarray(ys, float)
    ok = ys > 0
    if ok.sum() < 2:
        return float("nan")
    return float(np.polyfit(np.log(xs[ok]), np.log(ys[ok]), 1)[0])


#: the finest sub-step count a Feynman-Kac refinement may ask for (its cost grows with the
#: sum of the counts: 1..1024 is 66 x the default 1..16)
MAX_SUBSTEPS = 1024


def substeps_problem(levels) -> str | None:
    """Why ``levels`` cannot be the sub-step counts of an observed-order study (None if they
    can): at least 3 levels, the first 1 (the network itself), increasing, each dividing the
    finest (coupled paths: a coarse increment sums the fine ones it spans), the finest at most
    MAX_SUBSTEPS; or "auto" (the study chooses them)."""
    if isinstance(levels, str):
        return None if levels == "auto" else f"{levels!r}: give 'auto' or counts, e.g. 1,2,4,8"
    rs = [int(r) for r in levels]
    if len(rs) < 3:
        return f"{len(rs)} level(s); an order needs at least 3, e.g. 1,2,4,8"
    if rs[0] != 1:
        return f"the first level is {rs[0]}; it must be 1 (the network itself), e.g. 1,2,4,8"
    if any(b <= a for a, b in itertools.pairwise(rs)):
        return "the levels must increase, e.g. 1,2,4,8"
    if any(rs[-1] % r for r in rs):
        bad = next(r for r in rs if rs[-1] % r)
        return f"{bad} does not divide the finest level {rs[-1]}; e.g. 1,2,4,8"
    if rs[-1] > MAX_SUBSTEPS:
        return f"the finest level {rs[-1]} is above {MAX_SUBSTEPS} (its cost grows with it)"
    return None


def local_orders(xs, ys) -> list[float]:
    """log(y_i / y_{i+1}) / log(x_i / x_{i+1}) between neighbouring refinements: the observed
    order of each one (NaN where a value is not positive). A least-squares slope through
    levels that are not yet asymptotic can sit on the expected order while no refinement
    shows it (local orders 0.2 and 1.8 give 1.0); the finest local order is the nearest to
    the asymptotic range."""
    out = []
    for i in range(len(xs) - 1):
        a, b = ys[i], ys[i + 1]
        out.append(float(np.log(a / b) / np.log(xs[i] / xs[i + 1])) if a > 0 and b > 0
                   else float("nan"))
    return out


def band_side(lo: float, hi: float, expected: float, tol: float) -> int:
    """Where the interval [lo, hi] (a point: lo = hi) lies against expected +- tol: -1 wholly
    below, +1 wholly above, 0 meeting it (or not formed: NaN ends meet everything)."""
    if hi < expected - tol:
        return -1
    if lo > expected + tol:
        return 1
    return 0
