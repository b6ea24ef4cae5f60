"""Compute first: every section of a report as DataFrames and plain data (tests check these).

Each function takes an :class:`~analysis.load.Experiment` and returns what its
figure or table shows, or an empty frame / None when the experiment lacks the
data for it (the report then leaves the section out).
"""

from __future__ import annotations

import itertools
import logging
import math
import re
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

import experiment_folder as fmt
from experiment_folder import DIVERGED, FAILED, GROUP, INVALID, SCORED, status_counts

from .fidelity import Fidelity, equal_fidelity, mean_ci, metric_bounds
from .load import Experiment

log = logging.getLogger(__name__)

CONV = ("channels", "kernel_size", "stride", "padding", "dilation", "groups")
EFFECT_BINS = 5


def _col(exp: Experiment, column: str) -> pd.Series:
    return exp.trials[column] if column in exp.trials else pd.Series(np.nan, index=exp.trials.index)


def _trial_seconds(exp: Experiment) -> float:
    """The Ray trials' seconds, summed. A fused study's members share their group's
    clock (each member's time_s is the group's at its end), so a group counts once,
    with its longest member's time, rather than once per member."""
    seconds = pd.to_numeric(_col(exp, "time_s"), errors="coerce")
    if GROUP not in exp.trials:
        return float(seconds.sum())
    return float(seconds.groupby(exp.trials[GROUP].astype(str)).max().sum())


def metric_values(exp: Experiment) -> pd.Series:
    """Each trial's best value of the spec's metric (final value when no best is recorded)."""
    return fmt.metric_values(exp.trials, exp.metric)


def varying(exp: Experiment, key: str) -> bool:
    column = f"config/{key}"
    return column in exp.trials and exp.trials[column].astype(str).nunique() > 1


# --- 1. summary -------------------------------------------------------------------------


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
    epochs = pd.to_numeric(_col(exp, "epochs"), errors="coerce").fillna(0)
    no_trial = _col(exp, "trial_dir").isna() | (_col(exp, "trial_dir").astype(str) == "")
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


# --- 2. tables and importance -----------------------------------------------------------


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


def _dimension(exp: Experiment, param: str) -> tuple[str, list[Any]]:
    dist = (exp.spec.get("space") or {}).get(param) or {}
    return next(iter(dist.items())) if isinstance(dist, dict) and dist else ("", [])


def _bins(exp: Experiment, param: str, values: pd.Series) -> pd.Series:
    """Bin a numeric parameter: log-spaced for loguniform, equal-width otherwise."""
    kind, _ = _dimension(exp, param)
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


# --- 3. learning rate and divergence ----------------------------------------------------


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
    from .stability_map import fit_map

    return fit_map(exp.trials, exp.spec, exp.params)


def stability_boundary(exp: Experiment, fit: Any = None) -> pd.DataFrame:
    """The largest stable lr and the smallest diverging lr, per batch_size or momentum
    where those vary (momentum binned), with their geometric mean; and for the networks
    the fitted lr at 50 % divergence risk with its 95 % interval (NaN without a fit)."""
    from .stability_map import lr_50_at

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


EXACT = ("linear_w", "linear_wb")  # regressions with an exact theory (trainables.stable_lrs)
OVERFLOW_GROWTH = 1e10  # the error's growth at which the loss passes the 1e20 threshold
DATA_KEYS = ("data", "data_seed", "impl")  # the config keys that pick a regression's data


def _fixed_config(exp: Experiment) -> dict[str, Any] | None:
    """The config every trial shares besides lr (None when anything else that moves the
    limits, the data above all, varies between trials)."""
    config = dict(exp.spec.get("config") or {}) if isinstance(exp.spec.get("config"), dict) else {}
    movers = [p for p in exp.params if p not in ("lr", "w0", "b0", "seed", "epochs")]
    if movers:
        return None
    return {k: v for k, v in config.items() if k != "lr"}


