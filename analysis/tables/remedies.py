"""The overfitting remedies measured as an expert would: paired by seed, with intervals.

A variant study (``mlp-remedies``, ``mlp-dose``) runs each remedy and the baseline
on the same repeat seeds. Each remedy is compared with the baseline of the same
seed, and the difference's mean gets a 95 % t interval over the seeds. Where the
interval covers zero the report says "no detectable effect at n seeds": the study
cannot tell that remedy from noise.

The dose-response view groups the variants that change exactly one remedy key
against the baseline by that key and its strength.

Searches (no variants) split each varying remedy parameter at its median, on the
metric at one fidelity (analysis.fidelity); those halves are unpaired, and their
interval is Welch's.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from experiment_folder import SCORED

from ..load import Experiment
from .fidelity import (
    MIN_REPEATS,
    UNIT,
    UNIT_DIFFERENCE,
    Fidelity,
    equal_fidelity,
    mean_ci,
)

REMEDIES = ("weight_decay", "momentum", "lr_decay", "early_stop_patience", "dropout")
# measure -> trials.csv column: final val / test accuracy, final gap, epoch of best val_acc
MEASURES = {
    "val_acc": "val_acc",
    "test_acc": "test_acc",
    "gap": "gap",
    "epochs_to_best": "best_epoch",
}
# What each measure can be (its mean's interval is cut to it), and its difference.
LEVEL_BOUNDS = {
    "val_acc": UNIT,
    "test_acc": UNIT,
    "gap": UNIT_DIFFERENCE,
    "epochs_to_best": (1.0, math.inf),
}
DIFF_BOUNDS = {"val_acc": UNIT_DIFFERENCE, "test_acc": UNIT_DIFFERENCE, "gap": (-2.0, 2.0)}
BASELINE = "baseline"
SEED = "config/seed"


def _applies(exp: Experiment) -> bool:
    return exp.spec.get("trainable") in ("mnist_mlp", "mnist_cnn")


def _scored_variants(exp: Experiment) -> pd.DataFrame:
    trials = exp.trials[exp.trials["status"].isin(SCORED)].copy()
    for column in MEASURES.values():
        if column in trials:
            trials[column] = pd.to_numeric(trials[column], errors="coerce")
    trials["variant"] = trials["variant"].astype(str)
    return trials


def paired(exp: Experiment) -> pd.DataFrame:
    """Per remedy variant: n seeds paired with the baseline, and for each measure the mean
    difference (variant - baseline) with its 95 % interval, plus whether it is detectable."""
    if not _applies(exp) or "variant" not in exp.trials or SEED not in exp.trials:
        return pd.DataFrame()
    trials = _scored_variants(exp)
    base = trials[trials["variant"] == BASELINE].drop_duplicates(SEED).set_index(SEED)
    if base.empty:
        return pd.DataFrame()
    rows = {}
    for variant, group in trials[trials["variant"] != BASELINE].groupby("variant", sort=False):
        group = group.drop_duplicates(SEED).set_index(SEED)
        seeds = group.index.intersection(base.index)
        row: dict[str, Any] = {"n_seeds": len(seeds)}
        for name, column in MEASURES.items():
            if column not in trials:
                continue
            diff = group.loc[seeds, column] - base.loc[seeds, column]
            mean, low, high = mean_ci(diff, bounds=DIFF_BOUNDS.get(name))
            row[f"{name} diff"] = mean
            row[f"{name} low"] = low
            row[f"{name} high"] = high
        rows[variant] = row
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "remedy"
    return table


def detectable(low: float, high: float) -> bool | None:
    """Whether the interval excludes zero (None when there is no interval)."""
    if math.isnan(low) or math.isnan(high):
        return None
    return bool(low > 0 or high < 0)


def verdict(low: float, high: float, n: int) -> str:
    """What an interval says, in words."""
    found = detectable(low, high)
    if found is None:
        return f"{n} seed(s): too few for an interval, which needs {MIN_REPEATS}"
    return "beyond noise" if found else f"no detectable effect at {n} seeds"


def headline(table: pd.DataFrame) -> str | None:
    """The key finding about the remedies, agreeing with the table by construction: a
    remedy is named as helping only where its validation accuracy interval lies above
    zero; otherwise none helped, and the one that hurt most (its interval below zero)
    is named. None without a validation accuracy difference."""
    if "val_acc diff" not in table or table["val_acc diff"].isna().all():
        return None

    def said(remedy: Any) -> str:
        row = table.loc[remedy]
        diff, low, high = (100 * row[f"val_acc {k}"] for k in ("diff", "low", "high"))
        n = int(row["n_seeds"])
        return (
            f"validation accuracy {diff:+.1f} pts against the baseline (95 % CI {low:+.1f} "
            f"to {high:+.1f} over {n} seeds)"
        )

    low, high = table["val_acc low"], table["val_acc high"]
    helped = table.index[low > 0]
    if len(helped):
        best = table.loc[helped, "val_acc diff"].idxmax()
        return f"Remedy that helped most: **{best}**, {said(best)}; beyond noise."
    if low.isna().all():
        n = int(table["n_seeds"].max())
        return (
            f"No remedy can be told from noise yet: {n} seed(s) per remedy, and an "
            f"interval needs {MIN_REPEATS}."
        )
    hurt = table.index[high < 0]
    if len(hurt):
        worst = table.loc[hurt, "val_acc diff"].idxmin()
        return f"No remedy helped beyond noise; **{worst}** hurt: {said(worst)}."
    return "No remedy helped or hurt beyond noise: every interval covers zero."


def sentences(table: pd.DataFrame) -> list[str]:
    """One plain sentence per remedy: what it did, in numbers, and whether beyond noise."""
    out = []
    for remedy, row in table.iterrows():
        n = int(row["n_seeds"])
        parts = []
        for name, unit in (("val_acc", "pts"), ("gap", "pts")):
            if f"{name} diff" not in row or math.isnan(row[f"{name} diff"]):
                continue
            diff, low, high = (100 * row[f"{name} {k}"] for k in ("diff", "low", "high"))
            said = verdict(low, high, n)
            what = "validation accuracy" if name == "val_acc" else "the train-val gap"
            parts.append(
                f"changed {what} by {diff:+.1f} {unit} (95% CI {low:+.1f} to {high:+.1f}; {said})"
            )
        if parts:
            out.append(f"{remedy}: " + " and ".join(parts) + ", against the baseline.")
    return out


def levels(exp: Experiment) -> pd.DataFrame:
    """Per variant: n and each measure's mean with its 95 % interval over the seeds."""
    if not _applies(exp) or "variant" not in exp.trials:
        return pd.DataFrame()
    trials = _scored_variants(exp)
    rows = {}
    for variant, group in trials.groupby("variant", sort=False):
        row: dict[str, Any] = {"n": len(group)}
        for name, column in MEASURES.items():
            if column in group:
                mean, low, high = mean_ci(group[column], bounds=LEVEL_BOUNDS.get(name))
                row[f"{name} mean"], row[f"{name} low"], row[f"{name} high"] = mean, low, high
        rows[variant] = row
    table = pd.DataFrame.from_dict(rows, orient="index")
    order = [BASELINE] + [v for v in table.index if v not in (BASELINE, "all")] + ["all"]
    table = table.reindex([v for v in order if v in table.index])
    table.index.name = "remedy"
    return table


