"""Import layering, read from the source with ``ast`` (nothing here imports the modules it checks).

- ``firmware_bridge`` is the lower layer: it imports neither ``edge_runtime`` nor ``cloud_sync``.
- ``web_common``, the web toolkit both apps share, imports neither ``edge_runtime`` nor ``cloud_sync``.
- ``edge_runtime.geometry`` is a leaf: it imports nothing else of ``edge_runtime``.
- No import cycle among ``edge_runtime``'s subpackages and top-level modules (``config``,
  ``vision``, ``daemon`` ...), nor among its modules one by one.

Only imports run when a module is imported count: those at module level (also inside a
module-level ``if``/``try``/``with``), not those inside functions, nor those under
``if TYPE_CHECKING:``.
"""
from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RUNTIME = "edge_runtime"
GEOMETRY = "edge_runtime.geometry"

# Cycles known and accepted, each as the sorted tuple of the names that import each other, with why.
# Empty: none is left. Add one only with a comment saying why it cannot be broken yet.
ALLOWED_PACKAGE_CYCLES: frozenset[tuple[str, ...]] = frozenset()
ALLOWED_MODULE_CYCLES: frozenset[tuple[str, ...]] = frozenset()


@dataclass(frozen=True, slots=True)
class Import:
    importer: str  # module name
    target: str  # the module imported (a submodule where ``from package import submodule``)
    where: str  # "path:line"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def python_files(package: str) -> list[Path]:
    return sorted(p for p in (ROOT / package).rglob("*.py") if "__pycache__" not in p.parts)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _module_level(body: list[ast.stmt]) -> Iterator[ast.Import | ast.ImportFrom]:
    """Import statements run at import time: module level, through if/try/with, not under TYPE_CHECKING."""
    for node in body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        elif isinstance(node, ast.If):
            if not _is_type_checking(node.test):
                yield from _module_level(node.body)
            yield from _module_level(node.orelse)
        elif isinstance(node, ast.Try):
            for block in (node.body, *(h.body for h in node.handlers), node.orelse, node.finalbody):
                yield from _module_level(block)
        elif isinstance(node, ast.With):
            yield from _module_level(node.body)


def imports_of(path: Path, known: set[str]) -> list[Import]:
    """What the file imports at module level, resolved to module names (of any package)."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out: list[Import] = []
    for node in _module_level(ast.parse(path.read_text(encoding="utf-8"), str(path)).body):
        where = f"{path.relative_to(ROOT)}:{node.lineno}"
        if isinstance(node, ast.Import):
            out.extend(Import(name, alias.name, where) for alias in node.names)
            continue
        if node.level:
            base = package.split(".")
            base = base[: len(base) - node.level + 1]
            source = ".".join(base + ([node.module] if node.module else []))
        else:
            source = node.module or ""
        for alias in node.names:
            sub = f"{source}.{alias.name}"
            out.append(Import(name, sub if sub in known else source, where))
    return out


def _resolve(target: str, known: set[str]) -> str | None:
    """The module of ours that ``target`` names (``a.b.C`` -> ``a.b``), or None for another package."""
    while target and target not in known:
        target = target.rpartition(".")[0]
    return target or None


def runtime_imports() -> list[Import]:
    files = python_files(RUNTIME)
    known = {module_name(p) for p in files}
    out = []
    for path in files:
        for imp in imports_of(path, known):
            target = _resolve(imp.target, known)
            if target is not None and target != imp.importer:
                out.append(Import(imp.importer, target, imp.where))
    return out


def _unit(module: str) -> str:
    """``edge_runtime.config.cameras`` -> ``edge_runtime.config``: the subpackage or top-level module."""
    return ".".join(module.split(".")[:2])


def cycles(edges: dict[str, dict[str, str]]) -> list[tuple[tuple[str, ...], list[str]]]:
    """Each strongly connected component of more than one node (sorted), with one cycle path through
    its first node (that node repeated at the end)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def connect(v: str) -> None:  # Tarjan
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges.get(v, {})):
            if w not in index:
                connect(w)
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
                components.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            connect(v)
    return [(tuple(component), _path_through(component, edges)) for component in components]


def _path_through(component: list[str], edges: dict[str, dict[str, str]]) -> list[str]:
    """A shortest cycle from the component's first node back to it, within the component."""
    members, start = set(component), component[0]
    previous: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following = []
        for v in frontier:
            for w in sorted(edges.get(v, {})):
                if w not in members:
                    continue
                if w == start:
                    path = [v]
                    while path[-1] != start:
                        path.append(previous[path[-1]])
                    return [start, *reversed(path[:-1]), start]
                if w not in previous:
                    previous[w] = v
                    following.append(w)
        frontier = following
    raise AssertionError(f"no cycle through {component}")  # a component of > 1 node always has one


