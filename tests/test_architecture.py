"""The package's layering: imports go one way down, with no cycle, imports inside
functions included. Layers, top to bottom (a module may import its own layer or lower):

cli → applications (browse, demo, inference) → api / deploy → engine → posemix (registers
every type) → models / evaluation / data / checks / inspection / report → transforms /
codecs / panels → visualization → keypoints → config / registry / errors / literal.
"""

from __future__ import annotations

import ast
from pathlib import Path

import posemix

PACKAGE = Path(posemix.__file__).parent
LAYERS = [
    {"cli", "__main__"},
    {"browse", "demo", "inference"},
    {"api", "deploy"},
    {"engine"},
    {""},  # posemix/__init__.py
    {"models", "evaluation", "data", "checks", "inspection", "report"},
    {"transforms", "codecs", "panels"},
    {"visualization"},
    {"keypoints"},
    {"config", "registry", "errors", "literal"},
]
KNOWN_EDGES: set[tuple[str, str]] = set()


def module_names() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if "configs" in parts:  # data files (metainfo, configs), never imported as code
            continue
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def import_graph() -> dict[str, set[str]]:
    """module → the posemix modules it imports anywhere in its body. ``from a.b import c``
    counts as an import of ``a.b`` (whose ``__init__`` runs) and of ``a.b.c`` if that is
    a module."""
    modules = module_names()

    def resolve(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        targets: set[str | None] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets.update(resolve(a.name) for a in node.names
                               if a.name.split(".")[0] == "posemix")
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parts = package.split(".")[:len(package.split(".")) - node.level + 1]
                    base = ".".join(parts + ([base] if base else []))
                if base.split(".")[0] != "posemix":
                    continue
                targets.add(resolve(base))
                targets.update(f"{base}.{a.name}" for a in node.names
                               if f"{base}.{a.name}" in modules)
        graph[name] = {t for t in targets if t and t != name}
    return graph


def layer(module: str) -> int:
    top = module.split(".")[1] if "." in module else ""
    for depth, members in enumerate(LAYERS):
        if top in members:
            return depth
    raise AssertionError(f"{module} is in no layer; add it to LAYERS")


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_graph_sees_function_level_and_package_imports():
    graph = import_graph()
    # api imports the checkpoint reader inside load_model
    assert "posemix.engine.checkpoint" in graph["posemix.api"]
    # 'from posemix.keypoints import X' runs (depends on) the keypoints package
    assert "posemix.keypoints" in graph["posemix.data.sources"]
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_import_cycle():
    assert cycles(import_graph()) == []


def test_imports_go_down_the_layers():
    upward = sorted((a, b) for a, targets in import_graph().items() for b in targets
                    if layer(b) < layer(a) and (a, b) not in KNOWN_EDGES)
    assert upward == []


def test_only_the_cli_imports_the_cli():
    graph = import_graph()
    users = sorted(a for a, targets in graph.items() if layer(a) != 0
                   and any(layer(b) == 0 for b in targets))
    assert users == []



def test_no_module_over_400_lines():
    long = {name: n for name, path in module_names().items()
            if (n := len(path.read_text(encoding="utf-8").splitlines())) > 400}
    assert long == {}


def test_runner_is_assembly_only():
    """engine/runner.py only assembles (issue 13): the loop, settings, state and hooks live
    in their own modules, which keeps it at 250 lines at most."""
    path = module_names()["posemix.engine.runner"]
    assert len(path.read_text(encoding="utf-8").splitlines()) <= 250
