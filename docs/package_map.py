"""Draw docs/packages.png: the packages and their imports, a floor per layer.

Each box is a package (a folder) or a module at the top of one; an arrow A -> B says
that some module of A imports one of B. A box stands above everything it imports, so
every arrow points down. Run from the repository's root:

    python docs/package_map.py

The import graph is read from the import statements (tests/helpers/import_graph.py,
which tests/test_structure.py also uses), so the picture is the code's, not a wish.
"""

from __future__ import annotations

import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "helpers"))
import import_graph as ig  # noqa: E402

OUT = ROOT / "docs" / "packages.png"
COLOURS = {
    "experiment_folder": "#f3e3c3",
    "trainables": "#d5ecd4",
    "analysis": "#f3d6dc",
    "study": "#d3e2ef",
}


def boxes() -> tuple[dict[str, set[str]], dict[str, int]]:
    """The graph between boxes (a top package counts as one box, study's and analysis's
    stages each as one), and each box's lines of code."""
    graph = ig.imports()

    def box(module: str) -> str:
        parts = module.split(".")
        return ".".join(parts[:2]) if parts[0] in ("study", "analysis") else parts[0]

    edges: dict[str, set[str]] = {}
    lines: dict[str, int] = {}
    for module, path in ig.modules().items():
        name = box(module)
        lines[name] = lines.get(name, 0) + len(path.read_text(encoding="utf-8").splitlines())
        targets = edges.setdefault(name, set())
        targets.update(box(t) for t in graph[module] if box(t) != name)
    # The packages' faces (study/__init__.py, analysis/__init__.py) only re-export: an
    # import of one is an import of what it re-exports, and they are not boxes.
    for face in ("study", "analysis"):
        behind = edges.pop(face, set())
        for targets in edges.values():
            if face in targets:
                targets.discard(face)
                targets.update(behind)
        lines.pop(face, None)
    return edges, lines


def reduced(edges: dict[str, set[str]]) -> dict[str, set[str]]:
    """The arrows no other path implies (A -> C goes where A -> B -> ... -> C stands)."""

    def reach(start: str, skip: str) -> set[str]:
        seen, stack = set(), [t for t in edges[start] if t != skip]
        while stack:
            node = stack.pop()
            if node not in seen:
                seen.add(node)
                stack.extend(edges.get(node, ()))
        return seen

    return {a: {c for c in targets if c not in reach(a, c)} for a, targets in edges.items()}


STEP = 2.3  # the distance between two boxes' centres on a floor


def draw(edges: dict[str, set[str]], lines: dict[str, int]) -> None:
    floors = ig.floors(edges)
    top = max(floors.values())
    rows: dict[int, list[str]] = {}
    order = {"analysis": 0, "experiment_folder": 1, "study": 2, "trainables": 3}
    for name in sorted(edges, key=lambda n: (order[n.split(".")[0]], n)):
        rows.setdefault(floors[name], []).append(name)
    width = max(len(r) for r in rows.values()) * STEP
    fig, ax = plt.subplots(figsize=(width * 0.9 + 1, 1.1 * top + 1.2))
    where: dict[str, tuple[float, float]] = {}
    for floor, names in rows.items():
        for i, name in enumerate(names):
            x = (i + 0.5) * width / len(names)
            where[name] = (x, floor)
    for source, targets in reduced(edges).items():
        for target in targets:
            (x0, y0), (x1, y1) = where[source], where[target]
            ax.add_patch(
                FancyArrowPatch(
                    (x0, y0 - 0.28),
                    (x1, y1 + 0.28),
                    arrowstyle="-|>",
                    mutation_scale=9,
                    color="#8a8a8a",
                    linewidth=0.7,
                    alpha=0.7,
                    connectionstyle="arc3,rad=0.06",
                    zorder=3,
                )
            )
    for name, (x, y) in where.items():
        ax.add_patch(
            FancyBboxPatch(
                (x - 0.95, y - 0.27),
                1.9,
                0.54,
                boxstyle="round,pad=0.02",
                facecolor=COLOURS[name.split(".")[0]],
                edgecolor="#555555",
                linewidth=0.8,
            )
        )
        label = name.replace("study.", "study/").replace("analysis.", "analysis/")
        ax.text(x, y + 0.06, label, ha="center", va="center", fontsize=9, weight="bold")
        ax.text(x, y - 0.14, f"{lines[name]:,} lines", ha="center", va="center", fontsize=7)
    ax.set_xlim(0, width)
    ax.set_ylim(0.4, top + 0.6)
    ax.axis("off")
    ax.set_title(
        "study-harness: packages and their imports (A -> B: A imports B; an arrow that a "
        "longer path implies is left out).\nEach box stands above everything it imports.",
        fontsize=10,
    )
    fig.savefig(OUT, dpi=110, bbox_inches="tight")
    plt.close(fig)


def main() -> None:
    edges, lines = boxes()
    assert not ig.cycles(edges), ig.cycles(edges)
    draw(edges, lines)
    print(OUT)


if __name__ == "__main__":
    main()
