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

import contextlib
import json
import logging
import math
import os
import tempfile
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pandas as pd
import yaml

import trainables
from experiment_folder import (
    ANSI,
    BEST_PREFIX,
    CONFIG_PREFIX,
    ERROR,
    ERROR_FILE,
    FINAL,
    HISTORY_FILE,
    INVALID,
    NOT_METRICS,
    RAY_BOOKKEEPING,
    RAY_KEPT,
    RAY_UNFINISHED,
    RESULT_FILE,
    SPEC_FILE,
    STOPPED,
    TRIAL_CONFIG,
    TRIAL_INDEX,
    TRIALS_FILE,
    UNFINISHED,
    best_trial,
    csv_bytes,
    decode_params,
    error_line,
    first_trial_config,
    metric_values,
    status_counts,
    strip_ansi,
)

from .spec import Spec

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


def ran_config(
    history: pd.DataFrame, last: dict[str, Any], spec: Spec, sampled: dict[str, Any]
) -> dict[str, Any]:
    """The config the trial reported it ran with (trial.py sends it with its first
    result of each run); for a trial that never reported, the spec's view of it."""
    texts = [last.get(TRIAL_CONFIG)]
    if TRIAL_CONFIG in history:
        texts = [*history[TRIAL_CONFIG].dropna().tolist(), *texts]
    config = first_trial_config(texts)
    if config is not None:
        return config
    space = {k: d.to_dict() for k, d in spec.space.items()}
    decoded = decode_params(space, spec.variants, sampled)
    decoded.pop("variant", None)
    return {**spec.config, **decoded}


def _status(
    last: dict[str, Any], error: BaseException | None, ray_status: str | None
) -> tuple[str, str]:
    if error is not None:
        return ERROR, error_line(str(error))
    if ray_status in RAY_UNFINISHED:
        return UNFINISHED, "the study was interrupted; study resume finishes it"
    status = last.get("status")
    if status in FINAL:
        return str(status), str(last.get("reason") or last.get("divergence") or "")
    if status == STOPPED and last.get("reason"):  # a fused group's member, cut by ASHA
        return STOPPED, str(last["reason"])
    if not last:
        return STOPPED, "did not report"
    epoch = last.get("epoch")
    if epoch is None:
        return STOPPED, "stopped by the scheduler or time budget before its first epoch ended"
    return STOPPED, f"stopped by the scheduler or time budget after epoch {epoch}"


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


def _gets_best(column: str, facts: dict[str, trainables.Metric]) -> bool:
    """A best/ column for the objective, for each metric declared with one, and for a
    plugin's undeclared numbers; never for Ray's bookkeeping."""
    if column in facts:
        return facts[column].best
    return column not in RAY_BOOKKEEPING


def _last_index(last: dict[str, Any], history: pd.DataFrame) -> int:
    """The trial index its results carried (trial.py), -1 where none did."""
    value = last.get(TRIAL_INDEX)
    if value is None and TRIAL_INDEX in history and history[TRIAL_INDEX].notna().any():
        value = history[TRIAL_INDEX].dropna().iloc[-1]
    try:
        return int(value) if value is not None and value == value else -1
    except (TypeError, ValueError):
        return -1


def trial_row(
    result: Any,
    spec: Spec,
    history: pd.DataFrame,
    ray_status: str | None,
    last: dict[str, Any] | None = None,
    trial_id: str | None = None,
) -> dict[str, Any]:
    """One trials.csv row for a Ray Tune Result (``ray_status``: Ray's own trial status;
    ``last``: its last result, if not the Result's own; ``trial_id``: its id, if known
    better than its last result knows it)."""
    trial_id = trial_id or _trial_id(result)
    last = dict(result.metrics or {}) if last is None else last
    status, reason = _status(last, result.error, ray_status)
    config = ran_config(history, last, spec, dict(result.config or {}))
    row: dict[str, Any] = {"trial_id": trial_id, "status": status, "reason": reason}
    if "variant" in (result.config or {}):
        row["variant"] = result.config["variant"]
    row.update(
        {
            CONFIG_PREFIX + k: v if not isinstance(v, (list, dict)) else str(v)
            for k, v in config.items()
        }
    )
    history = history.drop(columns=[TRIAL_CONFIG], errors="ignore")
    metric_columns = [c for c in history.columns if c not in NOT_METRICS]
    for column in metric_columns:
        row[column] = (
            (last[column] if column in last else history[column].iloc[-1])
            if not history.empty
            else math.nan
        )
    best = _best_row(history, spec.mode)
    if best is not None:
        facts = trainables.metric_facts(spec.trainable)
        for column in metric_columns:
            if _gets_best(column, facts):
                row[BEST_PREFIX + column] = best[column]
    row["epochs"] = int((history["epoch"] > 0).sum()) if "epoch" in history else 0
    row["time_s"] = float(last.get("time_total_s", math.nan))  # the trial's, not an epoch's
    row["device"] = config.get("device", "cpu")
    row["search_seed"] = spec.search.seed
    row["trial_seed"] = config.get("seed", -1)  # -1: the trainable takes no seed
    row[TRIAL_INDEX] = _last_index(last, history)
    row["trial_dir"] = str(result.path)
    error_file = Path(result.path) / ERROR_FILE  # Ray Tune's traceback of each failure
    row["error_file"] = str(error_file) if error_file.is_file() else ""
    return row


