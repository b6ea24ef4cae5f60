"""Where training blows up: each trial's lr and outcome, the bracket between the
largest stable and the smallest diverging lr, and the networks' fitted boundary
(divergence_fit.py) where the study carries one.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from experiment_folder import DIVERGED, SCORED

from ..load import Experiment
from .overview import varying


def lr_points(exp: Experiment) -> pd.DataFrame:
    """Final loss vs lr for every trial that trained, with its status."""
    if not varying(exp, "lr") or "loss" not in exp.trials:
        return pd.DataFrame()
    frame = exp.trials[exp.trials["status"].isin((*SCORED, DIVERGED))]
    return (
        pd.DataFrame(
            {
                "lr": pd.to_numeric(frame["config/lr"], errors="coerce"),
                "loss": pd.to_numeric(frame["loss"], errors="coerce"),
                "diverged": frame["status"] == DIVERGED,
                "trial_id": frame["trial_id"],
            }
        )
        .dropna(subset=["lr"])
        .sort_values("lr")
        .reset_index(drop=True)
    )


def stability_map(exp: Experiment) -> Any:
    """The fitted divergence model of a network study (analysis/stability_map.py)."""
    from .divergence_fit import fit_map

    return fit_map(exp.trials, exp.spec, exp.params)


def stability_boundary(exp: Experiment, fit: Any = None) -> pd.DataFrame:
    """The largest stable lr and the smallest diverging lr, per batch_size or momentum
    where those vary (momentum binned), with their geometric mean; and for the networks
    the fitted lr at 50 % divergence risk with its 95 % interval (NaN without a fit)."""
    from .divergence_fit import lr_50_at

    points = lr_points(exp)
    if points.empty or not points["diverged"].any():
        return pd.DataFrame()
    trials = exp.trials.set_index("trial_id")
    group_by = next((k for k in ("batch_size", "momentum") if varying(exp, k)), None)
    values = None
    if group_by is None:
        points["group"] = "all trials"
    else:
        column = trials.loc[points["trial_id"], f"config/{group_by}"].to_numpy()
        values = pd.to_numeric(pd.Series(column, index=points.index), errors="coerce")
        points["group"] = (
            column if group_by == "batch_size" else pd.cut(pd.to_numeric(column), 3).astype(str)
        )
        points["group"] = [f"{group_by}={g}" for g in points["group"]]
    if fit is None and exp.spec.get("trainable") in ("mnist_mlp", "mnist_cnn"):
        fit = stability_map(exp)  # callers that also draw the map pass theirs in
    rows = []
    for group, frame in points.groupby("group", sort=True):
        row = {"group": group, **boundary(frame["lr"], frame["diverged"])}
        if fit is not None:
            at: dict[str, float] = {}
            if group_by is not None and values is not None:
                at[group_by] = float(values[frame.index].median())
            row["lr_50"], row["lr_50_low"], row["lr_50_high"] = lr_50_at(fit, at)
        rows.append(row)
    table = pd.DataFrame(rows)
    if group_by == "batch_size":  # numbers, not text: 16, 64, 256
        order = table["group"].str.split("=").str[1].astype(float).argsort()
        table = table.iloc[order].reset_index(drop=True)
    return table


def boundary(lr: pd.Series, diverged: pd.Series) -> dict[str, Any]:
    """Largest stable lr, smallest diverged lr, and the boundary between them (geometric mean;
    NaN when the two overlap, i.e. no single lr separates stable from diverged)."""
    stable = lr[~diverged.astype(bool)]
    bad = lr[diverged.astype(bool)]
    high = float(stable.max()) if len(stable) else math.nan
    low = float(bad.min()) if len(bad) else math.nan
    estimate = math.sqrt(high * low) if high < low else math.nan
    return {
        "largest_stable_lr": high,
        "smallest_diverged_lr": low,
        "boundary_lr": estimate,
        "stable": len(stable),
        "diverged": len(bad),
    }
