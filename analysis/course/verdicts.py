"""What a chapter found, and the rules of its verdict. Nothing in a verdict is written
by hand (ARCHITECTURE.md, "The course"):

- **confirmed**: the claim holds as the note states it;
- **refined**: it holds, but only with a condition or a number the measurement adds;
- **contradicted**: the measurement says otherwise;
- **not settled**: the study cannot tell (too few seeds for an interval, say).

The thresholds the chapters decide by, and the helpers they share, are here.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import yaml
from matplotlib.figure import Figure

from ..errors import AnalysisError
from ..load import Experiment
from ..report import fmt_value as fmt

CONFIRMED, REFINED, CONTRADICTED, NOT_SETTLED = (
    "confirmed",
    "refined",
    "contradicted",
    "not settled",
)


VERDICTS = (CONFIRMED, REFINED, CONTRADICTED, NOT_SETTLED)


# "Reaches w ≈ 2": the note prints w after training and calls it 2; within this of the
# exact answer counts as reaching it (the distance itself is always reported).
NEAR = 1e-2


# Where a loss counts as zero: float64 rounding of an exact fit.
ZERO_LOSS = 1e-12


# The remedies' baseline overfits where its train accuracy passes its validation
# accuracy by this much at the end; below it there is nothing for a remedy to counter.
OVERFITS = 0.03


# The MLP "learns" where its test accuracy is well above chance (0.1 for ten digits).
LEARNS = 0.5


@dataclass
class Measured:
    """What a chapter found: the answer in sentences with numbers, the verdict with its
    reason, and the figures and tables behind them."""

    answer: list[str]
    verdict: str
    reason: str
    figures: list[tuple[str, Figure]] = field(default_factory=list)
    tables: list[tuple[str, pd.DataFrame]] = field(default_factory=list)


def spec_config(exp: Experiment) -> dict[str, Any]:
    config = exp.spec.get("config")
    return dict(config) if isinstance(config, dict) else {}


def point_count(exp: Experiment) -> int:
    from trainables.model_configs import resolve_data

    xs, _ = resolve_data(
        spec_config(exp).get("data", "seed"), int(spec_config(exp).get("data_seed", 0)), "seed"
    )
    return len(xs)


def final_rows(
    exp: Experiment, metrics: tuple[str, ...], by_reduction: bool = False
) -> pd.DataFrame:
    """Each trial's lr (and its loss's reduction) with its final metrics, by lr."""
    trials = exp.trials
    if "config/lr" not in trials:
        raise AnalysisError("no lr in this study's trials")
    columns = {"config/lr": "lr", **{m: m for m in metrics if m in trials}}
    frame = trials[list(columns)].rename(columns=columns)
    if by_reduction:
        default = str(spec_config(exp).get("reduction", "sum"))
        frame["reduction"] = (
            trials["config/reduction"].fillna(default).astype(str)
            if "config/reduction" in trials
            else default
        )
    for m in ("lr", *[m for m in metrics if m != "diverged"]):
        if m in frame:
            frame[m] = pd.to_numeric(frame[m], errors="coerce")
    if "diverged" in frame:
        frame["diverged"] = frame["diverged"].astype(str).str.lower() == "true"
    return frame.sort_values("lr").reset_index(drop=True)


def note_row(frame: pd.DataFrame, column: str, value: float) -> pd.Series:
    """The trial at the note's setting (``column`` = ``value``); a study without it
    cannot check the note's claim, and says so."""
    rows = frame[np.isclose(frame[column].astype(float), value)]
    if rows.empty:
        raise AnalysisError(f"the note's {column} {value:g} is not among this study's trials")
    return rows.iloc[0]


def param_curves(exp: Experiment, params: tuple[str, ...]) -> pd.DataFrame:
    """Per epoch, each trial's lr and ``params`` (history.csv)."""
    history = exp.history
    if history.empty or not set(params) <= set(history):
        return pd.DataFrame()
    lrs = pd.to_numeric(exp.trials.set_index("trial_id")["config/lr"], errors="coerce")
    frame = history[["trial_id", "epoch", *params]].copy()
    frame["lr"] = frame["trial_id"].map(lrs)
    return frame.apply(lambda c: pd.to_numeric(c, errors="coerce") if c.name != "trial_id" else c)


def grid_verdict(found: Mapping[str, tuple[float, float, Any]], mse: float) -> tuple[str, str]:
    """A brute force's verdict: ``found`` maps each parameter to (the grid's minimum, the
    note's answer, the grid's values). Confirmed where the minimum is the answer with
    MSE 0; refined where the grid lacks the answer but its nearest point is the minimum
    (right to the grid's resolution); contradicted otherwise."""
    at = ", ".join(f"{k} = {fmt(v[0])}" for k, v in found.items())
    answer = ", ".join(f"{k} = {fmt(v[1])}" for k, v in found.items())
    if all(abs(got - want) < 1e-9 for got, want, _ in found.values()) and mse < ZERO_LOSS:
        return CONFIRMED, f"the grid's minimum is exactly {answer}, with MSE 0"
    nearest = {
        k: float(
            np.asarray(grid, dtype=float)[np.abs(np.asarray(grid, dtype=float) - want).argmin()]
        )
        for k, (_, want, grid) in found.items()
    }
    if all(abs(nearest[k] - got) < 1e-9 for k, (got, _, _) in found.items()):
        return REFINED, (
            f"the grid has no point at {answer}; its nearest, {at}, is the minimum "
            f"(MSE {fmt(mse)}): right to the grid's resolution"
        )
    return CONTRADICTED, f"the grid's minimum is at {at} (MSE {fmt(mse)}), not at {answer}"


def near(value: Any, target: float) -> str:
    """A trained value with its distance from what the note expects ('2 (7.9e-06 off)'),
    so that a value the page rounds to the target still shows how close it came."""
    off = abs(float(value) - target)
    return fmt(float(value)) + (f" ({fmt(off)} off)" if off else "")


def cell(value: Any, default: Any) -> Any:
    """A trials.csv config cell as the trainable took it: JSON-ish lists parsed, NaN
    (a key the trial did not get) as the spec's value."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return default
    if isinstance(value, str):
        try:
            return yaml.safe_load(value)
        except yaml.YAMLError:
            return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value