def stable_intervals(exp: Experiment) -> pd.DataFrame:
    """The exact stable lr intervals across the lr range the trials covered (the
    regressions only; empty when their data or impl vary, or lr does not)."""
    import trainables

    points = lr_points(exp)
    config = _fixed_config(exp)
    if exp.spec.get("trainable") not in EXACT or points.empty or config is None:
        return pd.DataFrame()
    low, high = float(points["lr"].min()), float(points["lr"].max())
    if not 0 < low < high:
        return pd.DataFrame()
    try:
        intervals = trainables.stable_lrs(str(exp.spec["trainable"]), config, low, high)
    except (trainables.InvalidConfig, ValueError, ArithmeticError) as exc:
        log.info("no exact stability for %s: %s", exp.name, exc)
        return pd.DataFrame()
    return pd.DataFrame(intervals, columns=["stable_from", "stable_to"])


def data_floor(trainable: str, config: dict[str, Any]) -> dict[str, float]:
    """The least-squares fit of ``trainable`` on the data ``config`` names, and its MSE
    (trainables.stability.loss_floor; only the keys that pick the data are passed)."""
    from trainables.stability import loss_floor as exact

    return exact(trainable, {k: v for k, v in config.items() if k in DATA_KEYS})


def loss_floor(exp: Experiment) -> dict[str, Any] | None:
    """The regressions' exact floor: the least-squares fit on the study's data and its
    MSE, below which no trial's loss can go (data_floor); None where the data vary
    between trials, or for other trainables."""
    config = _fixed_config(exp)
    if exp.spec.get("trainable") not in EXACT or config is None:
        return None
    try:
        return {**data_floor(str(exp.spec["trainable"]), config), "data": config.get("data", "")}
    except (ValueError, ArithmeticError, TypeError) as exc:  # InvalidConfig is a ValueError
        log.info("no exact loss floor for %s: %s", exp.name, exc)
        return None


def stability_agreement(exp: Experiment, intervals: pd.DataFrame | None = None) -> pd.DataFrame:
    """Each trial's outcome against the exact theory: predicted stable or not, the
    epochs an unstable lr needs to overflow from the start, the epochs it ran, and
    why an outcome differs (too few epochs to get there, or growth too slow)."""
    from trainables.stability import epochs_to_overflow

    intervals = stable_intervals(exp) if intervals is None else intervals
    config = _fixed_config(exp)
    if intervals.empty or config is None:
        return pd.DataFrame()
    points = lr_points(exp)
    epochs = (
        pd.to_numeric(
            exp.trials.set_index("trial_id").loc[points["trial_id"], "config/epochs"],
            errors="coerce",
        ).to_numpy()
        if "config/epochs" in exp.trials
        else np.full(len(points), np.nan)
    )
    name = str(exp.spec["trainable"])
    rows = []
    for (_, point), ran in zip(points.iterrows(), epochs):
        lr = float(point["lr"])
        stable = bool(((intervals["stable_from"] <= lr) & (lr <= intervals["stable_to"])).any())
        needed = epochs_to_overflow(name, config, lr, OVERFLOW_GROWTH)
        diverged = bool(point["diverged"])
        agrees = stable != diverged
        why = ""
        if not agrees and not diverged:
            why = f"needs about {needed:.0f} epochs to overflow; the trial ran {ran:.0f}"
        elif not agrees:
            why = "diverged where the theory says stable (float32 rounding near a limit?)"
        rows.append(
            {
                "trial_id": point["trial_id"],
                "lr": lr,
                "theory": "stable" if stable else "diverges",
                "outcome": "diverged" if diverged else "trained",
                "epochs_to_overflow": needed,
                "epochs_run": ran,
                "agrees": agrees,
                "why": why,
            }
        )
    return pd.DataFrame(rows)


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
    for column in ("lr", "smoothed_loss"):
        curves[column] = pd.to_numeric(curves[column], errors="coerce")
    curves = curves.dropna()
    columns = ["trial_id"] + [f"config/{p}" for p in exp.params if f"config/{p}" in exp.trials]
    summary = exp.trials[
        [*columns, *[c for c in ("diverged_lr", "suggested_lr") if c in exp.trials]]
    ].rename(columns=lambda c: c.removeprefix("config/"))
    return curves, summary.reset_index(drop=True)


