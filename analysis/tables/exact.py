"""The regressions' exact answers, beside what their trials measured: the stable
learning rates (trainables.stable_lrs), the least-squares floor of their data, the
brute-force curve and the loss surface on a meshgrid.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..load import Experiment
from .overview import varying
from .stability import lr_points

log = logging.getLogger(__name__)

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
