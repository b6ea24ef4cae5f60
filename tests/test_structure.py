"""The house keeps its shape (issue 33): one-way imports, stages that do not import each
other in a circle, and modules small enough to hold one job. Read from the code's import
statements (tests/helpers/import_graph.py); nothing is imported."""

from __future__ import annotations

import import_graph as ig
import pytest

GRAPH = ig.imports()

# What each package may import of ours (DESIGN.md: data flows one way).
MAY_IMPORT = {
    "experiment_folder": set(),
    "trainables": set(),
    "analysis": {"experiment_folder", "trainables"},
    "study": {"experiment_folder", "trainables", "analysis"},
}
MAX_LINES = 450
MAX_INIT_LINES = 150


def test_the_graph_is_read_whole():
    assert len(GRAPH) > 80
    assert (
        "study.run.start" in GRAPH["study.run.resume"]
        or "study.run.one" in GRAPH["study.run.resume"]
    )


def test_no_module_imports_another_that_imports_it_back():
    assert ig.cycles(GRAPH) == []


@pytest.mark.parametrize("depth", [1, 2])
def test_no_two_packages_import_each_other(depth):
    """Between the four packages, and between study's stages (and its top modules)."""
    assert ig.cycles(ig.group(GRAPH, depth)) == []


def test_each_package_imports_only_what_it_may():
    between = ig.group(GRAPH, 1)
    for package, allowed in MAY_IMPORT.items():
        assert between[package] <= allowed, package


def test_study_is_grouped_by_stage():
    top = {m for m in GRAPH if m.startswith("study.") and m.count(".") == 1}
    stages = {m for m in top if (ig.ROOT / m.replace(".", "/") / "__init__.py").is_file()}
    modules = top - stages
    assert len(modules) <= 6, sorted(modules)
    assert len(stages) >= 3, sorted(stages)


def test_no_module_is_over_its_size():
    too_big = []
    for path in ig.modules().values():
        lines = len(path.read_text(encoding="utf-8").splitlines())
        cap = MAX_INIT_LINES if path.name == "__init__.py" else MAX_LINES
        if lines > cap:
            too_big.append(f"{path.relative_to(ig.ROOT)}: {lines} > {cap}")
    assert too_big == []
