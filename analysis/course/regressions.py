"""The course's regression chapters measured (§2 to §5.4): the brute force, the loss
surface, SGD on y = w·x, divergence, SGD on y = w·x + b, and nn.Linear's reduction,
each against the exact answer (the grid's minimum, the least-squares fit,
trainables.stable_lrs).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from .. import plots, tables
from ..errors import AnalysisError
from ..load import Experiment
from ..report import fmt_value as fmt
from . import plots as course_plots
from .verdicts import (
    CONFIRMED,
    CONTRADICTED,
    NEAR,
    NOT_SETTLED,
    REFINED,
    Measured,
    final_rows,
    grid_verdict,
    near,
    note_row,
    param_curves,
    point_count,
    spec_config,
)


def measure_brute_force(exp: Experiment) -> Measured:
    curve = tables.brute_force_curve(exp)
    if curve.empty:
        raise AnalysisError("no grid over w in this study")
    best = curve.loc[curve["mse"].idxmin()]
    w, mse = float(best["w"]), float(best["mse"])
    answer = [
        f"Over {len(curve)} values of w from {fmt(curve['w'].min())} to "
        f"{fmt(curve['w'].max())}, the smallest MSE is {fmt(mse)}, at w = {fmt(w)}."
    ]
    verdict, reason = grid_verdict({"w": (w, 2.0, curve["w"])}, mse)
    figure = plots.figure_of(plots.plot_brute_force(curve))
    return Measured(answer, verdict, reason, [("mse_vs_w", figure)], [("mse_vs_w", curve)])


def measure_surface(exp: Experiment) -> Measured:
    surface = tables.loss_surface(exp)
    if surface is None:
        raise AnalysisError("no w × b grid in this study")
    w, b, mse = surface.minimum
    floor = tables.data_floor("linear_wb", {**spec_config(exp), "impl": "manual"})
    answer = [
        f"On the {surface.w.shape[1]} × {surface.w.shape[0]} meshgrid of (w, b), the "
        f"smallest MSE is {fmt(mse)}, at w = {fmt(w)}, b = {fmt(b)}.",
        f"The exact least-squares fit on the same points is w = {fmt(floor['w'])}, "
        f"b = {fmt(floor['b'])}.",
    ]
    verdict, reason = grid_verdict(
        {"w": (w, 2.0, surface.w.ravel()), "b": (b, 0.5, surface.b.ravel())}, mse
    )
    figure = plots.figure_of(course_plots.plot_meshgrid(surface))
    return Measured(answer, verdict, reason, [("loss_surface", figure)])


def measure_sgd_w(exp: Experiment) -> Measured:
    final = final_rows(exp, ("w", "loss"))
    note = note_row(final, "lr", 0.01)
    answer = [
        "After "
        + fmt(spec_config(exp).get("epochs", "?"))
        + " epochs from w = "
        + fmt(spec_config(exp).get("w0", 1.0))
        + ": "
        + "; ".join(f"lr {fmt(r.lr)}: w = {fmt(r.w)}" for r in final.itertuples())
        + "."
    ]
    gap = abs(float(note["w"]) - 2)
    slow = final[(final["w"] - 2).abs() >= NEAR]
    if gap < NEAR:
        verdict, reason = (
            CONFIRMED,
            f"at the note's lr {fmt(note['lr'])}, w = {near(note['w'], 2.0)}",
        )
        if len(slow):
            reason += (
                f"; at lr {', '.join(fmt(v) for v in slow['lr'])} the same epochs leave w "
                f"{', '.join(fmt(v) for v in slow['w'])}"
            )
    else:
        verdict = CONTRADICTED
        reason = f"at the note's lr {fmt(note['lr'])}, w = {near(note['w'], 2.0)}"
    curves = param_curves(exp, ("w",))
    figure = plots.figure_of(course_plots.plot_param_curves(curves, ("w",), {"w": 2.0}))
    return Measured(answer, verdict, reason, [("w_over_epochs", figure)], [("final_w", final)])


def measure_divergence(exp: Experiment) -> Measured:
    points = tables.lr_points(exp)
    exact = tables.stable_intervals(exp)
    if points.empty or exact.empty:
        raise AnalysisError("no lr sweep of a regression with an exact theory in this study")
    agreement = tables.stability_agreement(exp, exact)
    spans = ", ".join(f"{fmt(a)} … {fmt(b)}" for a, b in exact.itertuples(index=False))
    diverged = int(points["diverged"].sum())
    answer = [
        f"{diverged} of {len(points)} trials diverged, from lr {fmt(points['lr'].min())} to "
        f"{fmt(points['lr'].max())}.",
        f"Exact theory (the spectral radius of one epoch's map): the stable learning rates "
        f"in that range are {spans}.",
    ]
    if not agreement.empty:
        answer.append(
            f"{int(agreement['agrees'].sum())} of {len(agreement)} trials ended as the theory "
            "predicts."
        )
    first_limit = float(exact["stable_to"].iloc[0])
    pockets = exact.iloc[1:]
    if len(pockets):
        inside = points[
            np.logical_or.reduce(
                [
                    (points["lr"] >= a) & (points["lr"] <= b)
                    for a, b in pockets.itertuples(index=False)
                ]
            )
        ]
        if len(inside):
            answer.append(
                f"{len(inside)} trial(s) landed in a stable pocket above the first limit; "
                f"{int((~inside['diverged']).sum())} of them trained."
            )
        verdict = REFINED
        reason = (
            f"'too large' is not one threshold: SGD is stable below lr = {fmt(first_limit)}, "
            f"unstable above it, and stable again on {len(pockets)} pocket(s) above "
            f"({', '.join(f'{fmt(a)} … {fmt(b)}' for a, b in pockets.itertuples(index=False))})"
        )
    elif diverged:
        verdict = CONFIRMED
        reason = f"SGD diverges above one limit, lr = {fmt(first_limit)}, and trains below it"
    else:
        verdict = NOT_SETTLED
        reason = "no trial reached an unstable lr"
    floor = tables.loss_floor(exp)
    figure = plots.figure_of(
        plots.plot_lr_loss(points, None, exact, floor["loss"] if floor else None)
    )
    return Measured(
        answer, verdict, reason, [("lr_vs_loss", figure)], [("stable_intervals", exact)]
    )


def measure_wb_sgd(exp: Experiment) -> Measured:
    final = final_rows(exp, ("w", "b", "loss"))
    floor = tables.loss_floor(exp) or {"w": math.nan, "b": math.nan}
    note = note_row(final, "lr", 0.001)
    epochs = fmt(spec_config(exp).get("epochs", "?"))
    answer = [
        f"After {epochs} epochs from (w, b) = ({fmt(spec_config(exp).get('w0', 1.0))}, "
        f"{fmt(spec_config(exp).get('b0', 1.0))}): "
        + "; ".join(f"lr {fmt(r.lr)}: w = {fmt(r.w)}, b = {fmt(r.b)}" for r in final.itertuples())
        + ".",
        f"The exact least-squares fit on these points is w = {fmt(floor['w'])}, "
        f"b = {fmt(floor['b'])}.",
    ]
    w, b = float(note["w"]), float(note["b"])
    if abs(w - 2) < NEAR and abs(b - 0.5) < NEAR:
        verdict = CONFIRMED
        reason = f"at the note's lr {fmt(note['lr'])}: w = {near(w, 2.0)}, b = {near(b, 0.5)}"
    else:
        verdict = CONTRADICTED
        reason = f"at the note's lr {fmt(note['lr'])} SGD ends at w = {fmt(w)}, b = {fmt(b)}"
        reached = final[((final["w"] - 2).abs() < NEAR) & ((final["b"] - 0.5).abs() < NEAR)]
        if len(reached):
            verdict = REFINED
            reason += f"; lr {', '.join(fmt(v) for v in reached['lr'])} gets to (2, 0.5)"
    curves = param_curves(exp, ("w", "b"))
    figure = plots.figure_of(
        course_plots.plot_param_curves(curves, ("w", "b"), {"w": 2.0, "b": 0.5})
    )
    return Measured(answer, verdict, reason, [("w_b_over_epochs", figure)], [("final_w_b", final)])


def measure_reduction(exp: Experiment) -> Measured:
    from trainables import stable_lrs

    final = final_rows(exp, ("w", "b", "loss", "diverged"), by_reduction=True)
    config = {k: v for k, v in spec_config(exp).items() if k not in ("lr", "reduction")}
    low, high = float(final["lr"].min()) / 10, float(final["lr"].max()) * 10
    rows = []
    for reduction, group in final.groupby("reduction", sort=False):
        spans = stable_lrs("linear_wb", {**config, "reduction": reduction}, low, high)
        limit = spans[0][1] if spans and spans[0][0] == low else 0.0
        trained = group[~group["diverged"].astype(bool)]
        bad = group[group["diverged"].astype(bool)]
        rows.append(
            {
                "reduction": reduction,
                "exact_limit": limit,
                "largest_trained": float(trained["lr"].max()) if len(trained) else math.nan,
                "smallest_diverged": float(bad["lr"].min()) if len(bad) else math.nan,
                "agree": int(((group["lr"] < limit) != group["diverged"].astype(bool)).sum()),
                "trials": len(group),
            }
        )
    limits = pd.DataFrame(rows).set_index("reduction")
    answer = [
        f"With reduction='{r}', SGD is stable up to lr = {fmt(row['exact_limit'])} "
        f"(exact); the trials trained up to {fmt(row['largest_trained'])} and diverged "
        f"from {fmt(row['smallest_diverged'])} ({int(row['agree'])} of "
        f"{int(row['trials'])} as the theory predicts)."
        for r, row in limits.iterrows()
    ]
    if {"sum", "mean"} <= set(limits.index):
        ratio = limits.loc["mean", "exact_limit"] / limits.loc["sum", "exact_limit"]
        n = point_count(exp)
        answer.append(
            f"The mean's limit is {fmt(ratio)} times the sum's: the sum adds up the squared "
            f"errors of all {n} points, so its gradient, and the lr it tolerates, scale by {n}."
        )
    note = final[final["reduction"] == "sum"]
    if note.empty:
        raise AnalysisError("no trial with the note's reduction='sum'")
    row = note_row(note, "lr", 0.01)
    w, b = float(row["w"]), float(row["b"])
    if not bool(row["diverged"]) and abs(w - 2) < NEAR and abs(b) < NEAR:
        verdict = CONFIRMED
        reason = (
            f"at the note's settings (sum, lr {fmt(row['lr'])}) nn.Linear ends at "
            f"w = {near(w, 2.0)}, b = {near(b, 0.0)}: the line y = 2x"
        )
    else:
        verdict = CONTRADICTED
        reason = f"at the note's settings nn.Linear ends at w = {fmt(w)}, b = {fmt(b)}"
    figure = plots.figure_of(course_plots.plot_reduction(final, limits))
    return Measured(
        answer, verdict, reason, [("loss_by_reduction", figure)], [("stable_limit", limits)]
    )
