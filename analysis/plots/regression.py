"""The regressions' and stability's figures: loss against lr, the brute-force curve,
the loss surface, the lr range test, and the networks' fitted stability map.
"""

from __future__ import annotations

import math
from typing import Any

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.axes import Axes

from ..tables.exact import Surface
from .base import DIVERGED, STABLE, axes, legend_below, spans_decades


def plot_lr_loss(
    points: pd.DataFrame,
    boundary_lr: float | None = None,
    intervals: pd.DataFrame | None = None,
    floor: float | None = None,
    ax: Axes | None = None,
) -> Axes:
    """Final loss vs lr (log x); diverged trials as red crosses pinned to the top edge;
    the exact stable intervals and the least-squares floor (regressions) drawn."""
    ax = axes(ax)
    for i, (a, b) in enumerate(intervals.itertuples(index=False) if intervals is not None else []):
        ax.axvspan(
            a, b, color="#2ca02c", alpha=0.12, label="stable (exact theory)" if i == 0 else None
        )
    stable, bad = points[~points["diverged"]], points[points["diverged"]]
    ax.scatter(stable["lr"], stable["loss"], color=STABLE, s=22, label="trained (final loss)")
    if spans_decades(stable["loss"][stable["loss"] > 0]):
        ax.set_yscale("log")
    ax.set_xscale("log")
    if len(bad):
        top = ax.get_ylim()[1]
        ax.scatter(
            bad["lr"],
            [top] * len(bad),
            color=DIVERGED,
            marker="x",
            s=50,
            clip_on=False,
            label="diverged (nan/inf)",
            zorder=3,
        )
        ax.set_ylim(top=top)
    if floor is not None and math.isfinite(floor) and floor > 0:
        ax.axhline(floor, color="#2ca02c", linestyle=":", label=f"least-squares floor {floor:.3g}")
    if boundary_lr is not None and math.isfinite(boundary_lr):
        ax.axvline(
            boundary_lr,
            color="grey",
            linestyle="--",
            label=f"stability boundary ≈ {boundary_lr:.3g}",
        )
    ax.set_xlabel("learning rate (log scale)")
    ax.set_ylabel("final training loss")
    ax.set_title("Final loss vs learning rate: where SGD blows up")
    legend_below(ax)  # diverged trials sit on the top edge, where a legend would hide them
    return ax


def plot_brute_force(curve: pd.DataFrame, ax: Axes | None = None) -> Axes:
    """MSE vs w, as the seed's plt.plot(w_list, mse_list), with the minimum marked."""
    ax = axes(ax)
    ax.plot(curve["w"], curve["mse"], marker=".", color=STABLE)
    best = curve.loc[curve["mse"].idxmin()]
    ax.scatter(
        [best["w"]],
        [best["mse"]],
        color=DIVERGED,
        zorder=3,
        label=f"minimum: w = {best['w']:.3g}, MSE = {best['mse']:.3g}",
    )
    ax.set_xlabel("w")
    ax.set_ylabel("mean squared error")
    ax.set_title("Brute force: MSE of y = w·x over a grid of w")
    ax.legend(fontsize="small")
    return ax


def plot_surface(surface: Surface, ax: Axes | None = None) -> Axes:
    """Filled contours of the MSE over the w × b meshgrid, minimum marked."""
    ax = axes(ax)
    levels = (
        np.geomspace(max(np.nanmin(surface.mse), 1e-3), np.nanmax(surface.mse), 15)
        if np.nanmax(surface.mse) > 0
        else 10
    )
    filled = ax.contourf(
        surface.w,
        surface.b,
        np.maximum(surface.mse, 1e-3),
        levels=levels,
        cmap="viridis",
        norm=matplotlib.colors.LogNorm(),
    )
    # Plain tick labels: with mathtext off (literal_text) log ticks would show as TeX.
    ax.figure.colorbar(
        filled,
        ax=ax,
        label="MSE (log scale)",
        format=matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:.3g}"),
    )
    w, b, mse = surface.minimum
    ax.scatter(
        [w],
        [b],
        color="white",
        edgecolor="black",
        zorder=3,
        label=f"minimum: w = {w:.3g}, b = {b:.3g}, MSE = {mse:.3g}",
    )
    ax.set_xlabel("w")
    ax.set_ylabel("b")
    ax.set_title("Loss surface of y = w·x + b")
    ax.legend(fontsize="small", loc="upper right")
    return ax


def plot_lr_range(curves: pd.DataFrame, summary: pd.DataFrame, ax: Axes | None = None) -> Axes:
    """The lr range test: smoothed loss against lr (log x) per trial, where it blew up
    (x) and the suggested lr (o)."""
    ax = axes(ax)
    labels = summary.set_index("trial_id")
    params = [c for c in summary.columns if c not in ("trial_id", "diverged_lr", "suggested_lr")]
    for trial_id, curve in curves.groupby("trial_id", sort=False):
        row = labels.loc[trial_id] if trial_id in labels.index else None
        name = (
            ", ".join(f"{p}={row[p]}" for p in params) if row is not None and params else trial_id
        )
        (line,) = ax.plot(curve["lr"], curve["smoothed_loss"], label=str(name))
        if row is None:
            continue
        for key, marker in (("suggested_lr", "o"), ("diverged_lr", "x")):
            value = row.get(key)
            if value is not None and value == value:
                y = float(np.interp(np.log(value), np.log(curve["lr"]), curve["smoothed_loss"]))
                ax.scatter([value], [y], marker=marker, s=60, color=line.get_color(), zorder=3)
    ax.set_xscale("log")
    low = curves["smoothed_loss"].min()
    if low > 0 and curves["smoothed_loss"].max() / low > 10:
        ax.set_yscale("log")
    ax.set_xlabel("learning rate (log scale), growing per batch")
    ax.set_ylabel("smoothed training loss")
    ax.set_title("LR range test: o suggested lr, x where the loss blew up")
    ax.legend(fontsize="small")
    return ax


def plot_stability_map(fit: Any, ax: Axes | None = None) -> Axes:
    """Trials in lr × momentum (or batch size), coloured by outcome, with the fitted
    boundary (lr at 50 % divergence risk) drawn through them."""
    from ..tables.divergence_fit import boundary_curve

    ax = axes(ax)
    points = fit.points
    mover = "momentum" if "momentum" in points else "batch_size" if "batch_size" in points else None
    y = points[mover] if mover else pd.Series(0.0, index=points.index)
    bad = points["diverged"] == 1
    ax.scatter(points.loc[~bad, "lr"], y[~bad], color=STABLE, s=22, label="trained")
    ax.scatter(points.loc[bad, "lr"], y[bad], color=DIVERGED, marker="x", s=40, label="diverged")
    levels = np.linspace(float(y.min()), float(y.max()), 50) if mover else np.array([0.0])
    if mover:
        lr = boundary_curve(fit, mover, levels)
        ax.plot(lr, levels, color="black", label="fitted lr at 50 % risk")
    else:
        ax.axvline(boundary_curve(fit, "momentum", levels)[0], color="black", label="fitted lr_50")
    ax.set_xscale("log")
    if mover == "batch_size":
        ax.set_yscale("log", base=2)
    ax.set_xlabel("learning rate (log scale)")
    ax.set_ylabel(mover or "")
    ax.set_title("Stability map: where training diverges")
    legend_below(ax)
    return ax
