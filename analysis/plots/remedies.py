"""The remedies' figures: each remedy's paired difference with its interval, a dose
against its response, and the train-validation gap over epochs.
"""

from __future__ import annotations

import math

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from .base import DIVERGED, STABLE, axes


def _interval(table: pd.DataFrame, name: str) -> tuple[pd.Series, list[pd.Series]]:
    """Mean and asymmetric error bars from ``<name> diff|low|high`` (no bar where no CI)."""
    mean = table[f"{name} diff"].astype(float)
    below = (mean - table[f"{name} low"].astype(float)).clip(lower=0).fillna(0)
    above = (table[f"{name} high"].astype(float) - mean).clip(lower=0).fillna(0)
    return mean, [below, above]


def plot_differences(
    table: pd.DataFrame, measures: tuple[str, ...], title: str, ax: Axes | None = None
) -> Axes:
    """Each remedy minus the baseline (paired by seed), in percentage points, with the
    95 % interval; a zero line, so an interval across it reads as 'not detectable'."""
    ax = axes(ax, (7, 1.2 + 0.28 * len(table) * len(measures)))
    present = [m for m in measures if f"{m} diff" in table]
    height = 0.8 / max(len(present), 1)
    y = np.arange(len(table))
    for i, name in enumerate(present):
        mean, err = _interval(table, name)
        ax.barh(
            y + i * height,
            100 * mean,
            height,
            xerr=[100 * e for e in err],
            capsize=3,
            label=name.replace("_", " "),
        )
    ax.axvline(0, color="black", linewidth=0.8)
    ax.set_yticks(y + height * (len(present) - 1) / 2, table.index)
    ax.invert_yaxis()
    ax.set_xlabel("difference from the baseline (percentage points), 95% CI")
    ax.set_title(title)
    ax.legend(fontsize="small")
    return ax


def plot_dose_response(frame: pd.DataFrame) -> Figure:
    """One small panel per remedy: the paired difference from the baseline in val_acc
    and in the gap against the remedy's strength (95 % intervals)."""
    remedies = list(dict.fromkeys(frame.index.get_level_values("remedy")))
    cols = min(len(remedies), 3)
    rows = math.ceil(len(remedies) / cols)
    fig, axes = plt.subplots(
        rows, cols, figsize=(4.2 * cols, 3.2 * rows), layout="constrained", squeeze=False
    )
    for ax, remedy in zip(axes.flat, remedies):
        part = frame.xs(remedy, level="remedy")
        x = np.arange(len(part))
        for name, shift, color in (("val_acc", -0.08, STABLE), ("gap", 0.08, DIVERGED)):
            if f"{name} diff" not in part:
                continue
            mean, err = _interval(part, name)
            ax.errorbar(
                x + shift,
                100 * mean,
                yerr=[100 * e for e in err],
                fmt="o-",
                color=color,
                capsize=3,
                label=f"{name.replace('_', ' ')} - baseline",
            )
        ax.axhline(0, color="black", linewidth=0.8)
        ax.set_xticks(x, ["baseline" if v != v else f"{v:g}" for v in part.index])
        ax.set_xlabel(remedy)
        ax.set_ylabel("percentage points")
        ax.set_title(remedy)
    for ax in list(axes.flat)[len(remedies) :]:
        ax.set_visible(False)
    axes.flat[0].legend(fontsize="small")
    fig.suptitle("Dose-response: difference from the baseline by strength (95% CI over seeds)")
    return fig


def plot_gap_curves(curves: pd.DataFrame, ax: Axes | None = None) -> Axes:
    """Generalisation gap (train_acc - val_acc) per epoch, one line per remedy."""
    ax = axes(ax)
    for column in curves.columns:
        ax.plot(
            curves.index,
            curves[column],
            label=str(column),
            linewidth=2.5 if column == "baseline" else 1.5,
        )
    ax.axhline(0, color="grey", linewidth=0.8)
    ax.set_xlabel("epoch")
    ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    ax.set_ylabel("gap = train_acc - val_acc")
    ax.set_title("Generalisation gap over epochs (mean over seeds)")
    ax.legend(fontsize="small", ncol=2)
    return ax
