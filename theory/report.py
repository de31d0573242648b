r"""Collect every symbolic check into one report: Markdown, LaTeX and JSON renderings.

Nothing is printed that was not checked: every line carries the status of its sympy check.
"""

from __future__ import annotations

import json
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import sympy as sp

from . import bounds, exact, graph, scheme_analysis
from .axioms import AXIOMS, DEFAULT_AXIOMS, Derivation, derive
from .catalogue import TECHNIQUES, TechniqueReport, check_technique, technique
from .checks import Check
from .generator import format_operator, second_order_part


@dataclass
class Section:
    title: str
    items: list[tuple[str, list[Check], dict[str, str]]] = field(default_factory=list)
    seconds: float = 0.0  # wall time spent computing the section

    @property
    def passed(self) -> bool:
        return all(c.passed for _, cs, _ in self.items for c in cs)


@dataclass
class TheoryReport:
    derivation: Derivation
    sections: list[Section]
    timings: dict[str, float] = field(default_factory=dict)  # seconds per part

    @property
    def passed(self) -> bool:
        return self.derivation.passed and all(s.passed for s in self.sections)


def _technique_item(rep: TechniqueReport) -> tuple[str, list[Check], dict[str, str]]:
    res = rep.result
    facts = {"block": rep.result.block.description, "dimension": str(rep.dim)}
    if res.divergent:
        rate, _ = res.leading_divergence  # type: ignore[misc]
        facts["generator"] = f"diverges like {rate}"
    else:
        facts["velocity v"] = str(list(sp.simplify(res.velocity)))
        facts["diffusion A"] = str(sp.simplify(res.diffusion).tolist())
        facts["zeroth-order c"] = str(res.zeroth_order)
        corr = res.correction
        if corr is not None:
            facts["leading correction"] = (
                f"order {corr[0]}; second-order part B = "
                f"{sp.simplify(second_order_part(corr[1], rep.dim)).tolist()}")
            facts["O(h) operator"] = format_operator(res.terms.get(2, {}), res.x)
    return f"{rep.technique.title} (`{rep.technique.name}`)", rep.checks, facts


def _technique_names(techniques: list[str] | None) -> list[str]:
    """The catalogue entries a report checks (all by default); an unknown name is refused
    (TheoryError naming the valid ones), before any work."""
    names = [*TECHNIQUES, "graph-diffusion"] if techniques is None else list(techniques)
    for n in names:
        if n != "graph-diffusion":
            technique(n)
    return names


def report_plan(techniques: list[str] | None = None, include_exact: bool = True) -> list[str]:
    """The units of work of :func:`build_report`, in order (what its ``progress`` is called
    with, one call as each unit ends); an unknown technique is refused here, before any work."""
    names = _technique_names(techniques)
    later = [] if techniques is not None else [
        *(["exact solutions"] if include_exact else []), "bounds", "quadrature", "von Neumann"]
    return ["derivation", *names, *later]


