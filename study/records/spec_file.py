"""``spec.yaml``: the resolved spec a study ran, and its ``run`` section (address,
resources, storage, the driver's wall time, whether the last run was interrupted).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from experiment_folder import SPEC_FILE
from study.records.atomic import write_atomic
from study.specs import Spec


def write_spec(folder: Path, spec: Spec, run: dict[str, Any]) -> None:
    """spec.yaml: the resolved spec and a ``run`` section (address, resources)."""
    folder.mkdir(parents=True, exist_ok=True)
    data = {**spec.to_dict(), "run": dict(run)}
    write_atomic(folder / SPEC_FILE, yaml.safe_dump(data, sort_keys=False).encode("utf-8"))


def add_wall_time(folder: Path, seconds: float, interrupted: bool = False) -> None:
    """Record the driver's wall time in spec.yaml's run section (summed over resumes),
    and whether this run was interrupted (``study resume`` reads it: a grid stopped
    before its last points became trials has no unfinished trial to show for it)."""
    path = folder / SPEC_FILE
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    run = data.get("run") or {}
    run["wall_s"] = round(float(run.get("wall_s") or 0.0) + seconds, 2)
    run["interrupted"] = bool(interrupted)
    data["run"] = run
    write_atomic(path, yaml.safe_dump(data, sort_keys=False).encode("utf-8"))


def run_info(folder: Path) -> dict[str, Any]:
    """spec.yaml's run section (address, resources, storage, wall_s, interrupted); empty
    where there is none or it cannot be read."""
    try:
        data = yaml.safe_load((folder / SPEC_FILE).read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError):
        return {}
    run = data.get("run") if isinstance(data, dict) else None
    return run if isinstance(run, dict) else {}


def was_interrupted(folder: Path) -> bool:
    """Whether the study's last run (or resume) was interrupted (spec.yaml's run section)."""
    return bool(run_info(folder).get("interrupted"))
