"""Experiment folder -> pandas DataFrames. Reads files only, never a live Ray session.

File names, statuses and decoding rules come from :mod:`experiment_folder`, the
module the writer (``study``) uses too.

``trials.csv`` and ``history.csv`` (written by ``study``) are the source. When they
are missing, as after a killed driver, they are rebuilt from Ray Tune's per-trial
files (``params.json``, ``result.json``, ``error.txt``); a truncated or corrupt
result line is skipped with a warning and the valid rest is used.
"""

from __future__ import annotations

import io
import json
import logging
import math
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from experiment_folder import (
    CONFIG_PREFIX,
    ERROR,
    ERROR_FILE,
    FINAL,
    GROUP,
    HISTORY_FILE,
    MAX_DOCUMENT_VALUES,
    PARAMS_FILE,
    REPEAT_KEYS,
    RESULT_FILE,
    RUNNING,
    SPEC_FILE,
    STOPPED,
    TRIAL_CONFIG,
    TRIALS_FILE,
    decode_params,
    error_line,
    first_trial_config,
    listed_members,
    member_results,
    too_large,
    unescape_csv,
)

from .errors import AnalysisError
from .files import read_regular, subfolders

log = logging.getLogger(__name__)


@dataclass
class Experiment:
    """One study's tables and spec (``spec`` is the resolved spec.yaml as plain data)."""

    folder: Path
    spec: dict[str, Any]
    trials: pd.DataFrame
    history: pd.DataFrame
    warnings: list[str] = field(default_factory=list)
    rebuilt: bool = False  # tables came from Ray's per-trial files

    @property
    def name(self) -> str:
        return str(self.spec.get("name") or self.folder.name)

    @property
    def metric(self) -> str:
        return str(self.spec.get("metric", "objective"))

    @property
    def mode(self) -> str:
        return str(self.spec.get("mode", "max"))

    @property
    def params(self) -> list[str]:
        """Searched parameters (``variant`` too, when the spec has variants); repeat
        seeds are repeats, not parameters (experiment_folder.REPEAT_KEYS)."""
        names = [k for k in (self.spec.get("space") or {}) if k not in REPEAT_KEYS]
        return names + (["variant"] if self.spec.get("variants") else [])


def _read_spec(folder: Path) -> dict[str, Any]:
    path = folder / SPEC_FILE
    problems: list[str] = []
    data = read_regular(path, folder, problems)
    if data is None:
        why = problems[0] if problems else f"no {SPEC_FILE}"
        raise AnalysisError(
            f"{folder}: not a study folder ({why}); give the folder 'study run' printed"
        )
    try:
        spec = yaml.safe_load(data.decode("utf-8"))
    except (ValueError, yaml.YAMLError, RecursionError) as exc:  # ValueError: bad UTF-8, or
        # a number past Python's digit limit
        raise AnalysisError(f"{path}: unreadable spec ({type(exc).__name__})") from None
    if not isinstance(spec, dict):
        raise AnalysisError(f"{path}: not a spec (expected a mapping)")
    if too_large(spec):
        raise AnalysisError(
            f"{path}: expands to more than {MAX_DOCUMENT_VALUES:,} values (YAML aliases?)"
        )
    return spec


def _read_csv(path: Path, root: Path, warnings: list[str]) -> pd.DataFrame | None:
    """A CSV, skipping malformed lines (with a warning); None when missing or unusable."""
    raw = read_regular(path, root, warnings)
    if raw is None:
        return None
    try:
        frame = unescape_csv(pd.read_csv(io.BytesIO(raw), on_bad_lines="skip", engine="python"))
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError, OverflowError) as exc:
        warnings.append(f"{path.name}: unreadable ({type(exc).__name__}); rebuilt from Ray's files")
        return None
    lines = [line for line in raw.splitlines() if line.strip()]
    if raw and not raw.endswith(b"\n") and len(frame) == len(lines) - 1 and len(frame):
        frame = frame.iloc[:-1]  # a row cut off mid-write: keep the complete ones
        warnings.append(f"{path.name}: dropped a truncated last line")
    elif len(lines) - 1 > len(frame):
        warnings.append(f"{path.name}: skipped {len(lines) - 1 - len(frame)} malformed line(s)")
    return frame


def load(folder: str | Path) -> Experiment:
    """Load one experiment folder (as ``study run`` left it, or interrupted)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise AnalysisError(f"{folder}: no such folder")
    spec = _read_spec(folder)
    warnings: list[str] = []
    trials = _read_csv(folder / TRIALS_FILE, folder, warnings)
    history = _read_csv(folder / HISTORY_FILE, folder, warnings)
    rebuilt = (
        trials is None
        or history is None
        or "status" not in trials
        or "trial_id" not in trials
        or (not history.empty and "trial_id" not in history)
    )
    if rebuilt:
        trials, history = rebuild(folder, spec, warnings)
    if trials is None or history is None:  # unreachable: rebuild returns both
        raise AnalysisError(f"{folder}: no tables")
    if trials.empty:
        raise AnalysisError(f"{folder}: the experiment has no trials yet")
    for message in warnings:
        log.warning("%s: %s", folder.name, message)
    return Experiment(folder, spec, trials, history, warnings, rebuilt)


def load_many(folders: Iterable[str | Path]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Several experiments' trials and history, each row tagged with an ``experiment`` column."""
    experiments = [load(f) for f in folders]
    if not experiments:
        raise AnalysisError("no experiment folders given")
    names = _unique_names(experiments)
    trials = pd.concat(
        [e.trials.assign(experiment=n) for e, n in zip(experiments, names)], ignore_index=True
    )
    history = pd.concat(
        [e.history.assign(experiment=n) for e, n in zip(experiments, names)], ignore_index=True
    )
    return trials, history


