"""The study's closing lines: how many trials ended how, and the best trial (its value
at its best epoch, the rule the trial lines and the report use too).
"""

from __future__ import annotations

import logging
from typing import Any

import pandas as pd

from experiment_folder import CONFIG_PREFIX, best_trial, metric_values, status_counts
from study.records.rows import best_row
from study.specs import Spec

log = logging.getLogger(__name__)


def _fmt(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _best_epoch(history: pd.DataFrame, trial_id: str, mode: str) -> Any:
    """The epoch at which a trial's objective was best (its best/ values are from there)."""
    if history.empty or not {"trial_id", "objective", "epoch"} <= set(history.columns):
        return None
    rows = history[history["trial_id"].astype(str) == trial_id]
    best = best_row(rows, mode)
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
    if spec.epoch_budget is not None:
        spent = int(pd.to_numeric(trials.get("epochs", pd.Series(dtype=float))).fillna(0).sum())
        summary += f"; {spent:,} trial-epochs of an epoch budget of {spec.epoch_budget:,}"
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
