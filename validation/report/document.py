"""The report as one document model (validation.doc): a title, the smoke warning, the run's
line, the claims table and the sections; report.md and index.html are two renderings of it
(index.html from the Jinja2 template report.html.j2, self-contained: figures embedded)."""

from __future__ import annotations

from dataclasses import MISSING, dataclass, fields, is_dataclass
from pathlib import Path

from validation.doc import (
    Code,
    Link,
    Section,
    Strong,
    items,
    md_inline,
    num,
    para,
    runs,
    table,
    to_markdown,
)
from validation.store.io import atomic_write_text

SMOKE_WARNING = ("This is a smoke-profile report: a check that the pipeline runs, with a few "
                 "epochs, seeds and points. Its verdicts carry no weight; run the quick or full "
                 "profile for evidence.")


@dataclass(frozen=True)
class Report:
    """Everything the two renderings show."""

    title: str
    warning: str | None
    run_line: tuple
    claims: tuple[dict, ...]
    sections: tuple[Section, ...]


def settings(config, prefix: str = "") -> list[str]:
    """The settings of a study config that differ from its class's defaults, as
    'name = value' (nested configs as 'train.name = value')."""
    out = []
    for f in fields(config):
        value = getattr(config, f.name)
        if is_dataclass(value):
            out += settings(value, f"{prefix}{f.name}.")
            continue
        default = (f.default if f.default is not MISSING else
                   f.default_factory() if f.default_factory is not MISSING else MISSING)
        if default is MISSING or value != default:
            shown = ", ".join(map(str, value)) if isinstance(value, tuple) else str(value)
            out.append(f"{prefix}{f.name} = {shown}")
    return out


def _run_line(meta: dict) -> tuple:
    reused = ", ".join(meta["reused"]) or "none"
    computed = ", ".join(meta["computed"]) or "none"
    took = (f" (they took {num(meta['reused_compute_s'])} s of stage compute when they were "
            "computed)" if meta["reused"] else "")
    return runs("Profile ", Code(meta["profile"]), ", data ", Code(meta["data"]),
                f", {meta['timestamp']}: wall time {num(meta['wall_time_s'])} s. Computed in "
                f"this run: {computed} ({num(meta['computed_s'])} s of stage compute). Reused "
                f"from the cache {meta['cache']}: {reused}{took}.")


def _sweep_section(name: str, sw: dict) -> Section:
    from validation.sweep.run import blocks

    cfg = sw["config"]
    seeds = cfg["seed"]
    rows = [["jobs", ", ".join(cfg["jobs"])], ["data", ", ".join(cfg["data"])],
            ["sigma", ", ".join(map(str, cfg["sigma"]))],
            ["seeds", f"{len(seeds)} ({min(seeds)} .. {max(seeds)})"],
            ["blocks", ", ".join(map(str, cfg["blocks"]))], ["epochs", str(cfg["epochs"])]]
    rows += [[f"[{kind}]", "; ".join(f"{k} = {', '.join(map(str, v)) if isinstance(v, list) else v}"
                                     for k, v in params.items())]
             for kind, params in cfg["params"].items() if kind in cfg["jobs"]]
    return Section(name, f"Included sweep {sw['path']}", (
        *blocks(sw["rows"], sw["verdicts"], sw["jobs"], sw["reused"], f"{name}/"),
        para("Config (sweep.json sha256 ", Code(sw["sha256"][:16]), "):"),
        table(["setting", "value"], rows)))


def _environment(prof, meta: dict) -> Section:
    studies = [[stage, study.name, "; ".join(settings(config)) or "defaults"]
               for study, config, stage in prof.stages()]
    return Section("environment", "Environment", (
        items(*[f"{k}: {v}" for k, v in meta["versions"].items()]),
        para(f"Profile {prof.name} ({prof.description}): the settings of each stage that "
             "differ from its study's defaults."),
        table(["stage", "study", "settings"], studies)))


def build_model(prof, results: dict, claims: list[dict], meta: dict) -> Report:
    """The report's document model from the stages' results."""
    sections = [study.section(results[stage], stage, results)
                for study, _, stage in prof.stages()]
    sections += [_sweep_section(n, sw) for n, sw in results.get("sweeps", {}).items()]
    sections.append(_environment(prof, meta))
    return Report("cdverify report", SMOKE_WARNING if meta["profile"] == "smoke" else None,
                  _run_line(meta), tuple(claims), tuple(sections))


def _claim_cells(c: dict) -> list:
    flags = [" Failed sanity flags: ", Strong(runs("; ".join(c["flags"]))), "."] \
        if c.get("flags") else []
    return [c["claim"], Strong(runs(c["status"])),
            runs(c["evidence"], *flags, " (see ", Link(c["section"], f"#{c['section']}"), ")")]


def to_md(rep: Report) -> str:
    """report.md."""
    head = [f"# {rep.title}", ""]
    if rep.warning:
        head += [f"> **{rep.warning}**", ""]
    head += [md_inline(rep.run_line), "", ""]
    claims = to_markdown([table(["claim", "status", "evidence"],
                                [_claim_cells(c) for c in rep.claims])])
    return "\n".join(head) + claims + "\n" + "\n".join(to_markdown(s) for s in rep.sections)


def to_page(rep: Report, folder: Path) -> str:
    """index.html: the template report.html.j2 over the same model, figures embedded."""
    from jinja2 import ChoiceLoader, PackageLoader

    from validation.doc.render import environment, html_inline, to_html

    env = environment().overlay(loader=ChoiceLoader([
        PackageLoader("validation.report", "templates"),
        PackageLoader("validation.doc", "templates")]))
    rows = [{"cells": [html_inline(runs(x)) for x in _claim_cells(c)],
             "css": c["status"].split()[0]} for c in rep.claims]  # "refuted at delta"
    return env.get_template("report.html.j2").render(
        title=rep.title, warning=rep.warning, run_line=html_inline(rep.run_line), claims=rows,
        sections=[to_html(s, folder) for s in rep.sections])


def write_report(out: Path, prof, results: dict, claims: list[dict], meta: dict) -> None:
    """report.md and index.html in ``out`` (the stages' files are copied there already)."""
    rep = build_model(prof, results, claims, meta)
    atomic_write_text(out / "report.md", to_md(rep))
    atomic_write_text(out / "index.html", to_page(rep, out))
