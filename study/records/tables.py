"""Recording results: Ray Tune's results -> trials.csv and history.csv, plus spec.yaml.

- ``history.csv``: one row per trial per reported epoch (every metric, the
  objective, the result's status).
- ``trials.csv``: one row per trial: trial_id, status, reason, every config key
  as the trial ran it (``config/<key>``, defaults included), the final value of
  every metric (``<metric>``), its value at the epoch with the best objective
  (``best/<metric>``, for metrics declared with a best), epochs, time_s, device,
  the search seed and the trial seed.

Names and rules of the format come from :mod:`experiment_folder`; what each metric
is comes from the trainable's registration. Nothing here needs a live Ray: a
result is anything with Ray's ``Result`` attributes (tests use recorded ones).
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pandas as pd

from experiment_folder import (
    ANSI,
    CONFIG_PREFIX,
    ERROR,
    HISTORY_FILE,
    RAY_KEPT,
    RESULT_FILE,
    TRIAL_CONFIG,
    TRIAL_INDEX,
    TRIALS_FILE,
    csv_bytes,
    strip_ansi,
)
from study.records.atomic import write_atomic
from study.records.rows import invalid_row, result_trial_id, trial_row
from study.specs import Spec

log = logging.getLogger(__name__)


# Ray Tune's own result keys that history.csv leaves out.
RAY_DROPPED = {
    "checkpoint_dir_name",
    "should_checkpoint",
    "done",
    "episodes_total",
    "timesteps_total",
    "trial_id",
    "date",
    "time_this_iter_s",
    "pid",
    "hostname",
    "node_ip",
    "time_since_restore",
    "iterations_since_restore",
    "experiment_tag",
    "timesteps_since_restore",
}


def _history_frame(result: Any, trial_id: str) -> pd.DataFrame:
    """A trial's epochs as Ray recorded them, with Ray's bookkeeping dropped (the
    config a trial ran with stays in, to be read once and then dropped)."""
    frame = result.metrics_dataframe
    if frame is None or frame.empty:
        return pd.DataFrame()
    frame = frame.rename(columns=RAY_KEPT)
    keep = [c for c in frame.columns if not c.startswith(CONFIG_PREFIX) and c not in RAY_DROPPED]
    frame = frame[keep].copy()
    frame.insert(0, "trial_id", trial_id)
    return frame


def _original(
    last: dict[str, Any], history: pd.DataFrame, first_end: dict[str, Any] | None
) -> tuple[dict[str, Any], pd.DataFrame]:
    """A trial's last result and history with each epoch once, after any resume.

    A trial that had ended before a SIGKILL and was run again by ``study resume``
    (ledger.py) keeps the result of its first end and its first epochs."""
    if not first_end or first_end.get("ray_status") != "TERMINATED":
        # Unfinished at a kill: Ray's copy of result.json can be a little ahead of the
        # checkpoint its state names, so the resumed run repeats an epoch. The repeat
        # is the one the trial's later epochs follow from.
        if not history.empty and "iteration" in history:
            history = history.drop_duplicates("iteration", keep="last").reset_index(drop=True)
        return last, history
    original = first_end["result"]
    if not history.empty and "iteration" in history:
        upto = original.get("training_iteration", math.inf)
        history = history.drop_duplicates("iteration", keep="first")
        history = history[history["iteration"] <= upto].reset_index(drop=True)
    return {**last, **original}, history


def build_tables(
    results: Any,
    spec: Spec,
    ray_statuses: dict[str, str],
    first_ends: dict[str, dict[str, Any]] | None = None,
    invalid: list[dict[str, Any]] | None = None,
    trial_folders: dict[str, str] | None = None,
    folder: Path | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(trials, history) DataFrames from Ray Tune's results (a ResultGrid, or any
    iterable of Result-like objects), Ray's trial statuses, the ledger's first end
    of each trial (``ledger.read``), the proposals the searcher skipped as invalid
    (``ledger.read_invalid``: rows with no epochs and no Ray trial) and each trial's
    folder name (trial folder -> trial_id, from Ray's state). A trial the ledger holds
    that Ray's results lack gets its row from the ledger (``folder``: the experiment's).

    A trial is named by its folder where Ray's state says which trial owns it: with
    reused actors, a trial that had not reported when the study was interrupted came
    back carrying the previous trial's last result, id included (a row twice, and the
    unstarted trial missing; issue 16). Such a trial has no result of its own."""
    rows: list[dict[str, Any]] = [invalid_row(e, spec) for e in invalid or []]
    histories = []
    for result in results:
        metrics = dict(result.metrics or {})
        own = (trial_folders or {}).get(Path(str(result.path)).name)
        trial_id = own or result_trial_id(result)
        if own is not None and str(metrics.get("trial_id") or own) != own:
            metrics, history = {}, pd.DataFrame()  # another trial's result, not its own
        else:
            history = _history_frame(result, trial_id)
        last, history = _original(metrics, history, (first_ends or {}).get(trial_id))
        rows.append(trial_row(result, spec, history, ray_statuses.get(trial_id), last, trial_id))
        histories.append(history.drop(columns=[TRIAL_CONFIG], errors="ignore"))
    # Every trial the ledger holds keeps its row, whatever Ray's state says: a resume
    # from an older or damaged state (a full disk, a torn journal) once rewrote
    # trials.csv with none of a study's 14 trials (issue 21).
    seen = {str(row["trial_id"]) for row in rows}
    for trial_id, entry in (first_ends or {}).items():
        if trial_id not in seen and folder is not None:
            row, history = ledger_trial(folder, trial_id, entry, spec)
            rows.append(row)
            histories.append(history)
    trials = pd.DataFrame(rows)
    if not trials.empty:
        # In the order the searcher proposed them, which a rerun of the spec repeats
        # (README, "Reproducible studies"); by id where the index is unknown.
        trials = trials.sort_values("trial_id", kind="stable")
        if TRIAL_INDEX in trials:
            trials[TRIAL_INDEX] = trials[TRIAL_INDEX].fillna(-1).astype(int)
            trials = trials.sort_values(TRIAL_INDEX, kind="stable")
        trials = trials.reset_index(drop=True)
    non_empty = [h for h in histories if not h.empty]
    history = pd.concat(non_empty, ignore_index=True) if non_empty else pd.DataFrame()
    return trials, history


