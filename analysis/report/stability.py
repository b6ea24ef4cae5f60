"""The report's stability section: where training blows up against lr, with the exact
theory of the regressions, their least-squares floor, the bracket between stable and
diverging trials, and the networks' fitted boundary where the data carry one.
"""

from __future__ import annotations

import logging
from typing import Any

import pandas as pd

from .. import plots, tables
from ..load import Experiment
from .page import Section, fmt_value

log = logging.getLogger(__name__)


def divergence(exp: Experiment) -> Section | None:
    points = tables.lr_points(exp)
    if points.empty:
        return None
    network = exp.spec.get("trainable") in ("mnist_mlp", "mnist_cnn")
    fit = tables.stability_map(exp) if network else None  # 200 refits: fitted once
    bounds = tables.stability_boundary(exp, fit)
    section = Section("Learning rate and divergence")
    overall = tables.boundary(points["lr"], points["diverged"])
    if overall["diverged"]:
        section.findings.append(_boundary_finding(overall, bounds))
    section.text.append(
        f"{overall['diverged']} of {len(points)} trials diverged (loss, weights or gradients "
        f"reached nan/inf or passed 1e20). Largest stable lr: "
        f"{fmt_value(overall['largest_stable_lr'])}; smallest diverging lr: "
        f"{fmt_value(overall['smallest_diverged_lr'])}."
        if overall["diverged"]
        else f"None of the {len(points)} trials diverged, up to lr = "
        f"{fmt_value(float(points['lr'].max()))}, the largest tried."
    )
    exact = tables.stable_intervals(exp)
    if not exact.empty:
        spans = ", ".join(
            f"{fmt_value(a)} … {fmt_value(b)}" for a, b in exact.itertuples(index=False)
        )
        section.findings.append(f"Exact theory: the stable learning rates are {spans}.")
        pockets = " (more than one interval: stable pockets above the first limit)"
        section.text.append(
            "Exact theory: one epoch multiplies the distance to the fixed point by "
            "P(lr) = Π (1 − 2·lr·x²) (a 2×2 product for y = w·x + b), and training "
            f"diverges where its size passes 1. Stable learning rates here: {spans}"
            + (pockets + "." if len(exact) > 1 else ".")
        )
        section.tables.append(("stable_intervals", exact))
        agreement = tables.stability_agreement(exp, exact)
        if not agreement.empty:
            differ = agreement[~agreement["agrees"]]
            section.text.append(
                f"{int(agreement['agrees'].sum())} of {len(agreement)} trials ended as the "
                "theory predicts"
                + (
                    "; the others: "
                    + "; ".join(f"lr {fmt_value(r.lr)} {r.why}" for r in differ.itertuples())
                    + "."
                    if len(differ)
                    else "."
                )
            )
            section.tables.append(("stability_agreement", agreement))
    elif not bounds.empty:
        section.tables.append(("stability_boundary", bounds.set_index("group")))
        if fit is not None:
            _fitted_map(fit, section)
    floor = tables.loss_floor(exp)
    if floor is not None:
        points = points.assign(excess_loss=points["loss"] - floor["loss"])
        section.findings.append(_floor_finding(floor, points))
        section.text.append(
            f"No trial can reach a loss below {fmt_value(floor['loss'])}: the least-squares fit "
            f"on this data (w = {fmt_value(floor['w'])}"
            + (f", b = {fmt_value(floor['b'])}" if floor["b"] else "")
            + "), drawn as a line; the excess_loss column gives each trial's loss above it."
        )
    section.tables.append(("lr_vs_loss", points))
    est = overall["boundary_lr"] if overall["diverged"] and exact.empty else None
    figure = plots.plot_lr_loss(
        points, est, exact if not exact.empty else None, floor["loss"] if floor else None
    )
    section.figures.append(("lr_vs_loss", plots.figure_of(figure)))
    return section


def _floor_finding(floor: dict[str, Any], points: pd.DataFrame) -> str:
    """What limits the loss: the least-squares floor, and how close the best trial came."""
    trained = points[~points["diverged"]]
    why = " (the outlier y = 1000 puts it there)" if floor.get("data") == "outlier" else ""
    fit = f"w = {fmt_value(floor['w'])}" + (f", b = {fmt_value(floor['b'])}" if floor["b"] else "")
    line = f"The smallest possible MSE on this data is {fmt_value(floor['loss'])}, at {fit}{why}"
    if len(trained):
        line += f"; the best trial is {fmt_value(float(trained['excess_loss'].min()))} above it"
    return line + "."


def _boundary_finding(overall: dict[str, Any], bounds: pd.DataFrame) -> str:
    """The stability headline, agreeing with the table under it: per group (momentum,
    batch size) where the boundary is given per group; for all trials only where one lr
    separates the stable from the diverging; else that lr alone does not decide."""
    per_group = (
        not bounds.empty and len(bounds) > 1 and str(bounds["group"].iloc[0]) != "all trials"
    )
    if per_group:
        parts = []
        for row in bounds.itertuples(index=False):
            if row.diverged and row.stable:
                parts.append(
                    f"{row.group}: trained up to lr = {fmt_value(row.largest_stable_lr)}, diverged "
                    f"from {fmt_value(row.smallest_diverged_lr)}"
                )
            elif row.diverged:
                parts.append(f"{row.group}: every trial diverged")
            else:
                parts.append(f"{row.group}: none diverged")
        key = str(bounds["group"].iloc[0]).split("=")[0]
        return f"Stability boundary by {key}: " + "; ".join(parts) + "."
    stable, bad = overall["largest_stable_lr"], overall["smallest_diverged_lr"]
    if not stable < bad:
        return (
            f"No single lr separates the trials: one trained at lr = {fmt_value(stable)}, one "
            f"diverged at lr = {fmt_value(bad)}; something besides lr decides divergence here."
        )
    return (
        f"Stability boundary: SGD trained up to lr = {fmt_value(stable)} and diverged from "
        f"lr = {fmt_value(bad)} on."
    )


def _fitted_map(fit: Any, section: Section) -> None:
    """The networks' fitted divergence risk: lr_50 per level, the map, the (1 + β) check."""
    from ..tables.divergence_fit import momentum_check

    if not fit.fitted:
        section.text.append(f"Fitted stability map: {fit.reason}.")
        return
    from ..tables.divergence_fit import BOOTSTRAP

    used = len(fit.boot) if fit.boot is not None else 0
    left = "; ".join(f"{n} with {why}" for why, n in fit.dropped.items())
    diverged = int(fit.points["diverged"].sum())
    section.text.append(
        "Fitted stability map: the probability of divergence as a logistic function of "
        f"log10(lr){''.join(', ' + f for f in fit.features[1:])}, fitted on the trials "
        "(scikit-learn); lr_50 is the lr at 50 % risk, with a 95 % percentile interval "
        f"from {used} of {BOOTSTRAP} bootstrap refits"
        + (f" (left out: {left})" if left else "")
        + f". The fit puts {100 * fit.share_diverging:.0f} % of the searched range "
        f"above 50 % risk; {diverged} of {len(fit.points)} trials "
        f"({100 * diverged / len(fit.points):.0f} %) diverged."
    )
    check = momentum_check(fit)
    if check:
        section.text.append(check)
    section.figures.append(("stability_map", plots.figure_of(plots.plot_stability_map(fit))))
