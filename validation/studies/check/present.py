"""check.json's numbers as rows.csv (one row per trained network) and summary.md (the anchor
table, the verdict tables, the agreement table and the costs)."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from validation.doc.numbers import estimate, num
from validation.store.io import atomic_write_text


def _csv(runs: list[dict]) -> str:
    cols = ["setting", "seed", "accuracy", "robust_linf", "pgd_linf", "square_linf",
            "art-apgd-ce_linf", "art-apgd-dlr_linf", "art-square_linf", "robust_l2", "pgd_l2",
            "art-apgd-ce_l2", "certified_l2", "flags", "lipschitz_mean", "fk_gap", "fk_order",
            "train_seconds"]
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(cols)
    for r in runs:
        rob, lip, ag = r.get("robustness") or {}, r.get("lipschitz") or {}, r.get("agreement") or {}
        w.writerow([r["setting"], r["seed"], r["accuracy"],
                    *(rob.get(c) for c in cols[3:12]),
                    (rob.get("certified") or {}).get("at_eps_l2"),
                    ";".join(rob.get("suspect") or []),
                    lip.get("mean"), ag.get("gap_network_pde"), ag.get("order"),
                    r["train_seconds"]])
    return buf.getvalue()


def summary(result: dict, cfg) -> str:
    """The Markdown summary of a check."""
    lines = [f"# cdverify check: {cfg.model} on {result['data']}", "",
             f"{cfg.seeds} paired seeds; {cfg.blocks} blocks, width {cfg.width}, T = "
             f"{cfg.t_end:g}; {cfg.epochs} epochs; deployed predictor averaged over "
             f"{cfg.passes} passes; attacks at linf {cfg.radii[0]:g} / l2 {cfg.radii[1]:g} on "
             f"{cfg.attack_points} test points.", "", "## Anchors (same split)", "",
             "| model | measured | anchor | source | met |", "|---|---|---|---|---|"]
    for a in result["anchors"]["rows"]:
        anchor = "-" if a["anchor"] is None else num(a["anchor"], 3)
        lines.append(f"| {a['model']} | {num(a['measured'], 3)} | {anchor} | {a['source']} | "
                     f"{'yes' if a['met'] else 'NO'} |")
    for claim, v in result["verdicts"].items():
        lines += ["", f"## {claim}: {v['verdict']}", "", v["summary"], ""]
        if v.get("bracket"):
            lines += ["| setting | attacks (upper) | certified (lower) | agree |",
                      "|---|---|---|---|"]
            said = {True: "yes", False: "NO", None: "n/a"}
            lines += [f"| {b['setting']} | {b['attacks']} | {b['certified']} | "
                      f"{said[b['agree']]} |" for b in v["bracket"]]
        if not v["rows"]:
            continue
        lines += [f"Measure: {v.get('measure', '')}; smallest effect of interest "
                  f"{num(v['delta'], 3)}.", "",
                  "| setting | mean | plain | effect (95% CI) | p (Holm) | MDE | seeds needed "
                  "| status | anchor |", "|---|---|---|---|---|---|---|---|---|"]
        for r in v["rows"]:
            lines.append(f"| {r['setting']} | {num(r['mean'], 4)} | {num(r['baseline'], 4)} | "
                         f"{estimate(r['improvement'], *r['ci95'])} | {num(r['p_holm'], 2)} | "
                         f"{num(r['mde'], 2)} | {r['seeds_needed']} | {r['status']} | "
                         f"{r['anchor']} |")
    if result["agreement"]:
        lines += ["", "## Agreement with the PDE (Feynman-Kac, the paper's method)", "",
                  "| setting | seeds | gap network - PDE | MC SE | median weak order | holds / "
                  "fails / inconclusive |", "|---|---|---|---|---|---|"]
        for r in result["agreement"]:
            lines.append(f"| {r['setting']} | {r['seeds']} | {num(r['gap_mean'], 3)} | "
                         f"{num(r['gap_se_mean'], 2)} | {num(r['order_median'], 3)} | "
                         f"{r['holds']} / {r['fails']} / {r['inconclusive']} |")
    lines += ["", "## Generators (theory catalogue)", ""]
    lines += [f"- {k}: {v}" for k, v in result["catalogue"].items()]
    lines += _robust_table(result["runs"])
    flags = result["masking_flags"]
    lines += ["", "Suspect rows (masking_suspected: a gradient-free attack beat every gradient "
              "attack by more than 5 points; more_steps_raise: 3 x the PGD steps raised robust "
              "accuracy; big_radius_not_zero: above 5% at a radius that reaches any input): "
              + ("; ".join(flags) if flags else "none"), "",
              "## Costs per model (2 CPU cores unless stated)", "",
              "| setting | training s | s per epoch | all claims s |", "|---|---|---|---|"]
    for k, c in result["costs"].items():
        lines.append(f"| {k} | {num(c['train_seconds'], 3)} | {num(c['epoch_seconds'], 3)} | "
                     f"{num(c['total_seconds'], 3)} |")
    return "\n".join(lines) + "\n"


def _robust_table(runs: list[dict]) -> list[str]:
    """Mean robust accuracy per attack and setting (over seeds), and the certified accuracy."""
    import numpy as np

    rob = [r for r in runs if r.get("robustness")]
    if not rob:
        return []
    keys = list(dict.fromkeys(k for r in rob for k in (*r["robustness"]["attacks_linf"],
                                                       "robust_linf",
                                                       *r["robustness"]["attacks_l2"],
                                                       "robust_l2")))
    cert = any(r["robustness"].get("certified") for r in rob)
    first = rob[0]["robustness"]
    head = f"## Robust accuracy per attack (linf {first['eps_linf']:g}, l2 {first['eps_l2']:g})"
    lines = ["", head, "", f"library: {first.get('library')}", "",
             "| setting | clean | " + " | ".join(keys) + (" | certified l2 (s) |" if cert
                                                         else " |"),
             "|---" * (len(keys) + 2 + cert) + "|"]
    for label in dict.fromkeys(r["setting"] for r in rob):
        rs = [r["robustness"] for r in rob if r["setting"] == label]
        cells = [num(float(np.mean([x["clean"] for x in rs])), 3)]
        cells += [num(float(np.mean([x[k] for x in rs])), 3) if all(k in x for x in rs) else "-"
                  for k in keys]
        if cert:
            c = [x["certified"] for x in rs if x.get("certified")]
            cells.append(f"{num(float(np.mean([x['at_eps_l2'] for x in c])), 3)} "
                         f"({c[0]['sigma']:g})" if c else "-")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return lines


def write_outputs(result: dict, cfg, out: Path) -> None:
    atomic_write_text(out / "rows.csv", _csv(result["runs"]))
    atomic_write_text(out / "summary.md", summary(result, cfg))
