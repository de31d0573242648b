"""check.json's numbers as rows.csv (one row per trained network) and summary.md (the anchor
table, the verdict tables, the agreement table and the costs)."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from validation.doc.numbers import num
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


def user_stage(result: dict, cfg: dict) -> str | None:
    """A user's model's stage as built (--blocks and --width build only the toolkit's
    models), from result['stage'] where the check recorded it; None for the toolkit's own."""
    built = result.get("stage")
    if not built or ":" not in cfg["model"]:
        return None
    from validation.nets.adapter import weights_text

    read = ("; the forward adds the skip itself, read as Delta = c f(z), "
            + weights_text(built["scale"], built.get("scales", ()))
            if built.get("reading") == "residual" else "")
    own = _own_randomness(built)
    live = f"; its {own} (live in training in every setting)" if own else ""
    if built.get("random_at_eval"):
        live += ("; its forward is random at evaluation too: every setting's deployed "
                 "predictor averages its passes, with common draws")
    if built.get("same_init_every_seed") and cfg.get("seeds", 2) > 1:
        live += ("; its factory returns the same initial weights at every seed (it sets its "
                 "own seed?): the paired seeds differ only in data order and draws, and their "
                 "spread leaves out the initialisation's")
    n = built.get("distinct_blocks", built["blocks"])
    tied = (f" ({n} distinct module{'s' if n != 1 else ''}: weights tied across steps)"
            if n < built["blocks"] else "")
    bound = (f"; each step with the arguments the forward gives its block there "
             f"({built['bound']})" if built.get("bound") else "")
    return (f"stage {built['path']}: {built['blocks']} blocks{tied}, features "
            f"{' x '.join(map(str, built['feature_shape']))}{read}{bound}{live}")


def _plain_layers(result: dict, cfg: dict) -> str:
    """The sentence naming a user's stage's blocks without a skip connection ('' for none)."""
    from validation.nets.adapter import plain_layers_text

    built = result.get("stage") or {}
    if ":" not in cfg["model"] or not built:
        return ""
    return plain_layers_text(built.get("plain_layers"), built["blocks"])


def _own_randomness(built: dict) -> str:
    """The stage's own randomness in training, in words ('' for none): its dropout modules
    (with p), and blocks found random in training that have none (functional dropout,
    stochastic depth, noise layers)."""
    own = list(built.get("dropout_in_training") or [])
    named = set(built.get("dropout_blocks") or [])
    other = [b for b in built.get("random_in_training") or [] if b not in named]
    if other:
        own.append(f"randomness in block{'s' if len(other) > 1 else ''} "
                   f"{', '.join(map(str, other))} that is not a dropout module (functional "
                   "dropout, stochastic depth or noise)")
    return ("own " + "; ".join(own)) if own else ""


