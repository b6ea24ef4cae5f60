"""The course's measurements: each of the note's claims against its study's tables.

One ``measure_*`` function per chapter (course.py's CHAPTERS names them): it computes
the measured answer in sentences with numbers, the verdict with its reason, and the
figures and tables behind them, from the study's tables (tables.py, remedies.py) and
the exact theory of the regressions (trainables.stability). Nothing in a verdict is
written by hand (ARCHITECTURE.md, "The course"):

- **confirmed**: the claim holds as the note states it;
- **refined**: it holds, but only with a condition or a number the measurement adds;
- **contradicted**: the measurement says otherwise;
- **not settled**: the study cannot tell (too few seeds for an interval, say).
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

from experiment_folder import INVALID, SCORED

from . import course_plots, plots, remedies, tables
from .errors import AnalysisError
from .fidelity import mean_ci
from .load import Experiment
from .report import fmt_value as fmt

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


# --- the chapters -----------------------------------------------------------------------


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
    verdict, reason = _grid_verdict({"w": (w, 2.0, curve["w"])}, mse)
    figure = plots.figure_of(plots.plot_brute_force(curve))
    return Measured(answer, verdict, reason, [("mse_vs_w", figure)], [("mse_vs_w", curve)])


def measure_surface(exp: Experiment) -> Measured:
    surface = tables.loss_surface(exp)
    if surface is None:
        raise AnalysisError("no w × b grid in this study")
    w, b, mse = surface.minimum
    floor = tables.data_floor("linear_wb", {**_config(exp), "impl": "manual"})
    answer = [
        f"On the {surface.w.shape[1]} × {surface.w.shape[0]} meshgrid of (w, b), the "
        f"smallest MSE is {fmt(mse)}, at w = {fmt(w)}, b = {fmt(b)}.",
        f"The exact least-squares fit on the same points is w = {fmt(floor['w'])}, "
        f"b = {fmt(floor['b'])}.",
    ]
    verdict, reason = _grid_verdict(
        {"w": (w, 2.0, surface.w.ravel()), "b": (b, 0.5, surface.b.ravel())}, mse
    )
    figure = plots.figure_of(course_plots.plot_meshgrid(surface))
    return Measured(answer, verdict, reason, [("loss_surface", figure)])


def measure_sgd_w(exp: Experiment) -> Measured:
    final = _final(exp, ("w", "loss"))
    note = _note_row(final, "lr", 0.01)
    answer = [
        "After "
        + fmt(_config(exp).get("epochs", "?"))
        + " epochs from w = "
        + fmt(_config(exp).get("w0", 1.0))
        + ": "
        + "; ".join(f"lr {fmt(r.lr)}: w = {fmt(r.w)}" for r in final.itertuples())
        + "."
    ]
    gap = abs(float(note["w"]) - 2)
    slow = final[(final["w"] - 2).abs() >= NEAR]
    if gap < NEAR:
        verdict, reason = (
            CONFIRMED,
            f"at the note's lr {fmt(note['lr'])}, w = {_near(note['w'], 2.0)}",
        )
        if len(slow):
            reason += (
                f"; at lr {', '.join(fmt(v) for v in slow['lr'])} the same epochs leave w "
                f"{', '.join(fmt(v) for v in slow['w'])}"
            )
    else:
        verdict = CONTRADICTED
        reason = f"at the note's lr {fmt(note['lr'])}, w = {_near(note['w'], 2.0)}"
    curves = _curves(exp, ("w",))
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
    final = _final(exp, ("w", "b", "loss"))
    floor = tables.loss_floor(exp) or {"w": math.nan, "b": math.nan}
    note = _note_row(final, "lr", 0.001)
    epochs = fmt(_config(exp).get("epochs", "?"))
    answer = [
        f"After {epochs} epochs from (w, b) = ({fmt(_config(exp).get('w0', 1.0))}, "
        f"{fmt(_config(exp).get('b0', 1.0))}): "
        + "; ".join(f"lr {fmt(r.lr)}: w = {fmt(r.w)}, b = {fmt(r.b)}" for r in final.itertuples())
        + ".",
        f"The exact least-squares fit on these points is w = {fmt(floor['w'])}, "
        f"b = {fmt(floor['b'])}.",
    ]
    w, b = float(note["w"]), float(note["b"])
    if abs(w - 2) < NEAR and abs(b - 0.5) < NEAR:
        verdict = CONFIRMED
        reason = f"at the note's lr {fmt(note['lr'])}: w = {_near(w, 2.0)}, b = {_near(b, 0.5)}"
    else:
        verdict = CONTRADICTED
        reason = f"at the note's lr {fmt(note['lr'])} SGD ends at w = {fmt(w)}, b = {fmt(b)}"
        reached = final[((final["w"] - 2).abs() < NEAR) & ((final["b"] - 0.5).abs() < NEAR)]
        if len(reached):
            verdict = REFINED
            reason += f"; lr {', '.join(fmt(v) for v in reached['lr'])} gets to (2, 0.5)"
    curves = _curves(exp, ("w", "b"))
    figure = plots.figure_of(
        course_plots.plot_param_curves(curves, ("w", "b"), {"w": 2.0, "b": 0.5})
    )
    return Measured(answer, verdict, reason, [("w_b_over_epochs", figure)], [("final_w_b", final)])


def measure_reduction(exp: Experiment) -> Measured:
    from trainables import stable_lrs

    final = _final(exp, ("w", "b", "loss", "diverged"), by_reduction=True)
    config = {k: v for k, v in _config(exp).items() if k not in ("lr", "reduction")}
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
        n = _points(exp)
        answer.append(
            f"The mean's limit is {fmt(ratio)} times the sum's: the sum adds up the squared "
            f"errors of all {n} points, so its gradient, and the lr it tolerates, scale by {n}."
        )
    note = final[final["reduction"] == "sum"]
    if note.empty:
        raise AnalysisError("no trial with the note's reduction='sum'")
    row = _note_row(note, "lr", 0.01)
    w, b = float(row["w"]), float(row["b"])
    if not bool(row["diverged"]) and abs(w - 2) < NEAR and abs(b) < NEAR:
        verdict = CONFIRMED
        reason = (
            f"at the note's settings (sum, lr {fmt(row['lr'])}) nn.Linear ends at "
            f"w = {_near(w, 2.0)}, b = {_near(b, 0.0)}: the line y = 2x"
        )
    else:
        verdict = CONTRADICTED
        reason = f"at the note's settings nn.Linear ends at w = {fmt(w)}, b = {fmt(b)}"
    figure = plots.figure_of(course_plots.plot_reduction(final, limits))
    return Measured(
        answer, verdict, reason, [("loss_by_reduction", figure)], [("stable_limit", limits)]
    )


def measure_remedies(exp: Experiment) -> Measured:
    table = remedies.paired(exp)
    if table.empty or "gap low" not in table:
        raise AnalysisError("no remedies paired with a baseline, with their train-val gap")
    base = exp.trials[exp.trials["variant"].astype(str) == remedies.BASELINE]
    gap = float(pd.to_numeric(base.get("gap"), errors="coerce").mean())
    answer = [
        f"The baseline's train-val gap at the end: {100 * gap:.1f} pts (the mean over its "
        "seeds). Each remedy's paired difference from the baseline, with its 95 % interval "
        "over the seeds, is in the table and the figure below."
    ]
    if line := remedies.headline(table):
        answer.append(line)
    low, high = table["gap low"], table["gap high"]
    shrank = list(table.index[high < 0])
    widened = list(table.index[low > 0])
    unclear = [r for r in table.index if r not in shrank and r not in widened]
    n = int(table["n_seeds"].max())
    costly = [r for r in shrank if table.loc[r, "val_acc high"] < 0]
    parts = [
        f"{', '.join(shrank)} shrank the train-val gap beyond noise" if shrank else "",
        f"{', '.join(costly)} at a cost in validation accuracy beyond noise" if costly else "",
        f"{', '.join(widened)} widened it" if widened else "",
        f"{', '.join(unclear)} cannot be told from noise at {n} seeds" if unclear else "",
    ]
    said = "; ".join(p for p in parts if p)
    if not gap >= OVERFITS:
        verdict = NOT_SETTLED
        reason = (
            f"the baseline does not overfit here (train-val gap {100 * gap:.1f} pts), so there "
            "is no overfitting for a remedy to counter"
        )
    elif low.isna().all():
        verdict, reason = NOT_SETTLED, f"{n} seed(s) per remedy: too few for an interval"
    elif len(shrank) == len(table):
        verdict, reason = CONFIRMED, "every remedy shrank the train-val gap beyond noise"
    elif shrank:
        verdict, reason = REFINED, said
    elif widened:
        verdict, reason = CONTRADICTED, "no remedy shrank the train-val gap; " + said
    else:
        verdict, reason = NOT_SETTLED, said
    figure = plots.figure_of(
        plots.plot_differences(
            table, ("val_acc", "test_acc", "gap"), "Each remedy minus the baseline"
        )
    )
    return Measured(
        answer, verdict, reason, [("remedy_differences", figure)], [("remedies", table)]
    )


def measure_mlp(exp: Experiment) -> Measured:
    trials = exp.trials[exp.trials["status"].isin(SCORED)]
    need = ["config/lr", "config/momentum", "config/seed", "val_acc", "test_acc"]
    if trials.empty or not set(need) <= set(trials):
        raise AnalysisError("no scored MLP trials over lr, momentum and seed")
    frame = trials[need].rename(columns=lambda c: c.removeprefix("config/"))
    frame = frame.apply(pd.to_numeric, errors="coerce")
    settings = (
        frame.groupby(["lr", "momentum"])
        .agg(val_acc=("val_acc", "mean"), test_acc=("test_acc", "mean"), seeds=("seed", "nunique"))
        .reset_index()
    )
    note_lr, note_m = 0.01, 0.5
    is_note = np.isclose(settings["lr"], note_lr) & np.isclose(settings["momentum"], note_m)
    if not is_note.any():
        raise AnalysisError("the note's settings (lr 0.01, momentum 0.5) are not in this study")
    tuned = settings.loc[settings["val_acc"].idxmax()]
    note = settings[is_note].iloc[0]
    pivot = frame.pivot_table(index="seed", columns=["lr", "momentum"], values="test_acc")
    diff = pivot[(tuned["lr"], tuned["momentum"])] - pivot[(note["lr"], note["momentum"])]
    mean, low, high = mean_ci(diff.dropna(), bounds=(-1.0, 1.0))
    epochs = _config(exp).get("epochs", "?")
    answer = [
        f"The note's settings (lr {fmt(note_lr)}, momentum {fmt(note_m)}, {epochs} epochs): "
        f"test accuracy {fmt(note['test_acc'])}, the mean over {int(note['seeds'])} seeds.",
        f"Chosen by validation accuracy among {len(settings)} settings: lr {fmt(tuned['lr'])}, "
        f"momentum {fmt(tuned['momentum'])}, test accuracy {fmt(tuned['test_acc'])}.",
    ]
    if not math.isnan(low):
        answer.append(
            f"Tuned minus the note's, paired by seed: {100 * mean:+.1f} pts of test accuracy "
            f"(95 % CI {100 * low:+.1f} to {100 * high:+.1f})."
        )
    limit = _config(exp).get("train_limit")
    if limit or _config(exp).get("dataset", "mnist5k") == "mnist5k":
        answer.append(
            "The study trains on "
            + (f"{limit:,} images" if limit else "the 3,600 training images of the bundled 5,000")
            + ", so an epoch is far fewer SGD steps than the note's epoch over 60,000."
        )
    if float(note["test_acc"]) < LEARNS:
        verdict = CONTRADICTED
        reason = (
            f"with this data and these epochs the note's settings reach only "
            f"{fmt(note['test_acc'])} test accuracy; lr {fmt(tuned['lr'])}, momentum "
            f"{fmt(tuned['momentum'])} reach {fmt(tuned['test_acc'])}"
        )
    elif bool(is_note[settings.index.get_loc(tuned.name)]):
        verdict, reason = CONFIRMED, "the note's settings are the best of the grid by validation"
    elif not math.isnan(low) and low > 0:
        verdict = REFINED
        reason = (
            f"the note's settings train the MLP, but lr {fmt(tuned['lr'])}, momentum "
            f"{fmt(tuned['momentum'])} do better on the test set, beyond noise"
        )
    elif math.isnan(low):
        verdict, reason = NOT_SETTLED, "too few seeds for an interval on the difference"
    else:
        verdict = CONFIRMED
        reason = "the tuned settings are not detectably better on the test set"
    figure = plots.figure_of(course_plots.plot_settings(frame, (note_lr, note_m)))
    return Measured(answer, verdict, reason, [("mlp_settings", figure)], [("settings", settings)])


def measure_conv(exp: Experiment) -> Measured:
    from trainables.conv import conv_out, per_layer, pool_out
    from trainables.models import measured_conv_sizes

    trials = exp.trials
    keys = ("channels", "kernel_size", "stride", "padding", "dilation", "groups")
    if not {f"config/{k}" for k in keys} <= set(trials):
        raise AnalysisError("no Conv2d settings in this study's trials")
    defaults = {**(exp.spec.get("config") or {})}
    rows = []
    for _, trial in trials.iterrows():
        cfg = {
            k: _cell(trial.get(f"config/{k}"), defaults.get(k))
            for k in (*keys, "pool", "pool_size")
        }
        pool = 1 if cfg["pool"] == "none" else int(cfg["pool_size"] or 2)
        channels = cfg["channels"] or [10, 20]
        settings = {
            k: cfg[k] if cfg[k] is not None else d
            for k, d in (
                ("kernel_size", 5),
                ("stride", 1),
                ("padding", 0),
                ("dilation", 1),
                ("groups", 1),
            )
        }
        real = measured_conv_sizes(channels, settings, pool)
        n = len(channels)
        size, formula, simple = 28, [], []
        for k, s, p, d in zip(
            *(
                per_layer(settings[x], n, x)
                for x in ("kernel_size", "stride", "padding", "dilation")
            )
        ):
            simple.append(size - k + 1)
            size = conv_out(size, k, s, p, d)
            formula.append(size)
            size = pool_out(size, pool)
        rows.append(
            {
                "status": trial["status"],
                **{
                    k: str(settings.get(k, channels))
                    for k in ("kernel_size", "stride", "padding", "dilation", "groups")
                },
                "channels": str(channels),
                "formula": str(formula),
                "measured": str(real),
                "note_formula": str(simple),
                "formula_holds": isinstance(real, list) and real == formula,
                "note_holds": isinstance(real, list) and real == simple,
                "torch_refused": real if isinstance(real, str) else "",
                "reason": trial.get("reason", ""),
            }
        )
    check = pd.DataFrame(rows)
    built = check[check["torch_refused"] == ""]
    invalid = check[check["status"] == INVALID]
    answer = [
        f"{len(built)} of {len(check)} configurations could be built and run by torch; in "
        f"{int(built['formula_holds'].sum())} of them every Conv2d's output size is the "
        "formula's floor((in + 2·padding − dilation·(kernel_size − 1) − 1) / stride) + 1.",
        f"The note's in − kernel_size + 1 gives the right size in {int(built['note_holds'].sum())} "
        f"of the {len(built)}.",
    ]
    if len(invalid):
        why = (
            invalid["reason"]
            .astype(str)
            .str.extract(r"(spatial size shrinks below 1|groups=\d+ must divide|[^:(]+$)")[0]
        )
        counts = why.fillna("other").value_counts()
        answer.append(
            f"{len(invalid)} trial(s) were refused as impossible before training ("
            + "; ".join(f"{n}× {w}" for w, n in counts.items())
            + f"); torch itself refuses {int((invalid['torch_refused'] != '').sum())} of them."
        )
    settings_columns = ["channels", "kernel_size", "stride", "padding", "dilation", "groups"]
    cannot = (
        invalid.drop_duplicates(settings_columns)[[*settings_columns, "reason", "torch_refused"]]
        .rename(columns={"reason": "why (the harness)", "torch_refused": "torch's own error"})
        .reset_index(drop=True)
    )
    mismatch = built[~built["formula_holds"]]
    if len(mismatch):
        verdict = CONTRADICTED
        reason = f"the formula misses the real size in {len(mismatch)} configuration(s)"
    elif (~built["note_holds"]).any():
        verdict = REFINED
        reason = (
            "the note's in − k + 1 holds only with stride 1, padding 0 and dilation 1; the full "
            "formula matches torch in every configuration"
        )
    else:
        verdict, reason = CONFIRMED, "the note's formula matches torch in every configuration"
    figure = plots.figure_of(course_plots.plot_conv_check(built))
    shown = [("cannot_run", cannot)] if len(cannot) else []
    return Measured(
        answer, verdict, reason, [("conv_sizes", figure)], [*shown, ("conv_sizes", check)]
    )


# --- helpers ----------------------------------------------------------------------------


def _config(exp: Experiment) -> dict[str, Any]:
    config = exp.spec.get("config")
    return dict(config) if isinstance(config, dict) else {}


def _points(exp: Experiment) -> int:
    from trainables.model_configs import resolve_data

    xs, _ = resolve_data(
        _config(exp).get("data", "seed"), int(_config(exp).get("data_seed", 0)), "seed"
    )
    return len(xs)


def _final(exp: Experiment, metrics: tuple[str, ...], by_reduction: bool = False) -> pd.DataFrame:
    """Each trial's lr (and its loss's reduction) with its final metrics, by lr."""
    trials = exp.trials
    if "config/lr" not in trials:
        raise AnalysisError("no lr in this study's trials")
    columns = {"config/lr": "lr", **{m: m for m in metrics if m in trials}}
    frame = trials[list(columns)].rename(columns=columns)
    if by_reduction:
        default = str(_config(exp).get("reduction", "sum"))
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


def _note_row(frame: pd.DataFrame, column: str, value: float) -> pd.Series:
    """The trial at the note's setting (``column`` = ``value``); a study without it
    cannot check the note's claim, and says so."""
    rows = frame[np.isclose(frame[column].astype(float), value)]
    if rows.empty:
        raise AnalysisError(f"the note's {column} {value:g} is not among this study's trials")
    return rows.iloc[0]


def _curves(exp: Experiment, params: tuple[str, ...]) -> pd.DataFrame:
    """Per epoch, each trial's lr and ``params`` (history.csv)."""
    history = exp.history
    if history.empty or not set(params) <= set(history):
        return pd.DataFrame()
    lrs = pd.to_numeric(exp.trials.set_index("trial_id")["config/lr"], errors="coerce")
    frame = history[["trial_id", "epoch", *params]].copy()
    frame["lr"] = frame["trial_id"].map(lrs)
    return frame.apply(lambda c: pd.to_numeric(c, errors="coerce") if c.name != "trial_id" else c)


def _grid_verdict(found: Mapping[str, tuple[float, float, Any]], mse: float) -> tuple[str, str]:
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


def _near(value: Any, target: float) -> str:
    """A trained value with its distance from what the note expects ('2 (7.9e-06 off)'),
    so that a value the page rounds to the target still shows how close it came."""
    off = abs(float(value) - target)
    return fmt(float(value)) + (f" ({fmt(off)} off)" if off else "")


def _cell(value: Any, default: Any) -> Any:
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
