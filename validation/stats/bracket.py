"""The two ends of a robustness claim side by side: the attacks' upper estimate and the
certificate's lower one, each a paired verdict of :func:`~validation.stats.paired.
compare_to_baseline`; shared by ``cdverify check`` and the robustness sweep."""

from __future__ import annotations

#: certified accuracy below which, for both networks of a comparison, the lower end is at its
#: floor: a radius the smoothed networks almost never certify says nothing either way
CERTIFIED_FLOOR = 0.05


def bracket(upper: dict, lower: dict, *, label: str = "setting") -> dict:
    """The two ends of the l2 robustness claim side by side, per setting: the attacks' upper
    estimate and the certificate's lower one, each decided over paired seeds; where their
    statuses differ the claim says so (the two ends measure different classifiers: the
    deployed network and its smoothed version). ``label``: the rows' key (setting, sigma).
    ``agree``: True when every informative row agrees."""
    rows, split, floor = [], [], []
    low = {r[label]: r for r in lower["rows"]}
    for r in upper["rows"]:
        other = low.get(r[label])
        if other is None:
            continue
        agree: bool | None = r["status"] == other["status"]
        if max(other["mean"], other["baseline"]) < CERTIFIED_FLOOR:
            # both networks certify almost nothing at this radius: the lower end is at its
            # floor and its verdict (often "equivalent") says nothing about robustness
            other = other | {"status": f"uninformative (certified accuracy below "
                                       f"{CERTIFIED_FLOOR:g} for both)"}
            agree = None
            floor.append(str(r[label]))
        rows.append({label: r[label], "attacks": r["status"],
                     "certified": other["status"], "agree": agree,
                     "attacks_effect": r["improvement"], "certified_effect": other["improvement"]})
        if agree is False:
            split.append(f"{r[label]} (attacks: {r['status']}; certified: "
                         f"{other['status']})")
    parts = []
    if split:
        parts.append("the two ends disagree: " + "; ".join(split) + " — the claim is decided "
                     "at one end only")
    if floor:
        parts.append(f"the certificate is at its floor for {', '.join(floor)} and gives no "
                     "lower end there (the networks were not trained with input noise of this "
                     "size)")
    if len(split) + len(floor) < len(rows):
        parts.append("the two ends agree" + (" for the other settings" if parts else
                                             " for every setting"))
    summary = "; ".join(parts)
    verdict = "disagree" if split else ("agree" if len(floor) < len(rows) else "uninformative")
    return {"verdict": verdict, "agree": verdict == "agree", "summary": summary, "rows": [],
            "bracket": rows}
