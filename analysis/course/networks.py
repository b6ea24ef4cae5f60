"""The course's network chapters measured (§6.4 to §8): the remedies for overfitting
paired by seed, the MNIST MLP at the note's settings against the search's choice, and
Conv2d's output sizes against torch's own layers.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from experiment_folder import INVALID, SCORED

from .. import plots
from ..errors import AnalysisError
from ..load import Experiment
from ..report import fmt_value as fmt
from ..tables import remedies
from ..tables.fidelity import mean_ci
from . import plots as course_plots
from .verdicts import (
    CONFIRMED,
    CONTRADICTED,
    LEARNS,
    NOT_SETTLED,
    OVERFITS,
    REFINED,
    Measured,
    cell,
    spec_config,
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
    epochs = spec_config(exp).get("epochs", "?")
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
    limit = spec_config(exp).get("train_limit")
    if limit or spec_config(exp).get("dataset", "mnist5k") == "mnist5k":
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


# The Conv2d settings a trial's sizes depend on (with the pooling), in trials.csv's order.
CONV_KEYS = ("channels", "kernel_size", "stride", "padding", "dilation", "groups")
# Each setting's value where the trial's config and the spec leave it out (torch's own).
CONV_DEFAULTS = (("kernel_size", 5), ("stride", 1), ("padding", 0), ("dilation", 1), ("groups", 1))


def measure_conv(exp: Experiment) -> Measured:
    """Every trial's Conv2d output sizes, measured on real torch layers built from its
    settings, against the full formula and the note's in − k + 1."""
    trials = exp.trials
    if not {f"config/{k}" for k in CONV_KEYS} <= set(trials):
        raise AnalysisError("no Conv2d settings in this study's trials")
    defaults = {**(exp.spec.get("config") or {})}
    check = pd.DataFrame([_conv_sizes(trial, defaults) for _, trial in trials.iterrows()])
    built = check[check["torch_refused"] == ""]
    invalid = check[check["status"] == INVALID]
    settings_columns = ["channels", *CONV_KEYS[1:]]
    cannot = (
        invalid.drop_duplicates(settings_columns)[[*settings_columns, "reason", "torch_refused"]]
        .rename(columns={"reason": "why (the harness)", "torch_refused": "torch's own error"})
        .reset_index(drop=True)
    )
    verdict, reason = _conv_verdict(built)
    figure = plots.figure_of(course_plots.plot_conv_check(built))
    shown = [("cannot_run", cannot)] if len(cannot) else []
    return Measured(
        _conv_answer(check, built, invalid),
        verdict,
        reason,
        [("conv_sizes", figure)],
        [*shown, ("conv_sizes", check)],
    )


def _conv_sizes(trial: pd.Series, defaults: dict[str, Any]) -> dict[str, Any]:
    """One trial's row: its settings, the sizes torch's layers give (or torch's refusal),
    the formula's and the note's."""
    from trainables.conv import conv_out, per_layer, pool_out
    from trainables.models import measured_conv_sizes

    cfg = {
        k: cell(trial.get(f"config/{k}"), defaults.get(k))
        for k in (*CONV_KEYS, "pool", "pool_size")
    }
    pool = 1 if cfg["pool"] == "none" else int(cfg["pool_size"] or 2)
    channels = cfg["channels"] or [10, 20]
    settings = {k: cfg[k] if cfg[k] is not None else d for k, d in CONV_DEFAULTS}
    real = measured_conv_sizes(channels, settings, pool)
    size, formula, simple = 28, [], []
    for k, s, p, d in zip(
        *(
            per_layer(settings[x], len(channels), x)
            for x in ("kernel_size", "stride", "padding", "dilation")
        )
    ):
        simple.append(size - k + 1)
        size = conv_out(size, k, s, p, d)
        formula.append(size)
        size = pool_out(size, pool)
    return {
        "status": trial["status"],
        **{k: str(settings.get(k, channels)) for k in CONV_KEYS[1:]},
        "channels": str(channels),
        "formula": str(formula),
        "measured": str(real),
        "note_formula": str(simple),
        "formula_holds": isinstance(real, list) and real == formula,
        "note_holds": isinstance(real, list) and real == simple,
        "torch_refused": real if isinstance(real, str) else "",
        "reason": trial.get("reason", ""),
    }


def _conv_answer(check: pd.DataFrame, built: pd.DataFrame, invalid: pd.DataFrame) -> list[str]:
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
    return answer


def _conv_verdict(built: pd.DataFrame) -> tuple[str, str]:
    mismatch = built[~built["formula_holds"]]
    if len(mismatch):
        return CONTRADICTED, f"the formula misses the real size in {len(mismatch)} configuration(s)"
    if (~built["note_holds"]).any():
        return REFINED, (
            "the note's in − k + 1 holds only with stride 1, padding 0 and dilation 1; the full "
            "formula matches torch in every configuration"
        )
    return CONFIRMED, "the note's formula matches torch in every configuration"
