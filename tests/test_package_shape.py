"""The package's shape: no import cycle between modules or packages, no oversized module."""

import ast
from pathlib import Path

import networkx as nx
import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("roadkd", "cli")
#: The QGIS plugin runs in QGIS's own Python and imports nothing of roadkd.
OUTSIDE = ("qgis",)
MAX_LINES = 450


def modules() -> dict[str, Path]:
    """Dotted name -> file of every module of roadkd and the CLI."""
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            if any(part in OUTSIDE for part in path.parts):
                continue
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def imported(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The modules of ``known`` that a module imports, at its top or inside functions."""
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    targets: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join(base + ([node.module] if node.module else []))
            candidates = [f"{module}.{alias.name}" for alias in node.names] + [module]
        elif isinstance(node, ast.Import):
            candidates = [alias.name for alias in node.names]
        else:
            continue
        # a name imported from a package is its submodule when there is one
        for candidate in candidates:
            if candidate in known and candidate != name:
                targets.add(candidate)
                break
    return targets


def import_graph() -> nx.DiGraph:
    known = modules()
    graph = nx.DiGraph()
    graph.add_nodes_from(known)
    for name, path in known.items():
        graph.add_edges_from((name, target) for target in imported(name, path, known))
    return graph


def package_of(module: str) -> str:
    """``roadkd.vectorize.run`` -> ``roadkd.vectorize``; a top-level module is its own."""
    return ".".join(module.split(".")[:2])


def test_no_module_imports_itself_back() -> None:
    cycles = list(nx.simple_cycles(import_graph()))
    assert cycles == []


def test_no_two_packages_import_each_other() -> None:
    packages = nx.DiGraph()
    for a, b in import_graph().edges:
        pa, pb = package_of(a), package_of(b)
        # a package's __init__ re-exports its own modules: not an edge between packages
        if pa != pb and not (a == pa and b.startswith(pa + ".")):
            packages.add_edge(pa, pb)
    assert list(nx.simple_cycles(packages)) == []


@pytest.mark.parametrize("name", sorted(modules()))
def test_module_is_small_enough_to_read(name: str) -> None:
    lines = len(modules()[name].read_text().splitlines())
    assert lines <= MAX_LINES, f"{name} has {lines} lines"


def test_imports_inside_functions_and_relative_ones_are_seen(tmp_path: Path) -> None:
    """The checker itself: a lazy relative import (how cycles hid) is an edge."""
    (tmp_path / "a.py").write_text("def f():\n    from .b import g\n")
    (tmp_path / "b.py").write_text("from . import a\n")
    known = {"p.a": tmp_path / "a.py", "p.b": tmp_path / "b.py"}
    assert imported("p.a", known["p.a"], known) == {"p.b"}
    assert imported("p.b", known["p.b"], known) == {"p.a"}