# --- 4. the seed's brute force ----------------------------------------------------------


def brute_force_curve(exp: Experiment) -> pd.DataFrame:
    """MSE vs w from a w grid (b fixed), as the seed's ``plt.plot(w_list, mse_list)``."""
    if exp.spec.get("trainable") != "loss_landscape" or not varying(exp, "w") or varying(exp, "b"):
        return pd.DataFrame()
    frame = pd.DataFrame(
        {"w": pd.to_numeric(exp.trials["config/w"]), "mse": pd.to_numeric(exp.trials["loss"])}
    )
    return frame.sort_values("w").reset_index(drop=True)


@dataclass
class Surface:
    """A loss surface on a w × b grid (numpy.meshgrid layout: rows are b, columns are w)."""

    w: np.ndarray
    b: np.ndarray
    mse: np.ndarray

    @property
    def minimum(self) -> tuple[float, float, float]:
        row, col = np.unravel_index(np.nanargmin(self.mse), self.mse.shape)
        return float(self.w[row, col]), float(self.b[row, col]), float(self.mse[row, col])


def loss_surface(exp: Experiment) -> Surface | None:
    if exp.spec.get("trainable") != "loss_landscape" or not (
        varying(exp, "w") and varying(exp, "b")
    ):
        return None
    frame = pd.DataFrame(
        {
            "w": pd.to_numeric(exp.trials["config/w"]),
            "b": pd.to_numeric(exp.trials["config/b"]),
            "mse": pd.to_numeric(exp.trials["loss"]),
        }
    )
    grid = frame.pivot_table(index="b", columns="w", values="mse", aggfunc="mean")
    w, b = np.meshgrid(grid.columns.to_numpy(float), grid.index.to_numpy(float))
    return Surface(w, b, grid.to_numpy(float))


# --- 5. training dynamics ---------------------------------------------------------------


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
    numbers = _col(exp, "trial_dir").map(lambda d: _trial_number(str(d)))
    if numbers.isna().all():  # no timestamps, no Ray folder names: the table's own order
        return pd.Series(np.arange(1.0, len(exp.trials) + 1), index=exp.trials.index)
    return numbers.rank(method="first")


def _trial_number(trial_dir: str) -> float:
    match = re.search(r"_[0-9a-f]{5,8}(?:_\d{5})?_(\d+)_", trial_dir)
    return float(match.group(1)) if match else math.nan


def optimisation_history(exp: Experiment) -> pd.DataFrame:
    """Objective per trial in start order, with the best so far (Optuna's history plot)."""
    objective = pd.to_numeric(
        _col(exp, "best/objective").fillna(_col(exp, "objective")), errors="coerce"
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
        if _dimension(exp, param)[0] == "loguniform":
            values = np.log10(values)
        columns[param] = (values - values.min()) / (values.max() - values.min())
    if len(columns) < 2:
        return pd.DataFrame()
    return pd.DataFrame(columns).assign(metric=metric_values(exp)[scored.index]).dropna()


# --- 7. Conv2d --------------------------------------------------------------------------


def conv_effects(exp: Experiment) -> dict[str, pd.DataFrame]:
    """Accuracy by each Conv2d setting that varies (mean, best, trials, invalid share)."""
    if exp.spec.get("trainable") != "mnist_cnn":
        return {}
    effects = param_effects(exp)
    return {k: v for k, v in effects.items() if k in CONV}


def invalid_trials(exp: Experiment) -> pd.DataFrame:
    """The invalid combinations with their reasons."""
    invalid = exp.trials[exp.trials["status"] == INVALID]
    if invalid.empty:
        return pd.DataFrame()
    columns = [f"config/{p}" for p in exp.params if f"config/{p}" in invalid] + ["reason"]
    return (
        invalid[columns].rename(columns=lambda c: c.removeprefix("config/")).reset_index(drop=True)
    )
