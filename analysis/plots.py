"""Draw from computed data: each ``plot_*(data, ax=None) -> Axes`` takes what tables.py made.

Non-interactive (Agg) backend; nothing here calls ``plt.show()``.
"""

from __future__ import annotations

import math
from typing import Any

import matplotlib
import matplotlib.ticker

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

import experiment_folder as fmt

from .tables import Surface


def literal_text() -> Any:
    """A context in which labels are drawn literally: a '$' in a variant name is text,
    not mathtext (which fails on '$x' and would end the report). Figures are made in it."""
    return plt.rc_context({"text.parse_math": False})


DIVERGED = "#d62728"
STABLE = "#1f77b4"


def _axes(ax: Axes | None, size: tuple[float, float] = (6.4, 4.2)) -> Axes:
    if ax is not None:
        return ax
    _, new = plt.subplots(figsize=size, layout="constrained")
    return new


def plot_lr_loss(
    points: pd.DataFrame,
    boundary_lr: float | None = None,
    intervals: pd.DataFrame | None = None,
    floor: float | None = None,
    ax: Axes | None = None,
) -> Axes:
    """Final loss vs lr (log x); diverged trials as red crosses pinned to the top edge;
    the exact stable intervals and the least-squares floor (regressions) drawn."""
    ax = _axes(ax)
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
    _legend_below(ax)  # diverged trials sit on the top edge, where a legend would hide them
    return ax


def _legend_below(ax: Axes) -> None:
    """The legend under the axes, where it hides no point (markers pinned to an edge)."""
    ax.legend(
        loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=3, fontsize="small", frameon=False
    )


def plot_brute_force(curve: pd.DataFrame, ax: Axes | None = None) -> Axes:
    """MSE vs w, as the seed's plt.plot(w_list, mse_list), with the minimum marked."""
    ax = _axes(ax)
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
    ax = _axes(ax)
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


def spans_decades(values: Any, ratio: float = 100.0) -> bool:
    """Whether positive values span more than ``ratio`` (two decades): a log axis then."""
    v = pd.to_numeric(pd.Series(values), errors="coerce").dropna()
    return bool(len(v)) and bool((v > 0).all()) and float(v.max() / v.min()) > ratio


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
    ax = _axes(ax)
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
    ax = _axes(ax, (8, 4.2))
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
    ax = _axes(ax, (7, 1.2 + 0.28 * len(table) * len(measures)))
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
    ax = _axes(ax)
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
    ax = _axes(ax, (6.4, 0.8 + 0.45 * len(table)))
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


def plot_lr_range(curves: pd.DataFrame, summary: pd.DataFrame, ax: Axes | None = None) -> Axes:
    """The lr range test: smoothed loss against lr (log x) per trial, where it blew up
    (x) and the suggested lr (o)."""
    ax = _axes(ax)
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
    from .stability_map import boundary_curve

    ax = _axes(ax)
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
    _legend_below(ax)
    return ax


def figure_of(drawn: Any) -> Figure:
    """The Figure of an Axes or Figure."""
    return drawn if isinstance(drawn, Figure) else drawn.figure


def has_data(fig: Figure) -> bool:
    """Whether any of the figure's axes draws something (a line, points, bars, an image)."""
    return any(ax.lines or ax.collections or ax.patches or ax.images for ax in fig.get_axes())