def add_retries(trials: pd.DataFrame, failures: dict[str, int]) -> pd.DataFrame:
    """The ``retries`` column: how often Ray ran each trial again after it failed (a
    raised error, a dead process, a lost node); 0 for trials with no Ray trial."""
    if trials.empty:
        return trials
    out = trials.copy()
    out["retries"] = [int(failures.get(str(t), 0)) for t in out["trial_id"]]
    # A trial that ended in error failed once more than it was retried.
    failed = out["status"] == ERROR
    out.loc[failed, "retries"] = (out.loc[failed, "retries"] - 1).clip(lower=0)
    return out


def ledger_trial(
    folder: Path, trial_id: str, entry: dict[str, Any], spec: Spec
) -> tuple[dict[str, Any], pd.DataFrame]:
    """A trials.csv row, and the history, of a trial that only the ledger still knows:
    its last result from the ledger, its epochs from its own result.json where its
    folder is there."""
    name = str(entry.get("trial_dir") or "")
    plain = name and "/" not in name and name not in (".", "..")
    trial_dir = folder / name if plain else folder / trial_id
    last = entry["result"]
    history = _result_lines(trial_dir, trial_id)
    if history.empty and "epoch" in last:  # its result.json lost too (a full disk)
        frame = pd.DataFrame([last]).rename(columns=RAY_KEPT)
        history = frame[[c for c in frame.columns if c not in RAY_DROPPED]]
        history.insert(0, "trial_id", trial_id)
    failed = entry.get("ray_status") == "ERROR"
    result = SimpleNamespace(
        metrics=last,
        config={},
        error=RuntimeError("the trial raised an error (recorded in finished.jsonl)")
        if failed
        else None,
        path=trial_dir,
    )
    row = trial_row(result, spec, history, str(entry.get("ray_status")), last, trial_id)
    if isinstance(last.get("epoch"), int):  # the epochs it reported, if fewer survived
        row["epochs"] = max(int(row["epochs"]), last["epoch"])
    return row, history.drop(columns=[TRIAL_CONFIG], errors="ignore")


def _result_lines(trial_dir: Path, trial_id: str) -> pd.DataFrame:
    """A trial's epochs from Ray's result.json (one JSON object a line), as
    _history_frame keeps them; empty when missing or unreadable."""
    path = trial_dir / RESULT_FILE
    if path.is_symlink() or not path.is_file():
        return pd.DataFrame()
    rows = []
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return pd.DataFrame()
    for line in lines:
        try:
            row = json.loads(line)
        except (ValueError, RecursionError):
            continue
        if isinstance(row, dict):
            rows.append({k: v for k, v in row.items() if not isinstance(v, (dict, list))})
    if not rows:
        return pd.DataFrame()
    frame = pd.DataFrame(rows).rename(columns=RAY_KEPT)
    frame = frame[[c for c in frame.columns if c not in RAY_DROPPED]]
    frame.insert(0, "trial_id", trial_id)
    return frame


def clean_error_files(trials: pd.DataFrame) -> None:
    """Ray's error.txt of each failed trial, without the terminal colour codes Ray writes
    into it (a file is for reading in an editor). Only regular files are rewritten."""
    if trials.empty or "error_file" not in trials:
        return
    for name in trials["error_file"].dropna().astype(str):
        path = Path(name)
        if not name or path.is_symlink() or not path.is_file():
            continue
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
            if ANSI.search(text):
                write_atomic(path, strip_ansi(text).encode("utf-8"))
        except OSError as exc:
            log.debug("left %s as Ray wrote it: %s", path, exc)


def write_tables(folder: Path, trials: pd.DataFrame, history: pd.DataFrame) -> None:
    """Write both tables atomically (a reader never sees half a file)."""
    for name, frame in ((TRIALS_FILE, trials), (HISTORY_FILE, history)):
        write_atomic(folder / name, csv_bytes(frame))
    log.debug("wrote %s and %s", folder / TRIALS_FILE, folder / HISTORY_FILE)
