"""The package layout: no import circles (lazy imports included), validation's floors imported
one way only, the CLI a thin layer, the numerics free of sympy and torch, and no path outside
the repository cited."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("theory", "numerics", "validation")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def import_graph() -> dict[str, set[str]]:
    """module -> the project modules it imports anywhere in its body (lazy imports too)."""
    modules = {_module_name(p): p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")}
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text())):
            targets = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")
                    base = base[: len(base) - node.level + 1]
                    mod = ".".join(base + ([node.module] if node.module else []))
                else:
                    mod = node.module or ""
                targets = [mod] + [f"{mod}.{a.name}" for a in node.names]
            for t in targets:
                if t in modules and t != name:
                    graph[name].add(t)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every elementary cycle's representative found by depth-first search (empty if none)."""
    found, state = [], {}

    def visit(node, stack):
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                found.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt, stack)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [])
    return found


def test_no_import_circles_within_a_package():
    graph = import_graph()
    graph = {m: {t for t in ts if not t.startswith(m + ".")} for m, ts in graph.items()}
    assert cycles(graph) == []


def test_the_cycle_finder_finds_a_planted_circle():
    # negative control: the circle theory/axioms <-> theory/catalogue that used to exist
    graph = import_graph()
    graph = {m: {t for t in ts if not t.startswith(m + ".")} for m, ts in graph.items()}
    graph["theory.axioms"] = graph["theory.axioms"] | {"theory.catalogue"}
    assert ["theory.axioms", "theory.catalogue", "theory.axioms"] in cycles(graph)


def test_numerics_never_imports_sympy_or_torch():
    for path in (ROOT / "numerics").rglob("*.py"):
        text = path.read_text()
        assert not re.search(r"^\s*(import|from)\s+(sympy|torch)\b", text, re.M), path


@pytest.mark.parametrize("module", ["derive", "solve", "validate", "robustness", "rademacher",
                                    "report", "sweep", "graph", "inspect"])
def test_each_cli_module_is_a_thin_layer(module):
    """A subcommand parses options and calls public functions: short, no loops over work."""
    path = ROOT / "validation" / "cli" / f"{module}.py"
    tree = ast.parse(path.read_text())
    names = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
    assert {"add_arguments", "run"} <= names
    assert len(path.read_text().splitlines()) < 70, "work belongs in a package, not the CLI"
    loops = [n for n in ast.walk(tree) if isinstance(n, ast.For | ast.While)]
    assert not loops, f"{path.name} loops: work belongs in a package, not the CLI"


#: validation/'s floors, bottom to top: a module imports only its own package and lower floors
FLOORS = {"store": 0, "doc": 1, "stats": 2, "nets": 2, "studies": 3, "sweep": 4, "report": 5,
          "cli": 6}


def _floor(module: str) -> tuple[int, str] | None:
    """(floor, package) of a validation module, e.g. validation.studies.depth.study ->
    (2, 'studies.depth'); None outside validation's packages."""
    parts = module.split(".")
    if parts[0] != "validation" or len(parts) < 2 or parts[1] not in FLOORS:
        return None
    # a study's package is studies.<claim>; the modules beside them (the registry) belong to
    # every study
    shared = len(parts) > 2 and not (ROOT / "validation" / "studies" / parts[2]).is_dir()
    package = ".".join(parts[1:3]) if parts[1] == "studies" and len(parts) > 2 \
        and not shared else parts[1]
    return FLOORS[parts[1]], package


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    """Every import that runs up a floor, sideways between two packages of one floor (two
    studies, or nets and stats), or into validation's top-level module from a package."""
    bad = []
    for mod, targets in graph.items():
        here = _floor(mod)
        if here is None:
            continue
        for t in sorted(targets):
            there = _floor(t)
            if there is None:
                if t == "validation":
                    bad.append(f"{mod} -> {t}")
                continue
            if there[0] > here[0] or (there[0] == here[0] and there[1] != here[1]
                                      and not (here[1] == "studies" or there[1] == "studies")):
                bad.append(f"{mod} -> {t}")
            elif here[1].startswith("studies.") and there[1].startswith("studies.") \
                    and there[1] != here[1]:
                bad.append(f"{mod} -> {t}")
    return bad


def test_validation_imports_run_one_way():
    """store < doc < nets, stats < studies < sweep < report < cli; no study imports another."""
    assert upward_imports(import_graph()) == []


@pytest.mark.parametrize("planted", [("validation.store.cache", "validation.nets.train"),
                                     ("validation.studies.depth.study",
                                      "validation.report.build"),
                                     ("validation.studies.depth.study",
                                      "validation.studies.agreement.study"),
                                     ("validation.nets.train", "validation.stats.paired"),
                                     ("validation.store.io", "validation.doc.render")])
def test_the_direction_check_sees_a_planted_upward_import(planted):
    graph = import_graph()
    graph[planted[0]] = graph[planted[0]] | {planted[1]}
    assert f"{planted[0]} -> {planted[1]}" in upward_imports(graph)


def test_validation_top_level_holds_packages_only():
    """Every module of validation/ lives in one of its floors' packages."""
    top = {p.stem for p in (ROOT / "validation").glob("*.py")}
    assert top == {"__init__"}
    packages = {p.name for p in (ROOT / "validation").iterdir() if (p / "__init__.py").exists()}
    assert packages == set(FLOORS)


def test_every_registered_study_has_a_config_a_claim_and_a_section():
    """Each study of the registry declares a frozen config dataclass, and its claims and
    section are its own (not the abstract base's); the report and the sweep find them there."""
    import dataclasses

    from validation.studies import ORDER, REGISTRY, Study

    assert list(REGISTRY)[:len(ORDER)] == list(ORDER)
    for name, study in REGISTRY.items():
        assert dataclasses.is_dataclass(study.config), name
        assert study.config.__dataclass_params__.frozen, f"{name}: config not frozen"
        for method in ("run", "claims", "section"):
            assert getattr(type(study), method) is not getattr(Study, method), (name, method)
        assert study.stage(study.config()).startswith(name), name


def test_a_study_without_a_section_cannot_register():
    from validation.studies import Study

    class Incomplete(Study):  # negative control: no section
        name, title, config = "incomplete", "Incomplete", dict

        def run(self, config, folder, models):
            return {}

        def claims(self, stages, results):
            return []

    with pytest.raises(TypeError, match="abstract"):
        Incomplete()


def test_nothing_cites_a_path_outside_the_repository():
    files = [ROOT / "README.md", *(ROOT / "docs").rglob("*.md")]
    files += [p for pkg in (*PACKAGES, "tests", "benchmarks") for p in (ROOT / pkg).rglob("*.py")]
    pattern = re.compile(r"\.\./shared|/work/|\.\./\.\./")
    hits = [f"{p.relative_to(ROOT)}: {m.group(0)}" for p in files
            if p.resolve() != Path(__file__).resolve()  # the pattern itself (a link in copies)
            for m in pattern.finditer(p.read_text())]
    assert hits == []


@pytest.mark.parametrize("package", PACKAGES)
def test_every_public_name_is_importable(package):
    import importlib

    mod = importlib.import_module(package)
    missing = [n for n in getattr(mod, "__all__", []) if not hasattr(mod, n)]
    assert missing == []