def build_report(assume: str | tuple[str, ...] = DEFAULT_AXIOMS,
                 techniques: list[str] | None = None, dim: int = 2,
                 include_exact: bool = True,
                 progress: Callable[[str], None] | None = None) -> TheoryReport:
    """Run the derivation for ``assume`` and every check of the chosen catalogue entries.
    ``progress(unit)`` is called as each unit of :func:`report_plan` ends (a progress bar:
    d = 3 takes about a minute, d = 4 several)."""
    done = progress or (lambda unit: None)
    names = _technique_names(techniques)  # validated before the derivation
    clock = time.perf_counter()
    der = derive(assume, dim=dim)
    timings = {"derivation": time.perf_counter() - clock}
    done("derivation")
    sections = []
    clock = time.perf_counter()
    cat = Section("Catalogue of network techniques (docs/theory.md section 3)")
    generators = {}  # the techniques' generators in dimension dim, reused by the quadrature
    for n in names:
        if n == "graph-diffusion":
            cat.items.append(("Graph diffusion u <- u - tau L u (`graph-diffusion`)",
                              graph.graph_checks(),
                              {"condition": "tau * max_i (d_i - W_ii) <= 1"}))
        else:
            rep = check_technique(n, dim)
            generators[n] = rep.result
            cat.items.append(_technique_item(rep))
        done(n)
    sections.append(cat)
    cat.seconds = timings["catalogue"] = time.perf_counter() - clock
    if techniques is None:
        if include_exact:
            clock = time.perf_counter()
            ex = Section("Exact solutions verified by substitution")
            for sol in exact.catalogue():
                ok = exact.verify(sol)
                wrong = exact.refuted(sol, exact.perturbed(sol))
                ex.items.append((sol.name, [
                    Check("residual simplifies to 0 and the initial condition holds", ok,
                          expected="residual 0, u(., 0) = f",
                          computed=("residual 0, u(., 0) = f" if ok else
                                    f"residual {sp.simplify(exact.residual(sol))}")),
                    Check("negative control: a perturbed candidate's residual is non-zero at a "
                          "random rational point (50 digits)", wrong,
                          expected="non-zero", computed="non-zero" if wrong else "0 at every "
                          "point tried")],
                    {"u": str(sol.u) if len(str(sol.u)) < 160 else str(sol.u)[:157] + "...",
                     "velocity": str(list(sol.velocity)),
                     "diffusion": str(sol.diffusion.tolist())}))
            sections.append(ex)
            ex.seconds = timings["exact solutions"] = time.perf_counter() - clock
            done("exact solutions")
        clock = time.perf_counter()
        bd = Section("Bounds (docs/theory.md sections 4, 5)")
        hl = bounds.derive_heat_lipschitz()
        bd.items.append(("Heat-semigroup Lipschitz constants", list(hl.checks),
                         {"|f| <= M": str(hl.bounded), "f in [0,1]": str(hl.unit_interval),
                          "assumptions": bounds.ASSUMPTIONS["heat_lipschitz"]}))
        expr, chk = bounds.derive_linear_rademacher()
        bd.items.append(("Linear class Rademacher complexity", [chk],
                         {"sup": f"(1/m) {expr}", "upper": "B sqrt(sum |x_i|^2) / m",
                          "assumed": bounds.ASSUMED_RESULTS["jensen_diffused"]}))
        bd.items.append(("Maximum principle (closed form: d = 1, constant b, a > 0)",
                         list(bounds.derive_maximum_principle()),
                         {"assumed": bounds.ASSUMED_RESULTS["maximum_principle_general"]}))
        sections.append(bd)
        bd.seconds = timings["bounds"] = time.perf_counter() - clock
        done("bounds")
        clock = time.perf_counter()
        nu = Section("The expansion against quadrature of the one-step operator (d = 2)")
        from .numeric_generator import technique_comparisons

        for comp in technique_comparisons(generators=generators if dim == 2 else None):
            nu.items.append((comp.technique, [comp.check()], {
                "L phi(x0)": f"{comp.limit_symbolic:.10g} (numeric {comp.limit_numeric:.10g})",
                "O(h) term": f"{comp.correction_symbolic:.10g} (numeric "
                             f"{comp.correction_numeric:.10g})"}))
        sections.append(nu)
        nu.seconds = timings["quadrature"] = time.perf_counter() - clock
        done("quadrature")
        clock = time.perf_counter()
        sc = Section("Von Neumann stability of explicit schemes")
        for a in scheme_analysis.analyses():
            sc.items.append((a.scheme, list(a.checks), {"condition": a.condition,
                                                       "G(theta)": str(a.amplification)}))
        sections.append(sc)
        sc.seconds = timings["von Neumann"] = time.perf_counter() - clock
        done("von Neumann")
    return TheoryReport(der, sections, timings)


def _status(ok: bool | Check) -> str:
    """PASS / FAIL, and UNDECIDED for a check sympy could not decide (it fails too)."""
    if isinstance(ok, Check):
        return "UNDECIDED" if ok.undecided else _status(ok.passed)
    return "PASS" if ok else "FAIL"


def to_markdown(rep: TheoryReport) -> str:
    """A readable Markdown derivation with each step, the axiom used and the check status."""
    der = rep.derivation
    out = ["# cdverify: symbolic verification", "",
           f"Overall: **{_status(rep.passed)}**", "",
           f"## Derivation from the axioms {', '.join(der.assumed)} (d = {der.dim})", ""]
    for k in der.assumed:
        a = AXIOMS[k]
        out.append(f"- **{k} {a.name}**: {a.statement}")
    out.append("")
    for i, st in enumerate(der.steps, 1):
        used = ", ".join(st.axioms) if st.axioms else "ablation witness"
        out.append(f"{i}. **{st.title}** [{used}] -> {st.conclusion}")
        if not st.checks:
            out.append("   - assumed, not machine-checked")
        for c in st.checks:
            tail = f" ({c.detail})" if c.detail and len(c.detail) < 200 else ""
            out.append(f"   - {_status(c)}: {c.name}{tail}")
    for n in der.notes:
        out.append(f"- note: {n}")
    out += ["", f"**Result:** `{der.equation}`", ""]
    for sec in rep.sections:
        out += [f"## {sec.title}", ""]
        for title, checks, facts in sec.items:
            ok = all(c.passed for c in checks)
            out.append(f"### {title}: {_status(ok)}")
            for k, v in facts.items():
                out.append(f"- {k}: `{v}`")
            for c in checks:
                ax = f" [{c.axiom}]" if c.axiom else ""
                tail = f" ({c.detail})" if c.detail and len(c.detail) < 200 else ""
                out.append(f"  - {_status(c)}{ax}: {c.name}{tail}")
            out.append("")
    return "\n".join(out)


