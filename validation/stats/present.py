"""A paired verdict (paired.compare_to_baseline) as report content: the evidence cell of the
claims table and the verdict's blocks (the finding, the rule, one row per compared setting)."""

from __future__ import annotations

from validation.doc import Para, Table, estimate, num, p_value, para, strong, table


def evidence(verdict: dict) -> str:
    """A verdict's evidence cell in a claims table: the statistic, the finding and the test."""
    return "; ".join(x for x in (verdict.get("statistic"), verdict.get("summary"),
                                 verdict.get("rule")) if x)


def verdict_blocks(verdict: dict, claim: str) -> list[Para | Table]:
    """The verdict line, its rule and a table with one row per compared setting."""
    label = verdict.get("label", "sigma")
    rule = (f"{verdict['statistic']}; " if "statistic" in verdict else "") + verdict["rule"]
    rows = []
    for r in verdict["rows"]:
        need = r["seeds_needed"]
        rows.append([str(r[label]), str(r["seeds"]), num(r["mean"], 4), num(r["baseline"], 4),
                     estimate(r["improvement"], *r["ci95"]), p_value(r["p_value"]),
                     p_value(r.get("p_holm")), p_value(r["p_permutation"]),
                     p_value(r["p_tost"]), num(r["mde"]), "n/a" if need is None else str(need),
                     r["status"] + (f" ({r['note']})" if r["note"] else "")])
    base = verdict.get("baseline", 0)
    base = f"at {label} {base:g}" if isinstance(base, int | float) else str(base)
    return [para(strong(f"Verdict on '{claim}': {verdict['verdict']}"),
                 f" ({verdict['summary']})."),
            para(f"Rule: {rule}."),
            table([label, "seeds", "value", base, "improvement (95% CI)",
                   "p paired t", "p Holm", "p sign-flip", "p TOST", "MDE",
                   "seeds for 80% power at delta", "status"], rows)]
