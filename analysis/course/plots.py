"""The course page's own figures (regressions.py and networks.py compute what they
draw; analysis/plots has the ones the course shares with the reports)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.axes import Axes

from ..plots import DIVERGED, STABLE, plot_surface
from ..plots.base import axes
from ..tables.exact import Surface

LOG_FLOOR = 1e-15


def plot_meshgrid(surface: Surface, ax: Axes | None = None) -> Axes:
    """The loss surface with the meshgrid's points drawn as the note draws them
    (``plt.plot(X, Y, marker='.', linestyle='')``)."""
    ax = plot_surface(surface, ax)
    ax.plot(surface.w, surface.b, marker=".", linestyle="", color="limegreen", markersize=2)
    ax.set_title("Loss of y = w·x + b over the meshgrid of (w, b)")
    return ax


def plot_param_curves(
    curves: pd.DataFrame, params: tuple[str, ...], targets: dict[str, float]
) -> Axes:
    """Each parameter over the epochs, one line per lr, with the value the note expects
    as a dashed line; epochs on a log scale when they run into the thousands."""
    _, axes = _subplots(len(params))
    for ax, param in zip(axes, params):
        for lr, group in curves.groupby("lr"):
            ax.plot(group["epoch"], group[param], label=f"lr = {lr:g}")
        ax.axhline(
            targets[param],
            color="black",
            linestyle="--",
            linewidth=0.8,
            label=f"{param} = {targets[param]:g}",
        )
        if not curves.empty and curves["epoch"].max() >= 1000:
            ax.set_xscale("log")
        ax.set_xlabel("epoch")
        ax.set_ylabel(param)
        ax.set_title(f"{param} over the epochs")
        ax.legend(fontsize="small")
    return axes[0]


def plot_reduction(final: pd.DataFrame, limits: pd.DataFrame, ax: Axes | None = None) -> Axes:
    """Final MSE against lr for each reduction, diverged trials marked, each reduction's
    exact stability limit as a vertical line."""
    ax = axes(ax)
    colours = dict(zip(limits.index, (STABLE, "#ff7f0e", "#2ca02c")))
    for reduction, group in final.groupby("reduction", sort=False):
        colour = colours.get(reduction, "grey")
        trained = group[~group["diverged"]]
        # An exact fit's MSE of 0 has no place on a log axis: drawn at LOG_FLOOR.
        trained = trained.assign(loss=trained["loss"].clip(lower=LOG_FLOOR))
        ax.plot(
            trained["lr"],
            trained["loss"],
            marker="o",
            color=colour,
            label=f"reduction='{reduction}'",
        )
        bad = group[group["diverged"]]
        # Diverged trials have no final loss: marked along the top, at their lr.
        ax.scatter(
            bad["lr"],
            np.full(len(bad), 0.97),
            marker="x",
            color=DIVERGED,
            zorder=3,
            transform=ax.get_xaxis_transform(),
        )
        ax.axvline(
            limits.loc[reduction, "exact_limit"],
            color=colour,
            linestyle="--",
            linewidth=0.9,
            label=f"exact limit, '{reduction}'",
        )
    ax.scatter([], [], marker="x", color=DIVERGED, label="diverged")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("learning rate")
    ax.set_ylabel(f"final MSE (0 drawn at {LOG_FLOOR:g})")
    ax.set_title("nn.Linear + SGD: where each reduction stops being stable")
    ax.legend(fontsize="small")
    return ax


def plot_settings(frame: pd.DataFrame, note: tuple[float, float], ax: Axes | None = None) -> Axes:
    """Mean test accuracy (with each seed as a dot) per (lr, momentum), the note's
    setting marked."""
    ax = axes(ax, (7, 4.2))
    settings = sorted({(float(a), float(b)) for a, b in zip(frame["lr"], frame["momentum"])})
    for x, (lr, momentum) in enumerate(settings):
        rows = frame[np.isclose(frame["lr"], lr) & np.isclose(frame["momentum"], momentum)]
        is_note = np.isclose(lr, note[0]) and np.isclose(momentum, note[1])
        colour = DIVERGED if is_note else STABLE
        ax.scatter(np.full(len(rows), x), rows["test_acc"], color=colour, alpha=0.5, s=12)
        ax.scatter([x], [rows["test_acc"].mean()], color=colour, marker="_", s=400)
    ax.set_xticks(
        range(len(settings)), [f"lr {a:g}\nm {b:g}" for a, b in settings], fontsize="small"
    )
    ax.scatter([], [], color=DIVERGED, label="the note's settings")
    ax.scatter([], [], color=STABLE, label="the grid's others")
    ax.set_ylabel("test accuracy (dots: seeds; bar: mean)")
    ax.set_title("The MLP's test accuracy by lr and momentum")
    ax.legend(fontsize="small")
    return ax


def plot_conv_check(check: pd.DataFrame, ax: Axes | None = None) -> Axes:
    """Each Conv2d's output size as the formula and the note's in − k + 1 give it,
    against the size real torch layers produced: the formula on the diagonal."""
    ax = axes(ax)
    measured, formula, simple = [], [], []
    for row in check.itertuples():
        real = eval_list(row.measured)
        measured += real
        formula += eval_list(row.formula)
        simple += eval_list(row.note_formula)
    ax.scatter(measured, formula, color=STABLE, label="floor((in + 2p − d(k − 1) − 1) / s) + 1")
    ax.scatter(measured, simple, color=DIVERGED, marker="x", label="the note's in − k + 1")
    top = max([*measured, *formula, *simple, 1])
    ax.plot([0, top], [0, top], color="black", linewidth=0.8, linestyle="--")
    ax.set_xlabel("output size from real torch layers")
    ax.set_ylabel("output size from the formula")
    ax.set_title(f"Conv2d output sizes, {len(check)} configurations")
    ax.legend(fontsize="small")
    return ax


def eval_list(text: str) -> list[int]:
    """A size list as course.py wrote it ('[24, 8]')."""
    return [int(v) for v in str(text).strip("[]").split(",") if v.strip()]


def _subplots(n: int) -> tuple[object, list[Axes]]:
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, n, figsize=(6.4 * n if n > 1 else 6.4, 4.2), layout="constrained")
    return fig, list(np.atleast_1d(axes))