def _variant_configs(exp: Experiment) -> dict[str, dict[str, Any]]:
    out = {}
    for variant, group in exp.trials.groupby(exp.trials["variant"].astype(str), sort=False):
        first = group.iloc[0]
        out[variant] = {
            r: float(pd.to_numeric(first.get(f"config/{r}"), errors="coerce"))
            for r in REMEDIES
            if f"config/{r}" in exp.trials
        }
    return out


def dose_response(exp: Experiment, table: pd.DataFrame | None = None) -> pd.DataFrame:
    """Variants that change exactly one remedy key against the baseline, by key and strength:
    paired differences in val_acc and gap with 95 % intervals (rows: remedy, strength).
    ``table``: :func:`paired`'s result, when the caller has it already."""
    table = paired(exp) if table is None else table
    if table.empty:
        return pd.DataFrame()
    configs = _variant_configs(exp)
    base = configs.get(BASELINE, {})
    rows = []
    for variant, row in table.iterrows():
        # a key the variant leaves unset (NaN) is the baseline's; one the baseline leaves
        # unset is the trainable's default, which the variant changed
        own = configs.get(str(variant), {})
        changed = [r for r, v in own.items() if not math.isnan(v) and v != base.get(r)]
        if len(changed) != 1:
            continue
        remedy = changed[0]
        rows.append(
            {"remedy": remedy, "strength": configs[str(variant)][remedy], "variant": variant}
            | row.to_dict()
        )
    if not rows:
        return pd.DataFrame()
    frame = pd.DataFrame(rows)
    # the baseline is strength "off" of every remedy: a zero difference by definition
    for remedy in frame["remedy"].unique():
        zero = {"remedy": remedy, "strength": base.get(remedy, np.nan), "variant": BASELINE}
        zero |= {c: 0.0 for c in table.columns if c != "n_seeds"}
        zero["n_seeds"] = int(frame["n_seeds"].max())
        frame = pd.concat([frame, pd.DataFrame([zero])], ignore_index=True)
    counts = frame.groupby("remedy")["strength"].transform("nunique")
    frame = frame[counts >= 3]  # a curve needs the baseline and at least two strengths
    frame = frame.sort_values(["remedy", "strength"], na_position="first")
    return frame.set_index(["remedy", "strength"])


