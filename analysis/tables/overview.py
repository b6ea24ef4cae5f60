"""What a study ran and what came of it: the summary, the best and the top trials, the
cost of what could not train, the proposals that were invalid.
"""

from __future__ import annotations

import logging
import math
import re
from typing import Any

import numpy as np
import pandas as pd

import experiment_folder as fmt
from experiment_folder import DIVERGED, FAILED, GROUP, INVALID, SCORED, status_counts

from ..load import Experiment

log = logging.getLogger(__name__)


def column(exp: Experiment, name: str) -> pd.Series:
    """A trials.csv column, or nan for every trial where the study has none."""
    return exp.trials[name] if name in exp.trials else pd.Series(np.nan, index=exp.trials.index)


def _trial_seconds(exp: Experiment) -> float:
    """The Ray trials' seconds, summed. A fused study's members share their group's
    clock (each member's time_s is the group's at its end), so a group counts once,
    with its longest member's time, rather than once per member."""
    seconds = pd.to_numeric(column(exp, "time_s"), errors="coerce")
    if GROUP not in exp.trials:
        return float(seconds.sum())
    return float(seconds.groupby(exp.trials[GROUP].astype(str)).max().sum())


def metric_values(exp: Experiment) -> pd.Series:
    """Each trial's best value of the spec's metric (final value when no best is recorded)."""
    return fmt.metric_values(exp.trials, exp.metric)


def varying(exp: Experiment, key: str) -> bool:
    column = f"config/{key}"
    return column in exp.trials and exp.trials[column].astype(str).nunique() > 1


def best_trial(exp: Experiment) -> pd.Series | None:
    """The best scored trial by the spec's metric and mode (experiment_folder's rule)."""
    return fmt.best_trial(exp.trials, exp.metric, exp.mode)


def summary(exp: Experiment) -> dict[str, Any]:
    spec, run = exp.spec, exp.spec.get("run") or {}
    best = best_trial(exp)
    config = {}
    if best is not None:
        config = {k: v for k, v in fmt.config_columns(best).items() if not _missing(v)}
    return {
        "name": exp.name,
        "trainable": spec.get("trainable"),
        "metric": exp.metric,
        "mode": exp.mode,
        "trials": len(exp.trials),
        "statuses": status_counts(exp.trials),
        "best_trial": None if best is None else str(best["trial_id"]),
        "best_value": None if best is None else float(metric_values(exp)[best.name]),
        "best_config": config,
        "wall_s": run.get("wall_s"),
        "trial_time_s": _trial_seconds(exp),
        "groups": int(exp.trials[GROUP].nunique()) if GROUP in exp.trials else 0,
        "resources": run.get("resources") or spec.get("resources"),
        "search": spec.get("search"),
        "scheduler": spec.get("scheduler"),
        "rebuilt": exp.rebuilt,
        "epoch_budget": spec.get("epoch_budget"),
        # Trial-epochs spent: every trial's epochs (a fused group's members each).
        "epochs_spent": int(pd.to_numeric(column(exp, "epochs"), errors="coerce").fillna(0).sum()),
    }


def infeasibility(exp: Experiment) -> dict[str, Any] | None:
    """What could not train cost: invalid proposals (and how many never became a Ray
    trial), diverged trials, their trial-epochs, and their share in the first and
    the second half of the study (trials in start order). None when there were none."""
    status = exp.trials["status"].astype(str)
    bad = status.isin(FAILED)
    if not bad.any():
        return None
    order = trial_order(exp)
    first = order <= len(order) / 2
    epochs = pd.to_numeric(column(exp, "epochs"), errors="coerce").fillna(0)
    no_trial = column(exp, "trial_dir").isna() | (column(exp, "trial_dir").astype(str) == "")
    return {
        "invalid": int((status == INVALID).sum()),
        "skipped": int(((status == INVALID) & no_trial).sum()),
        "diverged": int((status == DIVERGED).sum()),
        "epochs": int(epochs[bad].sum()),
        "total_epochs": int(epochs.sum()),
        "first_half": float(bad[first].mean()) if first.any() else math.nan,
        "second_half": float(bad[~first].mean()) if (~first).any() else math.nan,
    }


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def top_trials(exp: Experiment, k: int = 10) -> pd.DataFrame:
    """The k best scored trials: id, status, metric, epochs and the searched parameters."""
    frame = exp.trials.assign(**{exp.metric: metric_values(exp)})
    frame = frame[frame["status"].isin(SCORED)].dropna(subset=[exp.metric])
    frame = frame.sort_values(exp.metric, ascending=exp.mode == "min").head(k)
    columns = (
        ["trial_id", "status", exp.metric, "epochs"]
        + [f"config/{p}" for p in exp.params if f"config/{p}" in frame]
        + (["variant"] if "variant" in frame else [])
    )
    out = frame[[c for c in dict.fromkeys(columns) if c in frame]]
    return out.rename(columns=lambda c: c.removeprefix("config/")).reset_index(drop=True)


def invalid_trials(exp: Experiment) -> pd.DataFrame:
    """The invalid combinations with their reasons."""
    invalid = exp.trials[exp.trials["status"] == INVALID]
    if invalid.empty:
        return pd.DataFrame()
    columns = [f"config/{p}" for p in exp.params if f"config/{p}" in invalid] + ["reason"]
    return (
        invalid[columns].rename(columns=lambda c: c.removeprefix("config/")).reset_index(drop=True)
    )


def trial_order(exp: Experiment) -> pd.Series:
    """Each trial's position in time: when it began (a proposal skipped as invalid has
    its own timestamp), else Ray's trial number."""
    start = pd.Series(np.nan, index=exp.trials.index)
    if "timestamp" in exp.history and not exp.history.empty:
        # When it began: its first result's timestamp less the time it had run by
        # then (else trials that end at once would seem to have started first).
        history = exp.history.assign(
            timestamp=pd.to_numeric(exp.history["timestamp"], errors="coerce"),
            ran=pd.to_numeric(exp.history["time_total_s"], errors="coerce")
            if "time_total_s" in exp.history
            else 0.0,
        )
        first = history.sort_values("timestamp").groupby("trial_id").first()
        began = first["timestamp"] - first["ran"].fillna(0)
        start = pd.to_numeric(exp.trials["trial_id"].map(began), errors="coerce")
    if "timestamp" in exp.trials:
        start = start.fillna(pd.to_numeric(exp.trials["timestamp"], errors="coerce"))
    if start.notna().all():
        return start.rank(method="first")
    numbers = column(exp, "trial_dir").map(lambda d: _trial_number(str(d)))
    if numbers.isna().all():  # no timestamps, no Ray folder names: the table's own order
        return pd.Series(np.arange(1.0, len(exp.trials) + 1), index=exp.trials.index)
    return numbers.rank(method="first")


def _trial_number(trial_dir: str) -> float:
    match = re.search(r"_[0-9a-f]{5,8}(?:_\d{5})?_(\d+)_", trial_dir)
    return float(match.group(1)) if match else math.nan
