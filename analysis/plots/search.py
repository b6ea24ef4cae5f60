"""A search's figures: the learning curves of the best trials, the optimisation
history, the parallel coordinates, each parameter's effect, and their importance.
"""

from __future__ import annotations

import math

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

import experiment_folder as fmt

from .base import DIVERGED, STABLE, axes, spans_decades


def plot_learning_curves(
    curves: pd.DataFrame,
    metric_pairs: tuple[tuple[str, str], ...] = (("loss", "val_loss"), ("train_acc", "val_acc")),
) -> Figure | None:
    """Train (solid) vs validation (dashed) per epoch for each of the best trials; a panel
    per pair the trials report, a loss axis on a log scale when it spans decades. None
    when no pair is there (the regressions report no validation split): no empty axes."""
    pairs = [p for p in metric_pairs if p[0] in curves and p[1] in curves]
    if not pairs or curves.empty:
        return None
    fig, axes = plt.subplots(
        1, len(pairs), figsize=(6.4 * len(pairs), 4.2), layout="constrained", squeeze=False
    )
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, (train, val) in zip(axes[0], pairs):
        for i, (trial, frame) in enumerate(curves.groupby("trial_id", sort=False)):
            c = colors[i % len(colors)]
            ax.plot(frame["epoch"], frame[train], color=c, label=f"{trial} {train}")
            ax.plot(frame["epoch"], frame[val], color=c, linestyle="--", label=f"{trial} {val}")
        if "loss" in train and spans_decades(pd.concat([curves[train], curves[val]])):
            ax.set_yscale("log")
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
        ax.set_ylabel(train.replace("train_", "").replace("_", " "))
        ax.set_title(f"{train} (solid) vs {val} (dashed)")
        ax.legend(fontsize="x-small", ncol=2)
    fig.suptitle("Learning curves of the best trials")
    return fig


def plot_history(
    history: pd.DataFrame, metric: str, mode: str = "max", ax: Axes | None = None
) -> Axes:
    """Each trial's objective in start order, and the best so far. The scale is set by
    the trials that trained: diverged trials and invalid proposals (given the worst
    value, 1e20 say) are marked at the edge of the worse side, off the scale."""
    ax = axes(ax)
    diverged = history["status"] == fmt.DIVERGED
    invalid = history["status"] == fmt.INVALID
    good = ~(diverged | invalid)
    ax.scatter(
        history.loc[good, "order"], history.loc[good, "value"], s=18, color=STABLE, label="trial"
    )
    finite = history.loc[good, "value"]
    best = history["best_so_far"].where(history["best_so_far"].isin(finite))
    ax.step(history["order"], best, where="post", color="black", label="best so far")
    if spans_decades(finite):
        ax.set_yscale("log")
    edge = 1.0 if mode == "min" else 0.0  # the worse side, in axes coordinates
    for mask, marker, color, label in (
        (diverged, "x", DIVERGED, "diverged (off the scale)"),
        (invalid, "v", "#7f7f7f", "invalid (off the scale)"),
    ):
        if mask.any():
            ax.scatter(
                history.loc[mask, "order"],
                [edge] * int(mask.sum()),
                s=30,
                marker=marker,
                color=color,
                label=label,
                transform=ax.get_xaxis_transform(),  # x in data, y in axes coordinates
                clip_on=False,
                zorder=3,
            )
    ax.set_xlabel("trial (in start order)")
    ax.set_ylabel(metric)
    ax.set_title("Optimisation history")
    ax.legend(fontsize="small")
    return ax


def plot_parallel(frame: pd.DataFrame, metric: str, ax: Axes | None = None) -> Axes:
    """Parallel coordinates of the searched parameters (scaled 0-1), coloured by the metric."""
    ax = axes(ax, (8, 4.2))
    params = [c for c in frame.columns if c != "metric"]
    norm = matplotlib.colors.Normalize(frame["metric"].min(), frame["metric"].max())
    cmap = matplotlib.colormaps["viridis"]
    for _, row in frame.sort_values("metric").iterrows():
        ax.plot(
            range(len(params)),
            row[params].to_numpy(float),
            color=cmap(norm(row["metric"])),
            alpha=0.8,
        )
    ax.set_xticks(range(len(params)), params)
    ax.set_ylabel("value, scaled to [0, 1] (log for log-uniform)")
    ax.set_title("Parallel coordinates of the searched parameters")
    ax.figure.colorbar(matplotlib.cm.ScalarMappable(norm=norm, cmap=cmap), ax=ax, label=metric)
    return ax


def plot_effects(effects: dict[str, pd.DataFrame], metric: str, title: str) -> Figure:
    """One panel per parameter: the mean with its 95 % interval and the best metric per
    value or bin (points, not bars from zero, so small differences stay visible)."""
    n = len(effects)
    cols = min(n, 3)
    rows = math.ceil(n / cols)
    width = max(4.2, 0.45 * max(len(t) for t in effects.values())) if n == 1 else 4.2
    fig, axes = plt.subplots(
        rows, cols, figsize=(width * cols, 3.4 * rows), layout="constrained", squeeze=False
    )
    for ax, (param, table) in zip(axes.flat, effects.items()):
        x = np.arange(len(table))
        mean = table[f"mean {metric}"].astype(float)
        below = (mean - table["95% CI low"].astype(float)).clip(lower=0).fillna(0)
        above = (table["95% CI high"].astype(float) - mean).clip(lower=0).fillna(0)
        ax.errorbar(
            x, mean, yerr=[below, above], fmt="s", color=STABLE, capsize=3, label="mean, 95% CI"
        )
        ax.plot(x, table[f"best {metric}"], "o", mfc="none", color="black", label="best")
        ax.set_xlim(-0.5, len(x) - 0.5)
        # The axis follows the points; an interval from two or three trials can run far
        # past them (a t interval at n = 2 is wide) and is cut at the frame, not the data.
        points = pd.concat([mean, table[f"best {metric}"].astype(float)]).dropna()
        if len(points):
            low, high = float(points.min()), float(points.max())
            pad = 0.15 * (high - low) or 0.05 * (abs(high) or 1.0)
            ax.set_ylim(low - pad, high + pad)
        ax.set_xticks(x, table.index, rotation=30, ha="right", fontsize="small")
        ax.set_title(param)
        ax.set_ylabel(metric)
    for ax in list(axes.flat)[n:]:
        ax.set_visible(False)
    axes.flat[0].legend(fontsize="small")
    fig.suptitle(title)
    return fig


def plot_importance(table: pd.DataFrame, ax: Axes | None = None) -> Axes:
    """fANOVA importance per parameter, with the 5-95 % range over bootstrap refits."""
    ax = axes(ax, (6.4, 0.8 + 0.45 * len(table)))
    rows = table.iloc[::-1]
    value = rows["importance"].astype(float)
    err = None
    if {"5%", "95%"} <= set(rows.columns):
        err = [
            (value - rows["5%"].astype(float)).clip(lower=0),
            (rows["95%"].astype(float) - value).clip(lower=0),
        ]
    ax.barh([str(i) for i in rows.index], value, xerr=err, capsize=3, color=STABLE)
    ax.set_xlabel("fANOVA importance (share of variance), 5-95% over bootstrap refits")
    ax.set_title("Parameter importance among trials that trained")
    return ax
