"""The package's import graph runs one way: no import circles, no import up a layer.

Every ``import`` / ``from ... import`` statement of every module is read with
:mod:`ast` (those inside functions and under ``TYPE_CHECKING`` included, since
they are dependencies all the same). Layers, lowest first: the shared base
modules (``errors``, ``files``, ``registry``, ``params``), ``datasets``,
``methods``, ``benchmark``, ``reports``, and the command line (``cli``,
``__main__``) above them all. A module may import its own layer or lower ones.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = ("datasets", "methods", "benchmark", "reports")
LAYERS = {"base": 0, "datasets": 1, "methods": 2, "benchmark": 3, "reports": 4, "cli": 5}


def module_files() -> dict[str, Path]:
    """Dotted module names of the package (``reconbench.x.y``) -> their files."""
    files = {f"reconbench.{p.stem}": p for p in ROOT.glob("*.py") if p.stem != "__init__"}
    for folder in FOLDERS:
        for path in (ROOT / folder).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            files[".".join(("reconbench", *parts))] = path
    return files


def imported_modules(path: Path, module: str, known: set[str]) -> set[str]:
    """The package's modules that ``path`` (module ``module``) imports, anywhere in it."""
    is_package = path.name == "__init__.py"
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module.split(".")[: len(module.split(".")) - node.level
                                           + (1 if is_package else 0)]
                base = ".".join(anchor + ([base] if base else []))
            names = [f"{base}.{alias.name}" for alias in node.names] + [base]
        for name in names:
            while name and name not in known:  # `from pkg import module` or `import pkg.mod`
                name = name.rpartition(".")[0]
            if name and name != module and name != "reconbench":
                found.add(name)
    return found


def import_graph() -> dict[str, set[str]]:
    files = module_files()
    known = set(files) | {"reconbench"}
    graph = {m: imported_modules(p, m, known) for m, p in files.items()}
    # a package's __init__ importing its own modules is how it exposes them, not a dependency
    for module in graph:
        graph[module] = {t for t in graph[module] if not module.startswith(t + ".")}
    return graph


def layer(module: str) -> int:
    name = module.split(".")[1]
    if name in ("cli", "__main__"):
        return LAYERS["cli"]
    return LAYERS.get(name, LAYERS["base"])


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    return sorted(f"{m} -> {t}" for m, targets in graph.items() for t in targets
                  if layer(t) > layer(m))


def test_the_graph_sees_real_imports():
    """The reader finds known edges (so a pass below is not a reader that sees nothing)."""
    graph = import_graph()
    assert "reconbench.datasets.grid" in graph["reconbench.datasets.masks"]
    assert "reconbench.benchmark.store" in graph["reconbench.reports.report"]
    assert "reconbench.cli" in graph["reconbench.__main__"]
    # a function-local import counts
    assert "reconbench.reports.report" in graph["reconbench.cli"]


def test_cycles_and_upward_imports_are_detected():
    """The checks themselves fail on a circle and on an arrow up."""
    graph = {"reconbench.datasets.a": {"reconbench.datasets.b"},
             "reconbench.datasets.b": {"reconbench.datasets.a", "reconbench.reports.r"},
             "reconbench.reports.r": set()}
    assert cycles(graph) == [["reconbench.datasets.a", "reconbench.datasets.b"]]
    assert upward_imports(graph) == ["reconbench.datasets.b -> reconbench.reports.r"]


def test_no_import_cycles():
    found = cycles(import_graph())
    assert not found, f"{len(found)} import circle(s): " + "; ".join(" <-> ".join(c)
                                                                      for c in found)


def test_no_upward_imports():
    found = upward_imports(import_graph())
    assert not found, f"{len(found)} import(s) up a layer: " + "; ".join(found)
