"""Compare like with like: each trial's metric at one common fidelity, and repeats grouped.

Under ASHA most trials are stopped after a rung or two while a few run every epoch.
A mean that mixes a stopped trial's 2-epoch accuracy with a completed trial's
20-epoch one says more about which trials ASHA stopped than about the parameter
(issue 14). Every effect table, the importance and the search-time remedy split
therefore use :func:`equal_fidelity`:

- no trial stopped by the scheduler (FIFO, grids, variant studies): each trial's
  best value over its own run, which is what its budget gave it (a trial that ended
  by its own early stopping counts: stopping is what early stopping does);
- otherwise: each trial's best value within the first ``E`` epochs, where ``E`` is
  the fewest epochs any scored trial ran: a rung every compared trial reached.

A repeat seed (a grid or list of ``seed`` values, or ``num_samples`` with the
per-trial seed) repeats a configuration; it is never a parameter.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

import experiment_folder as fmt
from experiment_folder import SCORED, STOPPED

from ..load import Experiment


@dataclass(frozen=True)
class Fidelity:
    """Each trial's metric at the common fidelity (NaN where the trial is not scored)."""

    values: pd.Series
    at_epoch: str  # "final" or the common epoch, for the tables' at_epoch column
    note: str  # one sentence for the report

    @property
    def label(self) -> str:
        return "each trial's own budget" if self.at_epoch == "final" else f"epoch {self.at_epoch}"


def equal_fidelity(exp: Experiment) -> Fidelity:
    status = exp.trials["status"].astype(str)
    scored = status.isin(SCORED)
    final = fmt.metric_values(exp.trials, exp.metric).where(scored)
    stopped = int((status == STOPPED).sum())
    history = exp.history
    usable = (
        stopped
        and not history.empty
        and {"trial_id", "epoch", exp.metric} <= set(history.columns)
        and scored.any()
    )
    if not usable:
        note = (
            f"{exp.metric} is each trial's best over its whole run (no trial was stopped "
            "by the scheduler, so every trial had the same budget)."
            if not stopped
            else f"{exp.metric} is each trial's best over its own run: the per-epoch "
            "history needed to compare at a common epoch is missing."
        )
        return Fidelity(final, "final" if not stopped else "mixed", note)
    epochs = pd.to_numeric(exp.trials["epochs"], errors="coerce")[scored]
    common = int(epochs.min())
    frame = history[["trial_id", "epoch", exp.metric]].copy()
    frame["epoch"] = pd.to_numeric(frame["epoch"], errors="coerce")
    frame[exp.metric] = pd.to_numeric(frame[exp.metric], errors="coerce")
    early = frame[(frame["epoch"] >= 1) & (frame["epoch"] <= common)]
    grouped = early.groupby("trial_id")[exp.metric]
    best = grouped.max() if exp.mode == "max" else grouped.min()
    values = exp.trials["trial_id"].astype(str).map(best.rename(index=str)).where(scored)
    note = (
        f"{exp.metric} is compared at epoch {common}, the rung every scored trial reached: "
        f"the scheduler stopped {stopped} trial(s) early, and their values are never "
        "averaged with those of longer runs."
    )
    return Fidelity(values.astype(float), str(common), note)


def repeat_keys(exp: Experiment) -> list[str]:
    """Searched keys that only repeat a configuration (a seed grid or list)."""
    return [k for k in (exp.spec.get("space") or {}) if k in fmt.REPEAT_KEYS]


# Values (repeats, seeds, trials in a bin) before a mean gets an interval: a t interval
# on two values spans ±12.7 standard errors, wider than most metrics can be
# (ARCHITECTURE.md, "What a study can tell").
MIN_REPEATS = 3
# What a measure can be, where nothing narrower is declared: an accuracy's [0, 1], a
# difference of two accuracies' [-1, 1], a loss's [0, inf).
UNIT = (0.0, 1.0)
UNIT_DIFFERENCE = (-1.0, 1.0)
NON_NEGATIVE = (0.0, math.inf)


def mean_ci(
    values: pd.Series | np.ndarray,
    level: float = 0.95,
    bounds: tuple[float, float] | None = None,
) -> tuple[float, float, float]:
    """Mean and its two-sided t interval, cut to ``bounds`` (what the values can be). The
    interval is NaN below MIN_REPEATS values.

    Cutting keeps the coverage: the true mean lies within the bounds, so an interval
    that held it still holds it once what lies outside them is removed."""
    data = np.asarray(pd.to_numeric(pd.Series(values), errors="coerce").dropna(), dtype=float)
    if len(data) == 0:
        return (np.nan, np.nan, np.nan)
    mean = float(data.mean())
    if len(data) < MIN_REPEATS:
        return (mean, np.nan, np.nan)
    sem = float(data.std(ddof=1) / np.sqrt(len(data)))
    if sem == 0:
        return (mean, mean, mean)
    half = float(stats.t.ppf(0.5 + level / 2, len(data) - 1) * sem)
    low, high = mean - half, mean + half
    if bounds is not None:
        low, high = max(low, bounds[0]), min(high, bounds[1])
    return (mean, low, high)


def metric_bounds(exp: Experiment, metric: str) -> tuple[float, float] | None:
    """What ``metric`` can be: its declared bounds where the study's trainable is a
    built-in (looked up by name, never imported: a folder may name any module), a
    loss's [0, inf), else None."""
    import trainables

    name = str(exp.spec.get("trainable"))
    info = trainables.REGISTRY.get(name) if ":" not in name else None
    facts = info.metric_facts().get(metric) if info is not None else None
    if facts is not None and facts.bounds is not None:
        return (float(facts.bounds[0]), float(facts.bounds[1]))
    if metric == "loss" or metric.endswith("_loss"):
        return NON_NEGATIVE
    return None