def search_split(exp: Experiment, fidelity: Fidelity | None = None) -> pd.DataFrame:
    """Searches: each varying remedy parameter split at its median, the metric at one
    fidelity: the halves' means and their difference with Welch's 95 % interval."""
    if not _applies(exp) or "variant" in exp.trials:
        return pd.DataFrame()
    fidelity = fidelity or equal_fidelity(exp)
    rows = {}
    for remedy in REMEDIES:
        column = f"config/{remedy}"
        if column not in exp.trials or exp.trials[column].astype(str).nunique() < 2:
            continue
        values = pd.to_numeric(exp.trials[column], errors="coerce")
        median = float(values.median())
        high = fidelity.values[values >= median].dropna()
        low = fidelity.values[values < median].dropna()
        if len(high) < 2 or len(low) < 2:
            continue
        test = stats.ttest_ind(high, low, equal_var=False)
        ci = test.confidence_interval(0.95)
        rows[remedy] = {
            "split at": median,
            "n below": len(low),
            f"mean {exp.metric} below": float(low.mean()),
            "n at or above": len(high),
            f"mean {exp.metric} at or above": float(high.mean()),
            "difference": float(high.mean() - low.mean()),
            "95% CI low": float(ci.low),
            "95% CI high": float(ci.high),
            "at_epoch": fidelity.at_epoch,
        }
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "remedy"
    return table


def gap_curves(exp: Experiment) -> pd.DataFrame:
    """Mean generalisation gap (train_acc - val_acc) per epoch for each remedy variant."""
    if "variant" not in exp.trials or exp.history.empty or "gap" not in exp.history:
        return pd.DataFrame()
    variant = pd.Series(exp.trials["variant"].astype(str).to_numpy(), index=exp.trials["trial_id"])
    history = exp.history.assign(remedy=exp.history["trial_id"].map(variant))
    history = history.dropna(subset=["remedy"])
    history["gap"] = pd.to_numeric(history["gap"], errors="coerce")
    curves = history.groupby(["remedy", "epoch"])["gap"].mean().unstack("remedy")
    return curves.dropna(how="all")
