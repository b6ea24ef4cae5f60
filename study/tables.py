"""trials.csv and history.csv: tidy tables written beside Ray Tune's own files.

- ``history.csv``: one row per trial per reported epoch (every metric, the
  objective, the result's status).
- ``trials.csv``: one row per trial: trial_id, status, reason, every config key
  as run (``config/<key>``), the final value of every metric (``<metric>``), its
  value at the epoch with the best objective (``best/<metric>``), epochs,
  time_s, device, the search seed and the trial seed.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

import pandas as pd

from .spec import Spec
from .trial import TrialPlan, trial_config

log = logging.getLogger(__name__)

# Columns of history.csv that are not metrics of a trial, and metrics with no "best".
NOT_METRICS = ("trial_id", "status", "reason", "trial_seed", "time_s")
NOT_BEST = ("diverged", "stopped_early", "divergence", "iteration", "time_total_s", "samples_per_s")
STATUSES = ("completed", "stopped", "early_stopped", "diverged", "invalid", "error", "unfinished")
UNFINISHED = ("PENDING", "RUNNING", "PAUSED")  # Ray's statuses of a trial an interrupt left
FINAL = ("completed", "early_stopped", "diverged", "invalid")
# Ray's own bookkeeping columns we keep (renamed) or drop from history.
RAY_KEEP = {"training_iteration": "iteration", "time_total_s": "time_total_s"}


def _error_reason(error: BaseException) -> str:
    """One line for the table: the last 'Type: message' line of the trial's traceback."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    for line in reversed(lines):
        if ":" in line and not line.startswith(("File ", "^")):
            return line[:300]
    return (lines[-1] if lines else type(error).__name__)[:300]


def _history_frame(result: Any, trial_id: str) -> pd.DataFrame:
    frame = result.metrics_dataframe
    if frame is None or frame.empty:
        return pd.DataFrame()
    frame = frame.rename(columns=RAY_KEEP)
    keep = [c for c in frame.columns if not c.startswith("config/") and c not in _RAY_COLUMNS]
    frame = frame[keep].copy()
    frame.insert(0, "trial_id", trial_id)
    return frame


_RAY_COLUMNS = {
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


def _status(
    last: dict[str, Any], error: BaseException | None, ray_status: str | None
) -> tuple[str, str]:
    if error is not None:
        return "error", _error_reason(error)
    if ray_status in UNFINISHED:
        return "unfinished", "the study was interrupted; study resume finishes it"
    status = last.get("status")
    if status in FINAL:
        return str(status), str(last.get("reason") or last.get("divergence") or "")
    if not last:
        return "stopped", "did not report"
    return "stopped", f"stopped by the scheduler or time budget after epoch {last.get('epoch')}"


def _best_row(history: pd.DataFrame, mode: str) -> pd.Series | None:
    if history.empty or "objective" not in history:
        return None
    objective = history["objective"].astype(float)
    index = objective.idxmax() if mode == "max" else objective.idxmin()
    return history.loc[index]


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


def trial_row(
    result: Any,
    spec: Spec,
    plan: TrialPlan,
    history: pd.DataFrame,
    ray_status: str | None,
    last: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One trials.csv row for a Ray Tune Result (``ray_status``: Ray's own trial status;
    ``last``: its last result, if not the Result's own)."""
    trial_id = _trial_id(result)
    last = dict(result.metrics or {}) if last is None else last
    status, reason = _status(last, result.error, ray_status)
    config = trial_config(plan, dict(result.config or {}), trial_id)
    row: dict[str, Any] = {"trial_id": trial_id, "status": status, "reason": reason}
    if "variant" in (result.config or {}):
        row["variant"] = result.config["variant"]
    row.update(
        {f"config/{k}": v if not isinstance(v, (list, dict)) else str(v) for k, v in config.items()}
    )
    metric_columns = [c for c in history.columns if c not in NOT_METRICS]
    for column in metric_columns:
        row[column] = (
            (last[column] if column in last else history[column].iloc[-1])
            if not history.empty
            else math.nan
        )
    best = _best_row(history, spec.mode)
    if best is not None:
        for column in metric_columns:
            if column not in NOT_BEST:
                row[f"best/{column}"] = best[column]
    row["epochs"] = int((history["epoch"] > 0).sum()) if "epoch" in history else 0
    row["time_s"] = float(last.get("time_total_s", math.nan))  # the trial's, not an epoch's
    row["device"] = config.get("device", "cpu")
    row["search_seed"] = spec.search.seed
    row["trial_seed"] = config.get("seed")
    row["trial_dir"] = str(result.path)
    error_file = Path(result.path) / "error.txt"  # Ray Tune's traceback of each failure
    row["error_file"] = str(error_file) if error_file.is_file() else ""
    return row


def _trial_id(result: Any) -> str:
    return str((result.metrics or {}).get("trial_id") or Path(result.path).name)


def build_tables(
    results: Any,
    spec: Spec,
    plan: TrialPlan,
    ray_statuses: dict[str, str],
    first_ends: dict[str, dict[str, Any]] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(trials, history) DataFrames from a Ray Tune ResultGrid, Ray's trial statuses and
    the ledger's first end of each trial (``ledger.read``)."""
    rows, histories = [], []
    for result in results:
        trial_id = _trial_id(result)
        last, history = _original(
            dict(result.metrics or {}),
            _history_frame(result, trial_id),
            (first_ends or {}).get(trial_id),
        )
        histories.append(history)
        rows.append(trial_row(result, spec, plan, history, ray_statuses.get(trial_id), last))
    trials = pd.DataFrame(rows)
    if not trials.empty:
        trials = trials.sort_values("trial_id", kind="stable").reset_index(drop=True)
    history = (
        pd.concat([h for h in histories if not h.empty], ignore_index=True)
        if any(not h.empty for h in histories)
        else pd.DataFrame()
    )
    return trials, history


def write_tables(folder: Path, trials: pd.DataFrame, history: pd.DataFrame) -> None:
    """Write both tables atomically (a reader never sees half a file)."""
    for name, frame in (("trials.csv", trials), ("history.csv", history)):
        tmp = folder / f".{name}.tmp"
        frame.to_csv(tmp, index=False)
        tmp.replace(folder / name)
    log.debug("wrote %s and %s", folder / "trials.csv", folder / "history.csv")


def status_counts(trials: pd.DataFrame) -> dict[str, int]:
    counts = trials["status"].value_counts() if not trials.empty else pd.Series(dtype=int)
    return {s: int(counts.get(s, 0)) for s in STATUSES}
