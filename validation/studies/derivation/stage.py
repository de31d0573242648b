"""The derivation study: the axioms give (CD) step by step, and every network technique's
generator is computed from its noise and compared with the catalogue (theory.report)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from validation.doc import Code, Math, Section, code_spans, formula, para, table

from ..registry import Claim, Study, register

#: the catalogue's fact columns; any other fact of an entry goes to its notes column
CATALOGUE_COLUMNS = ("velocity v", "diffusion A", "zeroth-order c")


@dataclass(frozen=True, kw_only=True)
class DerivationConfig:
    """``exact``: include the exact solutions' substitution checks (slow)."""

    exact: bool = False


@register
class DerivationStudy(Study):
    name = "derivation"
    title = "Symbolic derivation"
    config = DerivationConfig
    version = 2  # 2: A4's derived constraints, the quadrature section, expected/computed
    side_lane = True  # sympy/numpy on one core, no trained model

    def run(self, config: DerivationConfig, folder: Path, models: Path) -> dict:
        from theory.report import build_report, to_json, to_latex, to_markdown

        rep = build_report(include_exact=config.exact)
        (folder / "derive.md").write_text(to_markdown(rep))
        (folder / "derive.tex").write_text(to_latex(rep))
        doc = to_json(rep)
        catalogue = doc["sections"][0]
        return {"passed": rep.passed, "derivation_passed": rep.derivation.passed,
                "equation": rep.derivation.equation,
                "catalogue_passed": all(c["passed"] for it in catalogue["items"]
                                        for c in it["checks"]),
                "catalogue": [{"title": it["title"], **it["facts"],
                               "passed": all(c["passed"] for c in it["checks"])}
                              for it in catalogue["items"]],
                "steps": [{"title": st["title"], "axioms": st["axioms"],
                           "conclusion": st["conclusion"], "checks": len(st["checks"]),
                           "passed": all(c["passed"] for c in st["checks"])}
                          for st in doc["derivation"]["steps"]],
                "n_checks": sum(len(it["checks"]) for s in doc["sections"]
                                for it in s["items"]) + sum(len(s["checks"]) for s in
                                                            doc["derivation"]["steps"]),
                "exact_included": config.exact}

    def claims(self, stages: Mapping[str, dict], results: Mapping[str, dict]) -> list[Claim]:
        result = next(iter(stages.values()))
        return [Claim("The axioms A1-A6 give the convection-diffusion equation with A >= 0",
                      "holds" if result["derivation_passed"] else "fails", "derivation",
                      f"{result['n_checks']} sympy checks; result: "
                      f"{formula(result['equation'])}"),
                Claim("Network techniques map to the velocity/diffusion of docs/theory.md "
                      "(catalogue)", "holds" if result["catalogue_passed"] else "fails",
                      "derivation", f"{len(result['catalogue'])} entries, generators computed "
                      "and compared")]

    def section(self, result: dict, stage: str, results: Mapping[str, dict]) -> Section:
        steps = [[str(i + 1), code_spans(st["title"]), ", ".join(st["axioms"]) or "-",
                  formula(st["conclusion"]), str(st["checks"]),
                  "PASS" if st["passed"] else "FAIL"]
                 for i, st in enumerate(result.get("steps", []))]
        cat = []
        for c in result["catalogue"]:
            notes = "; ".join(f"{k}: {formula(v)}" for k, v in c.items()
                              if k not in (*CATALOGUE_COLUMNS, "title", "passed", "block",
                                           "dimension", "leading correction",
                                           "O(h) operator"))
            cat.append([code_spans(c["title"]), *[Math(c[k]) if k in c else "-"
                                      for k in CATALOGUE_COLUMNS],
                        notes or "-", "PASS" if c["passed"] else "FAIL"])
        exact = "included" if result["exact_included"] else "skipped (quick)"
        return Section("derivation", self.title, (
            para("Result: ", Math(result["equation"]), f". {result['n_checks']} checks, all "
                 f"{'passed' if result['passed'] else 'NOT passed'}; exact solutions {exact}. "
                 "Full derivation: ", Code(f"{stage}/derive.md"), " and ",
                 Code(f"{stage}/derive.tex"), "."),
            table(["step", "title", "axioms", "conclusion", "checks", "status"], steps),
            para("Catalogue: the generator of each network technique, computed from its "
                 "noise's moments and compared with docs/theory.md (powers written ^)."),
            table(["technique", "velocity v", "diffusion A", "zeroth-order c", "notes",
                   "status"], cat)))
