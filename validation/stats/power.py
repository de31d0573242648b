"""Power of the paired t-test: the power at an effect, the seeds that reach a power, and the
minimum detectable effect of a study (noncentral t, scipy)."""

from __future__ import annotations

import math

POWER = 0.8  # the power the seed counts and minimum detectable effects are sized for


def paired_power(effect: float, sd: float, n: int, level: float) -> float:
    """Power of the two-sided paired t-test at ``level`` with n pairs, true mean difference
    ``effect`` and difference standard deviation ``sd`` (noncentral t)."""
    from scipy.stats import nct, t

    if n < 2 or sd <= 0:
        return float("nan")
    df = n - 1
    crit = t.ppf(1 - level / 2, df)
    nc = effect / (sd / math.sqrt(n))
    # P(T < -c; nc) written as P(T > c; -nc): scipy 1.17's nct.cdf returns NaN in parts of
    # its far lower tail (df 2, nc 10.5), its sf does not
    return float(nct.sf(crit, df, nc) + nct.sf(crit, df, -nc))


def seeds_needed(effect: float, sd: float, level: float, *, power: float = POWER,
                 limit: int = 100_000) -> int | None:
    """The smallest number of paired seeds whose two-sided paired t-test at ``level`` detects
    a mean difference ``effect`` with ``power`` at spread ``sd`` (None beyond ``limit``)."""
    if sd <= 0 or effect <= 0:
        return None
    lo, hi = 2, 2
    while paired_power(effect, sd, hi, level) < power:
        lo, hi = hi, hi * 2
        if hi > limit:
            return None
    while lo < hi:  # power grows with n: bisect for the first n that reaches it
        mid = (lo + hi) // 2
        if paired_power(effect, sd, mid, level) >= power:
            hi = mid
        else:
            lo = mid + 1
    return hi


def minimum_detectable_effect(sd: float, n: int, level: float, *, power: float = POWER) -> float:
    """The mean difference the paired t-test at ``level`` with n seeds detects with ``power``
    at spread ``sd``."""
    from scipy.optimize import brentq

    if n < 2 or sd <= 0:
        return float("nan")
    hi = sd
    while paired_power(hi, sd, n, level) < power:
        hi *= 2
    return float(brentq(lambda e: paired_power(e, sd, n, level) - power, 0.0, hi, xtol=1e-12))
