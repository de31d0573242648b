"""check.json's numbers as rows.csv (one row per trained network) and summary.md (the anchor
table, the verdict tables, the agreement table and the costs)."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from validation.doc.numbers import estimate, num
from validation.store.io import atomic_write_text


def _csv(runs: list[dict]) -> str:
    cols = ["setting", "seed", "accuracy", "robust_linf", "pgd_linf", "square_linf", "pgd_l2",
            "lipschitz_mean", "fk_gap", "fk_order", "train_seconds"]
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(cols)
    for r in runs:
        rob, lip, ag = r.get("robustness") or {}, r.get("lipschitz") or {}, r.get("agreement") or {}
        w.writerow([r["setting"], r["seed"], r["accuracy"], rob.get("robust_linf"),
                    rob.get("pgd_linf"), rob.get("square_linf"), rob.get("pgd_l2"),
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
    flags = result["masking_flags"]
    lines += ["", "Gradient masking suspected (the gradient-free attack beat PGD by more than "
              "its margin): " + (", ".join(flags) if flags else "none"), "",
              "## Costs per model (2 CPU cores unless stated)", "",
              "| setting | training s | s per epoch | all claims s |", "|---|---|---|---|"]
    for k, c in result["costs"].items():
        lines.append(f"| {k} | {num(c['train_seconds'], 3)} | {num(c['epoch_seconds'], 3)} | "
                     f"{num(c['total_seconds'], 3)} |")
    return "\n".join(lines) + "\n"


def write_outputs(result: dict, cfg, out: Path) -> None:
    atomic_write_text(out / "rows.csv", _csv(result["runs"]))
    atomic_write_text(out / "summary.md", summary(result, cfg))
