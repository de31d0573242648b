"""Verdicts on the paper's claims from sigma sweeps over seeds: holds / fails / inconclusive."""

from __future__ import annotations

import math

import numpy as np

ALPHA = 0.05  # family-wise level: Welch t-tests, Bonferroni-corrected over the sigmas > 0


def compare_to_baseline(by_sigma: dict[float, list[float]], *, lower_is_better: bool) -> dict:
    """Each sigma > 0 against sigma = 0: difference of seed means and its standard error.

    The claim ("diffusion improves/reduces ...") holds when some sigma > 0 is significantly
    better than sigma = 0 and none is significantly worse; fails when some is significantly
    worse and none better; otherwise (no significant difference, or mixed) inconclusive.
    """
    if 0.0 not in by_sigma:
        raise ValueError("the sweep needs sigma = 0 as the baseline")
    # 12 significant decimals: seed values equal up to rounding (means of the same accuracies)
    # become exactly equal instead of feeding the t-test a variance of 1e-33
    base = np.round(np.asarray(by_sigma[0.0], float), 12)

    def se(v):
        return float(np.std(v, ddof=1) / math.sqrt(len(v))) if len(v) > 1 else float("inf")

    from scipy.stats import ttest_ind

    rows = []
    better = worse = 0
    others = sorted(k for k in by_sigma if k > 0)
    level = ALPHA / max(len(others), 1)
    for s in others:
        v = np.round(np.asarray(by_sigma[s], float), 12)
        diff = float(v.mean() - base.mean())
        err = math.hypot(se(v), se(base))
        improvement = -diff if lower_is_better else diff
        note = ""
        if len(v) < 2 or len(base) < 2:
            p_value, note = float("nan"), "fewer than 2 seeds: no test possible"
        elif err <= 1e-12 * max(1.0, abs(float(v.mean())), abs(float(base.mean()))):
            # identical values within each group: the t statistic is undefined, and reading it
            # as p = 0 would call any difference significant
            p_value, note = float("nan"), "no seed-to-seed variance: the test cannot decide"
        else:
            import warnings

            with warnings.catch_warnings():
                # one group without spread (e.g. two seeds at the same accuracy) is a valid
                # Welch test; scipy warns about its (exactly zero) variance all the same
                warnings.filterwarnings("ignore", "Precision loss occurred", RuntimeWarning)
                p_value = float(ttest_ind(v, base, equal_var=False).pvalue)
        sig = p_value < level
        status = ("better" if sig and improvement > 0 else "worse" if sig else
                  "undecidable" if note else "no difference")
        better += status == "better"
        worse += status == "worse"
        rows.append({"sigma": s, "mean": float(v.mean()), "baseline": float(base.mean()),
                     "difference": diff, "stderr": err, "p_value": p_value, "status": status,
                     "note": note})
    if better and not worse:
        verdict = "holds"
    elif worse and not better:
        verdict = "fails"
    else:
        verdict = "inconclusive"
    return {"verdict": verdict, "rows": rows,
            "rule": f"Welch t-test of seed means against sigma = 0, p < {ALPHA} "
                    f"Bonferroni-corrected over {len(others)} sigmas (p < {level:.3g})"}


def verdict_markdown(verdict: dict, claim: str) -> list[str]:
    """The verdict line and one line per sigma, for the Markdown reports."""
    stat = f"{verdict['statistic']}; " if "statistic" in verdict else ""
    lines = ["", f"**Verdict on '{claim}': {verdict['verdict']}** ({stat}{verdict['rule']}).",
             ""]
    for r in verdict["rows"]:
        lines.append(f"- sigma {r['sigma']}: {r['mean']:.4g} vs {r['baseline']:.4g} at sigma 0 "
                     f"(difference {r['difference']:+.3g} +- {r['stderr']:.2g}, p = "
                     f"{r['p_value']:.3g}): {r['status']}"
                     + (f" ({r['note']})" if r.get("note") else ""))
    return lines
