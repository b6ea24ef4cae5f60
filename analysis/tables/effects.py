"""Each searched parameter's effect on the metric, binned where it is continuous, at
one fidelity (fidelity.py), with intervals; the Conv2d settings' effects.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np
import pandas as pd

from experiment_folder import DIVERGED, INVALID

from ..load import Experiment
from .fidelity import Fidelity, equal_fidelity, mean_ci, metric_bounds

CONV = ("channels", "kernel_size", "stride", "padding", "dilation", "groups")
EFFECT_BINS = 5


def dimension(exp: Experiment, param: str) -> tuple[str, list[Any]]:
    dist = (exp.spec.get("space") or {}).get(param) or {}
    return next(iter(dist.items())) if isinstance(dist, dict) and dist else ("", [])


def _bins(exp: Experiment, param: str, values: pd.Series) -> pd.Series:
    """Bin a numeric parameter: log-spaced for loguniform, equal-width otherwise."""
    kind, _ = dimension(exp, param)
    numeric = pd.to_numeric(values, errors="coerce")
    if numeric.isna().any() or numeric.nunique() <= EFFECT_BINS:
        return values.astype(str) if numeric.isna().any() else numeric
    if kind == "loguniform" and (numeric > 0).all():
        edges = np.geomspace(numeric.min(), numeric.max(), EFFECT_BINS + 1)
    else:
        edges = np.linspace(numeric.min(), numeric.max(), EFFECT_BINS + 1)
    edges = np.unique(edges)
    labels = [f"{a:.3g}–{b:.3g}" for a, b in itertools.pairwise(edges)]
    return pd.cut(numeric, edges, include_lowest=True, labels=labels)


def _natural(label: str) -> tuple[float, str]:
    """Numbers by value (16, 64, 256, not 16, 256, 64), then text."""
    try:
        value = float(label)
    except ValueError:
        return math.inf, label
    return (value, "") if value == value else (math.inf, label)


def param_effects(exp: Experiment, fidelity: Fidelity | None = None) -> dict[str, pd.DataFrame]:
    """Per searched parameter: trials, the metric's mean with a 95 % interval and its best
    per value or bin, all at one fidelity (the ``at_epoch`` column: analysis.fidelity),
    and the diverged and invalid shares. Repeat seeds are not parameters."""
    effects: dict[str, pd.DataFrame] = {}
    fidelity = fidelity or equal_fidelity(exp)
    for param in exp.params:
        column = param if param == "variant" else f"config/{param}"
        if column not in exp.trials or exp.trials[column].astype(str).nunique() < 2:
            continue
        groups = _bins(exp, param, exp.trials[column])
        frame = pd.DataFrame(
            {
                "bin": groups,
                "metric": fidelity.values,
                "diverged": exp.trials["status"] == DIVERGED,
                "invalid": exp.trials["status"] == INVALID,
            }
        )
        rows = {}
        bounds = metric_bounds(exp, exp.metric)
        for value, group in frame.groupby("bin", observed=True, sort=True):
            mean, low, high = mean_ci(group["metric"], bounds=bounds)
            scored = group["metric"].dropna()
            rows[str(value)] = {
                "trials": len(group),
                f"mean {exp.metric}": mean,
                "95% CI low": low,
                "95% CI high": high,
                f"best {exp.metric}": (
                    (scored.max() if exp.mode == "max" else scored.min()) if len(scored) else np.nan
                ),
                "at_epoch": fidelity.at_epoch,
                "diverged share": float(group["diverged"].mean()),
                "invalid share": float(group["invalid"].mean()),
            }
        if not isinstance(groups.dtype, pd.CategoricalDtype):  # bins keep their own order
            rows = {k: rows[k] for k in sorted(rows, key=_natural)}
        effects[param] = pd.DataFrame.from_dict(rows, orient="index").rename_axis(param)
    return effects


def conv_effects(exp: Experiment) -> dict[str, pd.DataFrame]:
    """Accuracy by each Conv2d setting that varies (mean, best, trials, invalid share)."""
    if exp.spec.get("trainable") != "mnist_cnn":
        return {}
    effects = param_effects(exp)
    return {k: v for k, v in effects.items() if k in CONV}
