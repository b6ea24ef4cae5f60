"""The project's import graph, read from the code's own import statements (no import is run).

Used by tests/test_structure.py (no cycles, layers kept, sizes) and by
docs/package_map.py (the picture ARCHITECTURE.md links).
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("experiment_folder", "trainables", "analysis", "study")


def modules(root: Path = ROOT) -> dict[str, Path]:
    """Every module of the four packages: dotted name -> file."""
    found = {}
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            parts = path.relative_to(root).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join(parts)] = path
    return found


def _resolve(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    """The absolute module an ``from ... import`` names (relative ones resolved)."""
    if node.level == 0:
        return node.module or ""
    base = module.split(".")
    if not is_package:
        base = base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def imports(root: Path = ROOT) -> dict[str, set[str]]:
    """module -> the modules of ours it imports, anywhere in it (inside functions too):
    ``from pkg import name`` counts as pkg.name where that is a module, else as pkg."""
    known = modules(root)
    graph: dict[str, set[str]] = {}
    for module, path in known.items():
        targets: set[str] = set()
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = _resolve(module, path.name == "__init__.py", node)
                names = [
                    f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names
                ]
            else:
                continue
            targets.update(_ours(names, known))
        targets.discard(module)
        graph[module] = targets
    return graph


def _ours(names: Iterable[str], known: dict[str, Path]) -> set[str]:
    """The modules of ours among ``names``, each cut to the longest known prefix."""
    out = set()
    for name in names:
        parts = name.split(".")
        while parts and ".".join(parts) not in known:
            parts.pop()
        if parts:
            out.add(".".join(parts))
    return out


def group(graph: dict[str, set[str]], depth: int) -> dict[str, set[str]]:
    """The graph between packages: each module counted as its first ``depth`` parts
    (``study.run.start`` at depth 2 is ``study.run``); a module at the top of a package
    (``study.cli``) stays itself. Edges inside one group are left out."""

    def key(module: str) -> str:
        parts = module.split(".")
        return ".".join(parts[:depth])

    out: dict[str, set[str]] = {}
    for module, targets in graph.items():
        source = key(module)
        edges = out.setdefault(source, set())
        edges.update(key(t) for t in targets if key(t) != source)
    return out


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected group of two or more nodes (Tarjan), as sorted lists."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = [0]

    def visit(node: str) -> None:
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def floors(graph: dict[str, set[str]]) -> dict[str, int]:
    """Each node's floor in an acyclic graph: 1 for a node importing nothing of ours,
    else one above the highest floor it imports."""
    floor: dict[str, int] = {}
    visiting: set[str] = set()

    def of(node: str) -> int:
        if node in visiting:
            raise ValueError(f"{node} is in an import circle: no floors")
        if node not in floor:
            visiting.add(node)
            floor[node] = 1 + max((of(t) for t in graph.get(node, ()) if t != node), default=0)
            visiting.discard(node)
        return floor[node]

    for node in graph:
        of(node)
    return floor