def blocks(result: dict, cfg: dict) -> list:
    """The check's content in the document model (validation.doc): anchors, verdicts, the
    agreement table, generators, robust accuracy per attack, suspect rows and costs.
    ``cfg``: the check's config as a dict (CheckConfig.as_dict)."""
    from validation.doc import Heading, para, strong, table
    from validation.stats.present import verdict_blocks

    lin, l2 = result.get("radii", (cfg.get("eps_linf"), cfg.get("eps_l2")))
    robust = "robustness" in cfg["claims"]
    arch = user_stage(result, cfg) or f"{cfg['blocks']} blocks, width {cfg['width']}"
    out: list = [para(
        f"{cfg['seeds']} paired seed{'s' * (cfg['seeds'] != 1)}; {arch}, T = "
        f"{cfg['t_end']:g}; {cfg['epochs']} epoch{'s' * (cfg['epochs'] != 1)}; deployed "
        f"predictor averaged over {cfg['passes']} passes"
        + (f"; attacks at linf {num(lin, 3)} / l2 {num(l2, 3)} on {cfg['attack_points']} test "
           "points" if robust else "") + f"; claims {', '.join(cfg['claims'])}."
        + _plain_layers(result, cfg)),
        Heading("Anchors (same split)", 3),
        table(["model", "measured", "anchor", "source", "met"],
              [[a["model"], num(a["measured"], 3), "-" if a["anchor"] is None
                else num(a["anchor"], 3), a["source"], "yes" if a["met"] else "NO"]
               for a in result["anchors"]["rows"]])]
    for claim, v in result["verdicts"].items():
        out.append(Heading(f"{claim}: {v['verdict']}", 3))
        if v.get("bracket"):
            said = {True: "yes", False: "NO", None: "n/a"}
            out += [para(v["summary"] + "."),
                    table(["setting", "attacks (upper)", "certified (lower)", "agree"],
                          [[b["setting"], b["attacks"], b["certified"], said[b["agree"]]]
                           for b in v["bracket"]])]
        elif not v["rows"]:
            out.append(para(strong(v["verdict"]), f": {v['summary']}."))
        else:
            out += verdict_blocks(v, claim)
            out += [para(f"Measure: {v.get('measure', '')}; smallest effect of interest "
                         f"{num(v['delta'], 3)}."),
                    table(["setting", "anchor"], [[r["setting"], r["anchor"]]
                                                  for r in v["rows"]])]
    if result["agreement"]:
        from validation.studies.feynman_kac import AUTO_RULE, ORDER_TOLERANCE

        out += [Heading("Agreement with the PDE (Feynman-Kac, the paper's method)", 3),
                table(["setting", "seeds", "gap network - PDE", "MC SE", "median weak order",
                       "sub-steps (finest)", "seeds whose levels converge",
                       "holds / fails / inconclusive"],
                      [[r["setting"], str(r["seeds"]), num(r["gap_mean"], 3),
                        num(r["gap_se_mean"], 2), num(r["order_median"], 3),
                        ", ".join(map(str, r.get("finest", []))) or "-",
                        str(r.get("levels_converge", "-")),
                        f"{r['holds']} / {r['fails']} / {r['inconclusive']}"]
                       for r in result["agreement"]]),
                para("Levels converge: the noiseless sub-stepped flows of the network's own "
                     "velocity converge at order 1 at the finest level (their feature "
                     f"differences' local order >= {1 - ORDER_TOLERANCE:g}). Where they do "
                     "not, h |Dv| is not "
                     "small, the levels are pre-asymptotic and their softmax outputs may "
                     "saturate: the seed's agreement is inconclusive whatever its order. "
                     f"The levels are 1, 2, 4, ... up to the finest shown (auto: {AUTO_RULE}).")]
    out += [Heading("Generators (theory catalogue)", 3),
            table(["setting", "generator"], [[k, v] for k, v in result["catalogue"].items()])]
    if own := _own_randomness(result.get("stage") or {}):
        at_eval = (result.get("stage") or {}).get("random_at_eval")
        out += [para(f"In training every setting, the plain baseline included, also carries "
                     f"the stage's {own}: a diffusion of its own that these rows leave out "
                     "(the paired design shares it between settings); "
                     + ("the forward keeps randomness at evaluation too, so every deployed "
                        "predictor averages its passes." if at_eval else
                        "at evaluation it is off."))]
    out += _robust_blocks(result["runs"])
    flags = result["masking_flags"]
    out += [para("Suspect rows (masking_suspected: a gradient-free attack beat every gradient "
                 "attack by more than 5 points; more_steps_raise: 3 x the PGD steps raised "
                 "robust accuracy; big_radius_not_zero: above 5% at a radius that reaches any "
                 "input): " + ("; ".join(flags) if flags else "none") + ".")] if robust else []
    out += [Heading(f"Costs per model ({cfg.get('device', 'cpu')})", 3),
            table(["setting", "training s", "s per epoch", "all claims s"],
                  [[k, num(c["train_seconds"], 3), num(c["epoch_seconds"], 3),
                    num(c["total_seconds"], 3)] for k, c in result["costs"].items()])]
    return out


def summary(result: dict, cfg) -> str:
    """The Markdown summary of a check (``cfg``: its CheckConfig)."""
    from validation.doc import Heading, to_markdown

    return to_markdown([Heading(f"cdverify check: {cfg.model} on {result['data']}", 1),
                        *blocks(result, cfg.as_dict() | {"eps_linf": cfg.radii[0],
                                                         "eps_l2": cfg.radii[1]})])


def _robust_blocks(runs: list[dict]) -> list:
    """Mean robust accuracy per attack and setting (over seeds), and the certified accuracy."""
    import numpy as np

    from validation.doc import Heading, para, table

    rob = [r for r in runs if r.get("robustness")]
    if not rob:
        return []
    keys = list(dict.fromkeys(k for r in rob for k in (*r["robustness"]["attacks_linf"],
                                                       "robust_linf",
                                                       *r["robustness"]["attacks_l2"],
                                                       "robust_l2")))
    cert = any(r["robustness"].get("certified") for r in rob)
    first = rob[0]["robustness"]
    rows = []
    for label in dict.fromkeys(r["setting"] for r in rob):
        rs = [r["robustness"] for r in rob if r["setting"] == label]
        cells = [label, num(float(np.mean([x["clean"] for x in rs])), 3)]
        cells += [num(float(np.mean([x[k] for x in rs])), 3) if all(k in x for x in rs) else "-"
                  for k in keys]
        if cert:
            c = [x["certified"] for x in rs if x.get("certified")]
            cells.append(f"{num(float(np.mean([x['at_eps_l2'] for x in c])), 3)} "
                         f"({c[0]['sigma']:g})" if c else "-")
        rows.append(cells)
    return [Heading(f"Robust accuracy per attack (linf {first['eps_linf']:g}, l2 "
                    f"{first['eps_l2']:g})", 3),
            para(f"Library: {first.get('library')}. Mean over seeds; robust_* is the AND over "
                 "the attacks of its norm (an upper estimate)."),
            table(["setting", "clean", *keys, *(["certified l2 (s)"] if cert else [])], rows)]


def write_outputs(result: dict, cfg, out: Path) -> None:
    atomic_write_text(out / "rows.csv", _csv(result["runs"]))
    atomic_write_text(out / "summary.md", summary(result, cfg))
