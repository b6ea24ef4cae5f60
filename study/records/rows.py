"""One trials.csv row per trial, from Ray Tune's results (or the ledger's).

A row holds: trial_id, status, reason, every config key as the trial ran it
(``config/<key>``, defaults included), the final value of every metric
(``<metric>``), its value at the epoch with the best objective (``best/<metric>``,
for metrics declared with a best), epochs, time_s, device, the search seed and the
trial seed. Nothing here needs a live Ray: a result is anything with Ray's
``Result`` attributes (tests use recorded ones).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pandas as pd

import trainables
from experiment_folder import (
    BEST_PREFIX,
    CONFIG_PREFIX,
    ERROR,
    ERROR_FILE,
    FINAL,
    INVALID,
    NOT_METRICS,
    RAY_BOOKKEEPING,
    RAY_UNFINISHED,
    STOPPED,
    TRIAL_CONFIG,
    TRIAL_INDEX,
    UNFINISHED,
    decode_params,
    error_line,
    first_trial_config,
    stopped_reason,
)
from study.specs import Spec


def ran_config(
    history: pd.DataFrame, last: dict[str, Any], spec: Spec, sampled: dict[str, Any]
) -> dict[str, Any]:
    """The config the trial reported it ran with (study/trial sends it with its first
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
    return STOPPED, stopped_reason(last.get("epoch"))


def best_row(history: pd.DataFrame, mode: str) -> pd.Series | None:
    if history.empty or "objective" not in history:
        return None
    objective = history["objective"].astype(float)
    index = objective.idxmax() if mode == "max" else objective.idxmin()
    return history.loc[index]


def _gets_best(column: str, facts: dict[str, trainables.Metric]) -> bool:
    """A best/ column for the objective, for each metric declared with one, and for a
    plugin's undeclared numbers; never for Ray's bookkeeping."""
    if column in facts:
        return facts[column].best
    return column not in RAY_BOOKKEEPING


def _last_index(last: dict[str, Any], history: pd.DataFrame) -> int:
    """The trial index its results carried (study/trial), -1 where none did."""
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
    trial_id = trial_id or result_trial_id(result)
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
    best = best_row(history, spec.mode)
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


def result_trial_id(result: Any) -> str:
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
