"""The columns of trials.csv and history.csv and the keys every result carries; what a
row's values mean: its config, its metric at its best epoch, the best trial, and the
sampled values decoded into the config they stand for.
"""

from __future__ import annotations

import contextlib
import json
import math
from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd

from experiment_folder.statuses import SCORED

__all__ = [
    "BEST_PREFIX",
    "CONFIG_PREFIX",
    "GROUP",
    "NOT_METRICS",
    "OBJECTIVE",
    "RAY_BOOKKEEPING",
    "RAY_KEPT",
    "REPEAT_KEYS",
    "RESULT_KEYS",
    "TRIAL_CONFIG",
    "TRIAL_INDEX",
    "best_trial",
    "config_columns",
    "decode_choice",
    "decode_params",
    "first_trial_config",
    "is_encoded",
    "metric_values",
]

CONFIG_PREFIX = "config/"  # trials.csv: each config key as the trial ran it
BEST_PREFIX = "best/"  # trials.csv: a metric at the epoch with the best objective
OBJECTIVE = "objective"  # the spec's metric as searchers see it: finite, never nan
# The trial's place in its study's order of proposals, which a searcher puts in the
# config it proposes (study/specs/plan.py derives the trial's seed from it; not a
# config key). Results and trials.csv carry it; trials.csv's rows are in its order.
TRIAL_INDEX = "trial_index"
# Every result a trial reports carries these besides its trainable's metrics.
RESULT_KEYS = ("objective", "status", "trial_seed", TRIAL_INDEX)
# The config a trial really ran with rides on each of its results under this key.
TRIAL_CONFIG = "trial_config"
# A fused study (``fuse: K``) trains up to K trials in one Ray trial, its group: the
# history.csv and trials.csv column naming it (absent when unfused; members.py).
GROUP = "group"
# history.csv columns that are bookkeeping, not metrics of a trial.
NOT_METRICS = (
    "trial_id",
    "status",
    "reason",
    "trial_seed",
    TRIAL_INDEX,
    "time_s",
    "divergence",
    TRIAL_CONFIG,
    GROUP,
)
# Config keys that repeat a configuration rather than change it: the per-trial random
# seed (initialisation, shuffling, dropout). A grid of them gives repeats, never a
# parameter. (A seed that selects data, like the regressions' data_seed, is not one.)
REPEAT_KEYS = ("seed",)
# Ray Tune's columns kept in history.csv (``training_iteration`` renamed): no best/ column.
RAY_KEPT = {"training_iteration": "iteration", "time_total_s": "time_total_s"}
RAY_BOOKKEEPING = ("iteration", "time_total_s", "timestamp")


def metric_values(trials: pd.DataFrame, metric: str) -> pd.Series:
    """Each trial's value of ``metric`` at its best epoch (its final value where no best
    is recorded), as floats."""
    nan = pd.Series(math.nan, index=trials.index)
    best = trials.get(BEST_PREFIX + metric, nan)
    final = trials.get(metric, nan)
    return pd.to_numeric(pd.Series(best).fillna(final), errors="coerce")


def best_trial(trials: pd.DataFrame, metric: str, mode: str) -> pd.Series | None:
    """The best scored trial: the highest (mode max) or lowest (min) value of ``metric``
    at its best epoch, among trials whose status is in SCORED. None when there is none."""
    if trials.empty or "status" not in trials:
        return None
    values = metric_values(trials, metric)[trials["status"].isin(SCORED)].dropna()
    if values.empty:
        return None
    return trials.loc[values.idxmax() if mode == "max" else values.idxmin()]


def config_columns(row: Mapping[str, Any]) -> dict[str, Any]:
    """``{key: value}`` from a row's ``config/<key>`` entries."""
    return {
        str(k)[len(CONFIG_PREFIX) :]: v for k, v in row.items() if str(k).startswith(CONFIG_PREFIX)
    }


def first_trial_config(values: Iterable[Any]) -> dict[str, Any] | None:
    """The config a trial reported it ran with: the first of ``values`` (its results'
    ``trial_config`` entries, in order) that is JSON text of a mapping; else None."""
    for text in values:
        if isinstance(text, str):
            try:
                config = json.loads(text)
            except (ValueError, RecursionError):
                continue
            if isinstance(config, dict):
                return config
    return None


def is_encoded(values: list[Any]) -> bool:
    """Choices of lists (Conv2d channels) travel as indices: Optuna's categorical
    distribution takes only None, bool, int, float and str."""
    return any(isinstance(v, (list, tuple, dict)) for v in values)


def decode_choice(distribution: Any, sampled: Any) -> Any:
    """The value a sampled index stands for, given the spec's ``{kind: args}`` of that
    parameter; ``sampled`` itself when the distribution is not encoded (or the index
    does not fit, as in a damaged folder)."""
    if not isinstance(distribution, Mapping) or len(distribution) != 1:
        return sampled
    ((kind, values),) = distribution.items()
    if kind not in ("choice", "grid") or not isinstance(values, (list, tuple)):
        return sampled
    if not is_encoded(list(values)):
        return sampled
    with contextlib.suppress(ValueError, TypeError, IndexError, OverflowError):
        return values[int(sampled)]
    return sampled


def decode_params(
    space: Mapping[str, Any], variants: Mapping[str, Any], sampled: Mapping[str, Any]
) -> dict[str, Any]:
    """Sampled values (as Ray hands them) -> the config values they stand for: encoded
    choices decoded, and a ``variant`` expanded into its overrides (``variant`` kept)."""
    out = {
        k: decode_choice(space[k], v) if k in space else v
        for k, v in sampled.items()
        if k != TRIAL_INDEX
    }
    variant = out.pop("variant", None)
    if variant is None:
        return out
    overrides = variants.get(variant) if isinstance(variants, Mapping) else None
    # The trial ran with its variant's overrides under the sampled values.
    merged = {**(overrides if isinstance(overrides, Mapping) else {}), **out}
    return {**merged, "variant": variant}