def _unique_names(experiments: list[Experiment]) -> list[str]:
    names = [e.name for e in experiments]
    if len(set(names)) == len(names):
        return names
    return [
        f"{e.name} ({e.folder.name})" if names.count(e.name) > 1 else e.name for e in experiments
    ]


def _read_results(path: Path, root: Path, warnings: list[str]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    bad = 0
    data = read_regular(path, root, warnings)
    if data is None:
        return rows
    for line in data.decode("utf-8", errors="replace").splitlines():
        if not line.strip():
            continue
        try:  # ValueError also covers numbers past Python's digit limit
            row = json.loads(line)
        except (ValueError, RecursionError):
            bad += 1
            continue
        if isinstance(row, dict):
            rows.append(row)
        else:
            bad += 1
    if bad:
        warnings.append(f"{path.parent.name}/{RESULT_FILE}: skipped {bad} corrupt line(s)")
    return rows


def _trials_from_files(
    trial_dir: Path, root: Path, spec: dict[str, Any], warnings: list[str]
) -> list[tuple[dict[str, Any], pd.DataFrame]]:
    """A Ray trial folder's trial, or a fused group's members (one each)."""
    results = _read_results(trial_dir / RESULT_FILE, root, warnings)
    raw_params = read_regular(trial_dir / PARAMS_FILE, root, warnings)
    try:  # ValueError: bad JSON, bytes that are not UTF-8, too many digits
        params = json.loads(raw_params.decode("utf-8")) if raw_params is not None else None
    except (ValueError, RecursionError):
        params = None
    if not isinstance(params, dict):
        warnings.append(f"{trial_dir.name}/{PARAMS_FILE} is unreadable; its config is not shown")
        params = {}
    error = read_regular(trial_dir / ERROR_FILE, root, warnings)
    members = listed_members(params)
    if not members:
        trial_id = str(results[-1].get("trial_id")) if results else trial_dir.name
        return [_trial_from_results(trial_id, results, params, error, trial_dir, spec)]
    group = str(results[-1].get("trial_id")) if results else trial_dir.name
    out = []
    for mid, member_params in members.items():
        own = [
            {**m[mid], "time_total_s": r.get("time_total_s"), "timestamp": r.get("timestamp")}
            for r in results
            if mid in (m := member_results(r))
        ]
        ended = bool(own) and own[-1].get("status") not in (RUNNING, None)
        row, history = _trial_from_results(
            mid, own, member_params, None if ended else error, trial_dir, spec
        )
        row[GROUP] = group
        if not history.empty:
            history[GROUP] = group
        if row["status"] == STOPPED and own and own[-1].get("reason"):
            row["reason"] = str(own[-1]["reason"])  # a member cut by ASHA says why
        out.append((row, history))
    return out


def _trial_from_results(
    trial_id: str,
    results: list[dict[str, Any]],
    params: dict[str, Any],
    error: bytes | None,
    trial_dir: Path,
    spec: dict[str, Any],
) -> tuple[dict[str, Any], pd.DataFrame]:
    keep = [{k: v for k, v in r.items() if not isinstance(v, (dict, list))} for r in results]
    history = pd.DataFrame(keep).drop(columns=[TRIAL_CONFIG], errors="ignore")
    if not history.empty:
        history = history.rename(columns={"training_iteration": "iteration"})
        history["trial_id"] = trial_id
    last = results[-1] if results else {}
    if error is not None:
        status, reason = ERROR, error_line(error.decode("utf-8", errors="replace"))
    elif last.get("status") in FINAL:
        status, reason = (
            str(last["status"]),
            str(last.get("reason") or last.get("divergence") or ""),
        )
    else:
        status, reason = (
            STOPPED,
            "rebuilt from Ray's files: the trial ended without a final status",
        )
    row: dict[str, Any] = {"trial_id": trial_id, "status": status, "reason": reason}
    space: dict[str, Any] = spec["space"] if isinstance(spec.get("space"), dict) else {}
    decoded = decode_params(space, spec.get("variants") or {}, params)
    if "variant" in decoded:
        row["variant"] = decoded.pop("variant")
    config = first_trial_config(r.get(TRIAL_CONFIG) for r in results) or {
        **(spec.get("config") or {}),
        **decoded,
    }
    row.update({f"{CONFIG_PREFIX}{k}": v for k, v in config.items()})
    for key, value in last.items():
        if isinstance(value, (int, float, bool, str)) and key not in (
            "trial_id",
            "date",
            "hostname",
            TRIAL_CONFIG,
        ):
            row.setdefault(key, value)
    row["epochs"] = int(sum(1 for r in results if r.get("epoch", 0))) if results else 0
    row["time_s"] = float(last.get("time_total_s", math.nan))
    row["trial_dir"] = str(trial_dir)
    return row, history


def rebuild(
    folder: Path, spec: dict[str, Any], warnings: list[str]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """trials and history from Ray Tune's per-trial folders (``*/params.json``)."""
    trial_dirs = [d for d in subfolders(folder) if os.path.lexists(d / PARAMS_FILE)]
    if not trial_dirs:
        raise AnalysisError(f"{folder}: no trials.csv and no Ray trial folders: nothing ran yet")
    warnings.append("trials.csv/history.csv missing or unreadable: rebuilt from Ray's trial files")
    rows, histories = [], []
    for trial_dir in trial_dirs:
        for row, history in _trials_from_files(trial_dir, folder, spec, warnings):
            rows.append(row)
            histories.append(history)
    non_empty = [h for h in histories if not h.empty]
    history = pd.concat(non_empty, ignore_index=True) if non_empty else pd.DataFrame()
    return pd.DataFrame(rows), history
