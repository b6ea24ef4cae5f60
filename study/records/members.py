"""A fused study's Ray results as its members' (ARCHITECTURE.md, "Fused trial groups").

Before the tables are written, a group's Ray Result becomes one Result-like object
per member (:func:`explode`), which the tables turn into trials.csv and history.csv
rows as they do any trial's, with the ``group`` column (:func:`add_group_column`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pandas as pd

from experiment_folder import GROUP, MEMBERS, ended, listed_members, member_results


def explode(
    results: Iterable[Any], ray_statuses: Mapping[str, str], trial_folders: Mapping[str, str]
) -> tuple[list[Any], dict[str, str], dict[str, str]]:
    """A fused study's Ray Results as one Result-like object per member (tables.py reads
    them as any trial's), each member's Ray status (its group's), and member -> group.
    A result whose members are not its group's (reused actors: issue 16) is dropped."""
    folder_owner = dict(trial_folders)
    out: list[Any] = []
    statuses: dict[str, str] = {}
    group_of: dict[str, str] = {}
    for result in results:
        group = folder_owner.get(Path(str(result.path)).name) or str(
            (result.metrics or {}).get("trial_id") or Path(str(result.path)).name
        )
        listed = listed_members(result.config)
        frames = _member_frames(result.metrics_dataframe, listed, group)
        for mid, params in listed.items():
            frame = frames.get(mid, pd.DataFrame())
            last = frame.iloc[-1].dropna().to_dict() if not frame.empty else {}
            error = result.error if not ended(last) else None
            out.append(
                SimpleNamespace(
                    metrics={**last, "trial_id": mid},
                    metrics_dataframe=frame,
                    config=params,
                    error=error,
                    path=result.path,
                )
            )
            statuses[mid] = ray_statuses.get(group, "")
            group_of[mid] = group
    return out, statuses, group_of


def _member_frames(
    frame: pd.DataFrame | None, listed: Mapping[str, Any], group: str
) -> dict[str, pd.DataFrame]:
    """Each member's epochs from its group's rows (member results, with the group row's
    time and timestamp)."""
    if frame is None or frame.empty or MEMBERS not in frame:
        return {}
    rows: dict[str, list[dict[str, Any]]] = {}
    for _, row in frame.iterrows():
        for mid, member in member_results({MEMBERS: row[MEMBERS]}).items():
            if mid not in listed:
                continue
            rows.setdefault(mid, []).append(
                {
                    **member,
                    GROUP: group,
                    "time_total_s": row.get("time_total_s"),
                    "timestamp": row.get("timestamp"),
                }
            )
    return {mid: pd.DataFrame(r) for mid, r in rows.items()}


def add_group_column(trials: pd.DataFrame, group_of: Mapping[str, str]) -> pd.DataFrame:
    """trials.csv's ``group`` column: the Ray trial each member trained in."""
    if trials.empty:
        return trials
    out = trials.copy()
    out.insert(1, GROUP, [group_of.get(str(t), "") for t in out["trial_id"]])
    return out