def describe(path: list[str], edges: dict[str, dict[str, str]]) -> str:
    steps = "\n".join(f"    {a} -> {b}  ({edges[a][b]})" for a, b in zip(path, path[1:]))
    return f"{' -> '.join(path)}\n{steps}"


def graph(imports: list[Import], unit: bool) -> dict[str, dict[str, str]]:
    edges: dict[str, dict[str, str]] = {}
    for imp in imports:
        a, b = (_unit(imp.importer), _unit(imp.target)) if unit else (imp.importer, imp.target)
        if a != b:
            edges.setdefault(a, {}).setdefault(b, imp.where)
    return edges


def check_cycles(edges: dict[str, dict[str, str]], allowed: frozenset[tuple[str, ...]], what: str) -> None:
    found = cycles(edges)
    new = [f"{describe(path, edges)}\n    (all of {', '.join(key)} import each other)" for key, path in found
           if key not in allowed]
    assert not new, f"import cycles between {what} of edge_runtime (first import of each step):\n" + "\n".join(new)
    stale = allowed - {key for key, _ in found}
    assert not stale, f"allowed {what} cycles that no longer exist; remove them from the allow-list: {sorted(stale)}"


def daemon_or_cloud_imports(package: str) -> tuple[list[Path], list[str]]:
    """The package's files, and where they import ``edge_runtime`` or ``cloud_sync``."""
    files = python_files(package)
    known = {module_name(p) for p in files}
    bad = list(dict.fromkeys(
        f"{imp.where}: {imp.target}"
        for path in files for imp in imports_of(path, known)
        if imp.target.split(".")[0] in (RUNTIME, "cloud_sync")
    ))
    return files, bad


@pytest.mark.parametrize("package", ["firmware_bridge"])
def test_firmware_bridge_imports_neither_the_daemon_nor_the_cloud(package: str) -> None:
    files, bad = daemon_or_cloud_imports(package)
    assert files and not bad, "firmware_bridge is the lower layer; it imports:\n" + "\n".join(bad)


@pytest.mark.parametrize("package", ["web_common"])
def test_web_common_imports_neither_the_daemon_nor_the_cloud(package: str) -> None:
    files, bad = daemon_or_cloud_imports(package)
    assert files and not bad, "web_common is shared by the edge and the cloud; it imports:\n" + "\n".join(bad)


def test_geometry_is_a_leaf() -> None:
    files = python_files(GEOMETRY.replace(".", "/"))
    known = {module_name(p) for p in python_files(RUNTIME)}
    bad = list(dict.fromkeys(
        f"{imp.where}: {imp.target}"
        for path in files for imp in imports_of(path, known)
        if imp.target.split(".")[0] == RUNTIME and not (imp.target == GEOMETRY or imp.target.startswith(GEOMETRY + "."))
    ))
    assert files and not bad, f"{GEOMETRY} must import nothing else of edge_runtime; it imports:\n" + "\n".join(bad)


def test_no_import_cycle_between_subpackages() -> None:
    check_cycles(graph(runtime_imports(), unit=True), ALLOWED_PACKAGE_CYCLES, "subpackages and top-level modules")


def test_no_import_cycle_between_modules() -> None:
    check_cycles(graph(runtime_imports(), unit=False), ALLOWED_MODULE_CYCLES, "modules")


def test_the_cycle_finder_reports_the_path() -> None:
    edges = {"a": {"b": "a.py:1"}, "b": {"c": "b.py:2"}, "c": {"a": "c.py:3", "d": "c.py:4"}, "d": {}}
    ((members, path),) = cycles(edges)
    assert members == ("a", "b", "c") and path == ["a", "b", "c", "a"]
    assert describe(path, edges).splitlines()[1].strip() == "a -> b  (a.py:1)"
    assert cycles({"a": {"b": "x"}, "b": {}}) == []


def test_type_checking_and_function_imports_do_not_count() -> None:
    source = (
        "from typing import TYPE_CHECKING\n"
        "import edge_runtime.bus\n"
        "if TYPE_CHECKING:\n    import edge_runtime.daemon\n"
        "def f():\n    import edge_runtime.config\n"
    )
    nodes = _module_level(ast.parse(source).body)
    assert [a.name for node in nodes if isinstance(node, ast.Import) for a in node.names] == ["edge_runtime.bus"]
