"""A wheel ships every package of the tree, and the presets (issue 33: packages are
found by setuptools, not listed; a list of names had shipped study/presets/*.yaml
without study/presets/__init__.py)."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import import_graph as ig
import pytest


@pytest.mark.slow
def test_the_wheel_holds_every_package_and_preset(tmp_path):
    build = [sys.executable, "-m", "pip", "wheel", str(ig.ROOT), "--no-deps"]
    out = subprocess.run(
        [*build, "--no-build-isolation", "-q", "-w", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr
    (wheel,) = tmp_path.glob("*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    packages = {
        str(init.parent.relative_to(ig.ROOT))
        for package in ig.PACKAGES
        for init in (ig.ROOT / package).rglob("__init__.py")
    }
    assert len(packages) > 10
    assert {f"{p}/__init__.py" for p in packages} <= names
    presets = {p.name for p in (ig.ROOT / "study/specs/presets").glob("*.yaml")}
    assert presets and {f"study/specs/presets/{p}" for p in presets} <= names
    assert not any(n.startswith(("tests/", "docs/", "benchmarks/")) for n in names)
    assert Path(wheel).name.startswith("study_harness-")