def _trial_id(result: Any) -> str:
    return str((result.metrics or {}).get("trial_id") or Path(result.path).name)


def invalid_row(entry: dict[str, Any], spec: Spec) -> dict[str, Any]:
    """A trials.csv row for a proposal the searcher skipped as invalid (no Ray trial)."""
    config: dict[str, Any] = entry["config"] if isinstance(entry.get("config"), dict) else {}
    params: dict[str, Any] = entry["params"] if isinstance(entry.get("params"), dict) else {}
    row: dict[str, Any] = {
        "trial_id": str(entry["trial_id"]),
        "status": INVALID,
        "reason": str(entry.get("reason", "")),
    }
    if "variant" in params:
        row["variant"] = params["variant"]
    row.update(
        {
            CONFIG_PREFIX + k: v if not isinstance(v, (list, dict)) else str(v)
            for k, v in config.items()
        }
    )
    row.update(
        {
            "epoch": 0,
            "diverged": False,
            "objective": spec.worst_value(),
            "epochs": 0,
            "time_s": 0.0,
            "device": config.get("device", "cpu"),
            "search_seed": spec.search.seed,
            "trial_seed": config.get("seed", -1),
            TRIAL_INDEX: entry.get("number", -1),  # its Optuna trial number
            "timestamp": entry.get("timestamp"),
            "trial_dir": "",
            "error_file": "",
        }
    )
    return row


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
        trial_id = own or _trial_id(result)
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


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``path`` whole or not at all, never through a link: the bytes go to a new
    file (O_EXCL, a name only this call knows) that then replaces ``path`` itself."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def write_tables(folder: Path, trials: pd.DataFrame, history: pd.DataFrame) -> None:
    """Write both tables atomically (a reader never sees half a file)."""
    for name, frame in ((TRIALS_FILE, trials), (HISTORY_FILE, history)):
        write_atomic(folder / name, csv_bytes(frame))
    log.debug("wrote %s and %s", folder / TRIALS_FILE, folder / HISTORY_FILE)


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


def _fmt(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _best_epoch(history: pd.DataFrame, trial_id: str, mode: str) -> Any:
    """The epoch at which a trial's objective was best (its best/ values are from there)."""
    if history.empty or not {"trial_id", "objective", "epoch"} <= set(history.columns):
        return None
    rows = history[history["trial_id"].astype(str) == trial_id]
    best = _best_row(rows, mode)
    return None if best is None else best["epoch"]


def log_summary(
    trials: pd.DataFrame, spec: Spec, seconds: float, history: pd.DataFrame | None = None
) -> dict[str, int]:
    """Log the status counts and the best trial (its value at its best epoch, the rule
    the trial lines and the report use too); returns the counts."""
    counts = status_counts(trials)
    summary = ", ".join(f"{n} {s}" for s, n in counts.items() if n)
    if "retries" in trials and trials["retries"].sum():
        retried = int((trials["retries"] > 0).sum())
        summary += f"; {retried} retried after a failure ({int(trials['retries'].sum())} retries)"
    log.info("%d trials in %.1f s: %s", len(trials), seconds, summary or "none")
    best = best_trial(trials, spec.metric, spec.mode)
    if best is not None:
        params = " ".join(
            f"{k}={_fmt(best[CONFIG_PREFIX + k])}" for k in spec.space if CONFIG_PREFIX + k in best
        )
        value = float(metric_values(trials.loc[[best.name]], spec.metric).iloc[0])
        at = _best_epoch(history, str(best["trial_id"]), spec.mode) if history is not None else None
        where = f" at epoch {int(float(str(at)))}" if str(at).replace(".", "").isdigit() else ""
        log.info("best trial %s: %s=%.4g%s %s", best["trial_id"], spec.metric, value, where, params)
    return counts
