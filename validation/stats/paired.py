"""Verdicts on the paper's claims from paired sigma sweeps: holds / fails / refuted at delta /
inconclusive (with the seeds that would decide it).

The design is paired: for one seed every sigma shares the data split, the initial weights, the
noise draws (scaled by sigma) and the evaluation points (common random numbers), so each seed
gives one within-seed difference d_s = improvement of sigma over sigma = 0 (positive = in the
claimed direction). For each sigma > 0, with n seeds, mean d, standard deviation s_d:

- paired t-test of E[d] = 0 (two-sided), Holm-corrected over the sigmas; an exact sign-flip
  permutation test of the same hypothesis is reported beside it as a check;
- 95% confidence interval of E[d]: mean d +- t_{0.975, n-1} s_d / sqrt(n);
- equivalence (TOST) against the smallest effect of interest delta: both one-sided tests
  E[d] <= -delta and E[d] >= delta rejected at level alpha (the 90% interval inside
  (-delta, delta));
- the claim's verdict: **holds** if some sigma is significantly better (Holm) — its effect
  and interval are given, and any sigma significantly worse is named; **fails** if every sigma
  is significantly worse; **refuted at delta** if no sigma is better and for every sigma the
  one-sided test E[d] >= delta is rejected (upper end of the 90% interval < delta: no sigma
  improves by delta or more; an intersection-union test, so no multiplicity correction);
  **inconclusive** otherwise, with the minimum detectable effect of this study and the number
  of seeds that would give 80% power to detect delta at the observed spread.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence

import numpy as np

from validation.doc.numbers import estimate, num, p_value

from .power import POWER, minimum_detectable_effect, seeds_needed

ALPHA = 0.05  # family-wise level of the two-sided tests (Holm over sigmas); TOST at ALPHA each

EXACT_PERMUTATIONS = 16  # up to 2^16 sign patterns are enumerated; beyond, 2^16 are sampled

# smallest effects of interest (docs/claims.md; options of the commands)
DELTA_ROBUST_ACCURACY = 0.02  # absolute, mean robust accuracy over the linf eps grid
DELTA_ACCURACY = 0.02  # absolute, test accuracy (graph diffusion against the base classifier)
DELTA_RELATIVE = 0.10  # relative to the sigma = 0 mean: Rademacher complexity, Lipschitz


def _by_seed(values: Mapping[int, float] | Sequence[float]) -> dict[int, float]:
    if isinstance(values, Mapping):
        return {int(k): float(v) for k, v in values.items()}
    return {i: float(v) for i, v in enumerate(values)}


def sign_flip_p(d: np.ndarray, *, seed: int = 0) -> float:
    """Two-sided p of the sign-flip permutation test of a zero-centred symmetric difference:
    the share of sign patterns eps in {-1, 1}^n with |mean(eps d)| >= |mean(d)| (exact for
    n <= 16, else 2^16 patterns drawn with ``seed``, the observed one included)."""
    d = np.asarray(d, float)
    n = d.size
    if n == 0:
        return float("nan")
    if n <= EXACT_PERMUTATIONS:
        signs = np.array(list(itertools.product((1.0, -1.0), repeat=n)))
    else:
        rng = np.random.default_rng(seed)
        signs = rng.choice((1.0, -1.0), size=(2**EXACT_PERMUTATIONS - 1, n))
        signs = np.vstack([np.ones(n), signs])
    stats = np.abs(signs @ d) / n
    # a relative tolerance: sums of the same numbers in another order differ in the last bits
    return float(np.mean(stats >= abs(d.mean()) * (1 - 1e-12) - 1e-15))


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values (NaN stays NaN and counts as a test)."""
    p = np.asarray(p_values, float)
    m = len(p)
    order = np.argsort(np.where(np.isnan(p), np.inf, p), kind="stable")
    adj = np.full(m, np.nan)
    running = 0.0
    for rank, i in enumerate(order):
        if np.isnan(p[i]):
            continue
        running = max(running, min(1.0, (m - rank) * p[i]))
        adj[i] = running
    return adj.tolist()


