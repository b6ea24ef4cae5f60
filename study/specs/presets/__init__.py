"""Presets shipped with the package: ``study presets`` lists them, ``study run NAME`` runs one."""

from __future__ import annotations

from importlib import resources
from typing import Any

import yaml


def _files() -> dict[str, Any]:
    folder = resources.files(__name__)
    return {p.name[: -len(".yaml")]: p for p in folder.iterdir() if p.name.endswith(".yaml")}


def names() -> list[str]:
    """Preset names, in a stable order."""
    return sorted(_files())


def load(name: str) -> Any:
    """A preset's spec as plain data."""
    return yaml.safe_load(_files()[name].read_text(encoding="utf-8"))


def describe() -> list[tuple[str, str]]:
    """(name, one-line description) for each preset."""
    return [(n, str((load(n) or {}).get("description", "")).strip()) for n in names()]