def _tex(s: str) -> str:
    repl = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#",
            "_": r"\_", "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\^{}",
            "<": r"$<$", ">": r"$>$"}
    return "".join(repl.get(ch, ch) for ch in s)


def to_latex(rep: TheoryReport) -> str:
    """A compilable LaTeX document of the same content (sympy's latex for the equation)."""
    der = rep.derivation
    lines = [r"\documentclass{article}", r"\usepackage{amsmath,amssymb}",
             r"\usepackage[margin=2cm]{geometry}", r"\begin{document}",
             r"\section*{cdverify: symbolic verification}",
             f"Overall: \\textbf{{{_status(rep.passed)}}}.", "",
             f"\\subsection*{{Derivation from {_tex(', '.join(der.assumed))}}}",
             r"\begin{enumerate}"]
    for st in der.steps:
        used = ", ".join(st.axioms) if st.axioms else "ablation witness"
        lines.append(f"\\item \\textbf{{{_tex(st.title)}}} [{_tex(used)}]: "
                     f"{_tex(st.conclusion)}")
        if not st.checks:
            lines.append(" (assumed, not machine-checked)")
            continue
        lines.append(r"\begin{itemize}")
        for c in st.checks:
            lines.append(f"\\item {_status(c)}: {_tex(c.name)}")
        lines.append(r"\end{itemize}")
    lines.append(r"\end{enumerate}")
    if der.generator is not None:
        lines.append(f"Final generator: $F = {sp.latex(der.generator)}$.\n")
    lines.append(f"Result: \\texttt{{{_tex(der.equation)}}}.")
    for sec in rep.sections:
        lines.append(f"\\subsection*{{{_tex(sec.title)}}}")
        lines.append(r"\begin{itemize}")
        for title, checks, _facts in sec.items:
            ok = all(c.passed for c in checks)
            lines.append(f"\\item {_tex(title)}: \\textbf{{{_status(ok)}}} "
                         f"({sum(c.passed for c in checks)}/{len(checks)} checks)")
        lines.append(r"\end{itemize}")
    lines.append(r"\end{document}")
    return "\n".join(lines) + "\n"


def to_json(rep: TheoryReport) -> dict[str, Any]:
    """Machine-readable results."""
    der = rep.derivation

    def chk(c: Check) -> dict[str, Any]:
        return {"name": c.name, "passed": c.passed, "undecided": c.undecided, "axiom": c.axiom,
                "expected": c.expected, "computed": c.computed, "detail": c.detail}

    from importlib.metadata import PackageNotFoundError, version

    def ver(name):
        try:
            return version(name)
        except PackageNotFoundError:
            return "not installed"

    return {
        "passed": rep.passed,
        "versions": {"python": platform.python_version(), "sympy": ver("sympy"),
                     "cdverify": ver("cdverify")},
        "timings_s": {k: round(v, 3) for k, v in rep.timings.items()},
        "derivation": {
            "assumed": list(der.assumed), "dim": der.dim, "equation": der.equation,
            "generator": None if der.generator is None else str(der.generator),
            "notes": der.notes,
            "constraints": [f"{sp.sstr(c)} >= 0" for c in der.constraints],
            "steps": [{"title": s.title, "axioms": list(s.axioms), "conclusion": s.conclusion,
                       "checks": [chk(c) for c in s.checks]} for s in der.steps],
        },
        "sections": [{"title": s.title, "items": [
            {"title": t, "facts": f, "checks": [chk(c) for c in cs]} for t, cs, f in s.items]}
            for s in rep.sections],
    }


def dumps_json(rep: TheoryReport) -> str:
    return json.dumps(to_json(rep), indent=2)
