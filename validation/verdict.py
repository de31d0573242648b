"""Verdicts on the paper's claims from sigma sweeps over seeds: holds / fails / inconclusive."""

from __future__ import annotations

import math

import numpy as np

Z = 2.0  # a difference counts when it exceeds 2 combined standard errors of the seed means


def compare_to_baseline(by_sigma: dict[float, list[float]], *, lower_is_better: bool) -> dict:
    """Each sigma > 0 against sigma = 0: difference of seed means and its standard error.

    The claim ("diffusion improves/reduces ...") holds when some sigma > 0 is significantly
    better than sigma = 0 and none is significantly worse; fails when some is significantly
    worse and none better; otherwise (no significant difference, or mixed) inconclusive.
    """
    if 0.0 not in by_sigma:
        raise ValueError("the sweep needs sigma = 0 as the baseline")
    base = np.asarray(by_sigma[0.0], float)

    def se(v):
        return float(np.std(v, ddof=1) / math.sqrt(len(v))) if len(v) > 1 else float("inf")

    rows = []
    better = worse = 0
    for s in sorted(k for k in by_sigma if k > 0):
        v = np.asarray(by_sigma[s], float)
        diff = float(v.mean() - base.mean())
        err = math.hypot(se(v), se(base))
        improvement = -diff if lower_is_better else diff
        sig = abs(diff) > Z * err
        status = "better" if sig and improvement > 0 else "worse" if sig else "no difference"
        better += status == "better"
        worse += status == "worse"
        rows.append({"sigma": s, "mean": float(v.mean()), "baseline": float(base.mean()),
                     "difference": diff, "stderr": err, "status": status})
    if better and not worse:
        verdict = "holds"
    elif worse and not better:
        verdict = "fails"
    else:
        verdict = "inconclusive"
    return {"verdict": verdict, "rows": rows,
            "rule": f"difference of seed means beyond {Z} combined standard errors"}