def compare_to_baseline(by_sigma: Mapping[float, Mapping[int, float] | Sequence[float]], *,
                        lower_is_better: bool, delta: float, relative: bool = False,
                        alpha: float = ALPHA, label: str = "sigma",
                        slack: Mapping[float, float] | None = None,
                        baseline: float | str = 0.0, span: float | None = None) -> dict:
    """Paired verdict of "sigma > 0 improves on sigma = 0" (see the module docstring).

    ``by_sigma[s]`` maps seed -> value (a sequence means seeds 0, 1, ...); pairs are formed
    on the seeds present at both sigma and 0. ``delta`` is the smallest effect of interest, in
    the statistic's units, or a fraction of the sigma = 0 mean when ``relative``. ``label``
    names the compared setting in rows and messages (for example "K", diffusion layers).
    ``slack[s]``: how far, in the statistic's units, each paired difference could still move
    because the estimates themselves are inexact (an optimisation gap): a setting counts as
    better or worse only if its effect exceeds the slack, and as no gain >= delta (or
    equivalent) only if its 90% interval clears delta by the slack.
    ``baseline``: the key of the setting the others are compared with (sigma = 0 by default;
    a name such as "plain" when the settings are techniques, kept in their given order).
    ``span``: the largest paired difference the measure allows (1 for an accuracy), where it
    has one: an inconclusive summary says when a minimum detectable effect lies beyond it
    (no effect is then detectable with these seeds).
    """
    if baseline not in by_sigma:
        raise ValueError(f"the sweep needs {label} = {baseline} as the baseline")
    if not (delta > 0 and math.isfinite(delta)):
        raise ValueError(f"delta = {delta}: the smallest effect of interest must be > 0")
    from scipy.stats import t as student

    # 12 significant decimals: values equal up to summation order become exactly equal
    base = {k: round(v, 12) for k, v in _by_seed(by_sigma[baseline]).items()}
    base_mean = float(np.mean(list(base.values())))
    delta_abs = delta * abs(base_mean) if relative else delta
    sign = -1.0 if lower_is_better else 1.0
    others = [k for k in by_sigma if k != baseline]
    numeric = all(isinstance(k, int | float) for k in others)
    if numeric:
        others.sort()
    level = alpha / max(len(others), 1)  # Holm's first (most stringent) step: sizes the study
    rows = []
    for i, s in enumerate(others):
        vals = {k: round(v, 12) for k, v in _by_seed(by_sigma[s]).items()}
        seeds = sorted(set(vals) & set(base))
        d = sign * np.array([vals[k] - base[k] for k in seeds])
        n = len(seeds)
        row = {label: s, "seeds": n, "mean": float(np.mean([vals[k] for k in seeds]))
               if n else float("nan"), "baseline": float(np.mean([base[k] for k in seeds]))
               if n else float("nan"),
               "improvement": float(d.mean()) if n else float("nan"),
               "sd": float(d.std(ddof=1)) if n > 1 else float("nan"), "note": ""}
        row["difference"] = row["mean"] - row["baseline"]
        row["slack"] = float((slack or {}).get(s, 0.0))
        row["p_permutation"] = sign_flip_p(d, seed=round(s * 1e6) if numeric else 1000 + i)
        scale = max(1.0, abs(row["mean"]), abs(row["baseline"]))
        if n < 2:
            row.update(p_value=float("nan"), ci95=[float("nan")] * 2,
                       ci90=[float("nan")] * 2, p_tost=float("nan"), p_not_delta=float("nan"),
                       note="fewer than 2 paired seeds: no test possible")
        elif row["sd"] <= 1e-12 * scale:
            # identical differences in every seed: the t statistic is undefined, and reading
            # it as p = 0 would call any difference significant
            row.update(p_value=float("nan"), ci95=[row["improvement"]] * 2,
                       ci90=[row["improvement"]] * 2, p_tost=float("nan"),
                       p_not_delta=float("nan"),
                       note="no seed-to-seed variance of the paired differences: the t-test "
                            "cannot decide")
        else:
            se = row["sd"] / math.sqrt(n)
            df = n - 1
            tstat = row["improvement"] / se
            row["p_value"] = float(2 * student.sf(abs(tstat), df))
            q95, q90 = student.ppf(0.975, df), student.ppf(1 - alpha, df)
            row["ci95"] = [float(row["improvement"] - q95 * se),
                           float(row["improvement"] + q95 * se)]
            row["ci90"] = [float(row["improvement"] - q90 * se),
                           float(row["improvement"] + q90 * se)]
            # one-sided tests of the TOST pair: H0 E[d] >= delta and H0 E[d] <= -delta
            row["p_not_delta"] = float(student.cdf((row["improvement"] - delta_abs) / se, df))
            p_low = float(student.sf((row["improvement"] + delta_abs) / se, df))
            row["p_tost"] = max(row["p_not_delta"], p_low)
        # no spread (the undecidable row above): no effect size or seed count follows from
        # it (a spread of rounding, 1e-17, gave an MDE of 2.5e-15 and "2 seeds")
        spread = n > 1 and row["sd"] > 1e-12 * scale
        row["mde"] = minimum_detectable_effect(row["sd"], n, level) if spread else float("nan")
        row["seeds_needed"] = seeds_needed(delta_abs, row["sd"], level) if spread else None
        rows.append(row)
    for row, adj in zip(rows, holm([r["p_value"] for r in rows]), strict=True):
        row["p_holm"] = adj
        sig = adj < alpha
        sl = row["slack"]
        lo90, hi90 = row["ci90"]
        if row["note"]:
            row["status"] = "undecidable"
        elif sig and row["improvement"] - sl > 0:
            row["status"] = "better"
        elif sig and row["improvement"] + sl < 0:
            row["status"] = "worse"
        elif row["p_tost"] < alpha and -delta_abs < lo90 - sl and hi90 + sl < delta_abs:
            row["status"] = f"equivalent within {num(delta_abs, trim=True)}"
        elif row["p_not_delta"] < alpha and hi90 + sl < delta_abs:
            row["status"] = f"no gain >= {num(delta_abs, trim=True)}"
        else:
            row["status"] = "inconclusive"
        # the permutation test as a check of the t-test's decision (same hypothesis)
        perm_sig = row["p_permutation"] * len(rows) < alpha  # Bonferroni: conservative check
        row["permutation_agrees"] = bool(perm_sig == sig) if not row["note"] else None
    better = [r for r in rows if r["status"] == "better"]
    worse = [r for r in rows if r["status"] == "worse"]
    below = [r for r in rows if r["status"] == "worse" or (
        r["p_not_delta"] < alpha and r["ci90"][1] + r["slack"] < delta_abs)]
    if better:
        verdict = "holds"
        best = max(better, key=lambda r: r["improvement"])
        summary = (f"better at {label} {', '.join(str(r[label]) for r in better)}; largest "
                   f"effect {estimate(best['improvement'], *best['ci95'])} at {label} "
                   f"{best[label]}"
                   + (f"; worse at {label} {', '.join(str(r[label]) for r in worse)}"
                      if worse else ""))
    elif worse and len(worse) == len(rows):
        verdict = "fails"
        summary = f"significantly worse at every {label}: " + ", ".join(
            f"{r[label]}: {num(r['improvement'], sign=True)}" for r in rows)
    elif rows and len(below) == len(rows):
        verdict = "refuted at delta"
        summary = (f"no {label} improves by delta = {num(delta_abs, trim=True)} or more (every 90% "
                   "interval ends below delta)")
    else:
        verdict = "inconclusive"
        need = [r["seeds_needed"] for r in rows if r not in below]
        known = [k for k in need if k is not None]
        mdes = [num(r["mde"]) for r in rows]
        # one value per compared setting, each named (a bare list did not say which is which)
        shown = (mdes[0] if len(set(mdes)) == 1 and len(rows) == 1
                 else f"{mdes[0]} at every {label}" if len(set(mdes)) == 1
                 else ", ".join(f"{m} at {label} {r[label]}" for r, m in zip(rows, mdes,
                                                                           strict=True)))
        beyond = span is not None and any(r["mde"] > span for r in rows)
        summary = ("neither an effect nor its absence at delta = "
                   f"{num(delta_abs, trim=True)} is established; minimum detectable effect of "
                   "this study " + shown
                   + (f" (beyond {num(span, trim=True)}, the largest difference the measure "
                      f"allows: at {label} "
                      + ", ".join(str(r[label]) for r in rows if r["mde"] > span)
                      + " no effect is detectable with these seeds)" if beyond else "")
                   + ("; " + f"{max(known)} paired seeds would give {POWER:.0%} power to detect "
                      f"delta at the observed spread" if known and len(known) == len(need)
                      else "; the seeds needed cannot be estimated (fewer than 2 seeds or no "
                      "spread)"))
    slacked = [r for r in rows if r["slack"] > 0]
    if verdict == "inconclusive" and slacked:
        worst = max(slacked, key=lambda r: r["slack"])
        summary += (f"; the estimates could still move by up to {num(worst['slack'], 2)} (their "
                    f"optimisation gap, at {label} {worst[label]}) against delta = "
                    f"{num(delta_abs, trim=True)}: seeds alone cannot decide while that gap "
                    "stays open; converged estimates can")
    split = [r for r in rows if r["permutation_agrees"] is False]
    if split:
        summary += "; the t-test and the sign-flip test disagree at " + ", ".join(
            f"{label} {r[label]} (p {p_value(r['p_value'])} vs {p_value(r['p_permutation'])})"
            for r in split)
    one = "compared setting" if label == "setting" else f"setting of {label}"
    return {"verdict": verdict, "rows": rows, "summary": summary, "delta": delta_abs,
            "delta_rule": (f"{delta:g} x the {label} = {baseline} mean" if relative
                           else f"{delta:g}"),
            "label": label, "baseline": baseline,
            "seeds_needed": max((r["seeds_needed"] for r in rows
                                 if r["seeds_needed"] is not None), default=None),
            "rule": "paired t-test of within-seed differences at "
                    + (f"{alpha}, Holm over {len(others)} settings of {label}"
                       if len(others) > 1 else f"{alpha} (one {one}: no multiplicity "
                       "correction)")
                    + f"; TOST at delta = {num(delta_abs, trim=True)}; sign-flip permutation "
                    "test as a check"
                    + ("; every decision's interval widened by the estimates' optimisation gap ("
                       + ", ".join(f"{label} {r[label]}: {num(r['slack'], 2)}" for r in rows)
                       + ")" if any(r["slack"] > 0 for r in rows) else "")}
