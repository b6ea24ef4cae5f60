"""Per epoch and per trial in order: the lr range test's curves, the learning curves of
the best trials, the optimisation history and the parallel coordinates.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from experiment_folder import SCORED

from ..load import Experiment
from .effects import dimension
from .overview import column, metric_values, top_trials, trial_order


def lr_range_curves(exp: Experiment) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(curves, summary) of an lr range test study: the smoothed loss per step against
    lr for each trial, and each trial's diverged_lr and suggested_lr with its searched
    parameters. Empty frames for other studies."""
    if exp.spec.get("trainable") != "lr_range" or exp.history.empty:
        return pd.DataFrame(), pd.DataFrame()
    needed = {"trial_id", "lr", "smoothed_loss"}
    if not needed <= set(exp.history.columns):
        return pd.DataFrame(), pd.DataFrame()
    curves = exp.history[list(needed)].copy()
    for name in ("lr", "smoothed_loss"):
        curves[name] = pd.to_numeric(curves[name], errors="coerce")
    curves = curves.dropna()
    columns = ["trial_id"] + [f"config/{p}" for p in exp.params if f"config/{p}" in exp.trials]
    summary = exp.trials[
        [*columns, *[c for c in ("diverged_lr", "suggested_lr") if c in exp.trials]]
    ].rename(columns=lambda c: c.removeprefix("config/"))
    return curves, summary.reset_index(drop=True)


def learning_curves(exp: Experiment, k: int = 5) -> pd.DataFrame:
    """Per-epoch history of the k best trials (train vs validation loss and accuracy)."""
    top = top_trials(exp, k)
    if top.empty or exp.history.empty or "epoch" not in exp.history:
        return pd.DataFrame()
    history = exp.history[exp.history["trial_id"].isin(top["trial_id"])]
    history = history[pd.to_numeric(history["epoch"], errors="coerce") > 0]
    if history["trial_id"].map(history["trial_id"].value_counts()).max() < 2:
        return pd.DataFrame()  # one point per trial is no curve
    keep = [
        c
        for c in ("trial_id", "epoch", "loss", "val_loss", "train_acc", "val_acc", "gap")
        if c in history
    ]
    return history[keep].reset_index(drop=True)


def optimisation_history(exp: Experiment) -> pd.DataFrame:
    """Objective per trial in start order, with the best so far (Optuna's history plot)."""
    objective = pd.to_numeric(
        column(exp, "best/objective").fillna(column(exp, "objective")), errors="coerce"
    )
    frame = (
        pd.DataFrame(
            {"order": trial_order(exp), "value": objective, "status": exp.trials["status"]}
        )
        .dropna()
        .sort_values("order")
    )
    if frame.empty:
        return frame
    frame["best_so_far"] = frame["value"].cummax() if exp.mode == "max" else frame["value"].cummin()
    return frame.reset_index(drop=True)


def parallel_coordinates(exp: Experiment) -> pd.DataFrame:
    """Searched numeric parameters scaled to [0, 1] (log for loguniform), with the metric."""
    scored = exp.trials[exp.trials["status"].isin(SCORED)]
    columns = {}
    for param in exp.params:
        if f"config/{param}" not in scored:
            continue
        values = pd.to_numeric(scored[f"config/{param}"], errors="coerce")
        if values.isna().any() or values.nunique() < 2:
            continue
        if dimension(exp, param)[0] == "loguniform":
            values = np.log10(values)
        columns[param] = (values - values.min()) / (values.max() - values.min())
    if len(columns) < 2:
        return pd.DataFrame()
    return pd.DataFrame(columns).assign(metric=metric_values(exp)[scored.index]).dropna()
