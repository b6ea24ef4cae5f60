"""Experiment -> the report's sections, each computed from analysis/tables and drawn by
analysis/plots; a section appears only when the experiment has the data for it, and
one that fails is left out with a note, never the whole report.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from experiment_folder import FAILED, REPORT_DIR

from .. import plots, tables
from ..load import Experiment
from ..tables import importance, remedies
from ..tables.fidelity import equal_fidelity, repeat_keys
from ..tables.startup import against_startup
from .page import Section, fmt_value, write_sections
from .stability import divergence

log = logging.getLogger(__name__)


def _in_groups(groups: int) -> str:
    """How a fused study ran: its trials trained in this many Ray trials (groups)."""
    if not groups:
        return ""
    return f", in {groups} fused group{'s' if groups != 1 else ''}"


def _summary(exp: Experiment) -> Section:
    s = tables.summary(exp)
    counts = ", ".join(f"{n} {k}" for k, n in s["statuses"].items() if n) or "none"
    search, scheduler = s["search"] or {}, s["scheduler"] or {}
    lines = [
        f"Trainable **{s['trainable']}**, metric **{s['metric']}** ({s['mode']}).",
        f"{s['trials']} trials: {counts}.",
        f"Search: {search.get('algorithm')} (seed {search.get('seed')}); scheduler: "
        f"{scheduler.get('name')}; resources per trial: {s['resources']}.",
        f"Wall time: {fmt_value(s['wall_s'])} s; "
        f"trial time in all: {fmt_value(s['trial_time_s'])} s"
        f"{_in_groups(s['groups'])}."
        if s["wall_s"] is not None
        else f"Trial time in all: {fmt_value(s['trial_time_s'])} s{_in_groups(s['groups'])}.",
    ]
    if s["epoch_budget"] is not None:
        lines.append(
            f"Epoch budget: {fmt_value(s['epoch_budget'])} trial-epochs; spent "
            f"{fmt_value(s['epochs_spent'])}. No trial started once the budget was spent; "
            "the trials running then finished their epochs as the scheduler ruled."
        )
    else:
        lines.append(f"Trial-epochs spent: {fmt_value(s['epochs_spent'])}.")
    findings = []
    against, against_finding = _against_random(exp, search.get("algorithm"))
    lines += against
    if s["best_trial"]:
        config = ", ".join(f"{k}={fmt_value(v)}" for k, v in s["best_config"].items())
        lines.append(
            f"Best trial **{s['best_trial']}**: {s['metric']} = "
            f"{fmt_value(s['best_value'])} with {config}."
        )
        searched = ", ".join(
            f"{k}={fmt_value(v)}" for k, v in s["best_config"].items() if k in exp.params
        )
        if "variant" in exp.trials:
            best_row = exp.trials[exp.trials["trial_id"].astype(str) == str(s["best_trial"])]
            if len(best_row):
                variant = f"variant {best_row['variant'].iloc[0]}"
                searched = f"{variant}, {searched}" if searched else variant
        findings.append(
            f"Best: **{s['metric']} = {fmt_value(s['best_value'])}** (trial {s['best_trial']})"
            + (f" with {searched}." if searched else ".")
        )
    failed = {k: s["statuses"].get(k, 0) for k in FAILED}
    if any(failed.values()):
        said = " and ".join(f"{n} {k}" for k, n in failed.items() if n)
        findings.append(f"Could not train: {said}, of {s['trials']} trials.")
    findings += against_finding
    cost = tables.infeasibility(exp)
    if cost is not None:
        lines.append(_infeasibility_line(cost))
    if exp.rebuilt:
        lines.append(
            "The tables were rebuilt from Ray Tune's trial files (the study did not "
            "finish writing them)."
        )
    lines += [f"Warning: {w}" for w in exp.warnings]
    # The statuses that occurred (the CSV, like experiment_folder.STATUSES, lists all).
    status = pd.DataFrame({"trials": s["statuses"]}).rename_axis("status")
    status = status[status["trials"] > 0] if (status["trials"] > 0).any() else status
    return Section("Summary", lines, [("status_counts", status)], findings=findings)


def _against_random(exp: Experiment, algorithm: Any) -> tuple[list[str], list[str]]:
    """What the study's own trials say of its search against random sampling: lines for
    the summary, and a finding (analysis/tables/startup.py)."""
    if algorithm == "random":
        return ["A random search: its trials are the baseline a model is measured by."], []
    if algorithm == "bohb":
        return [
            "bohb draws a third of its configs at random throughout and all of them until "
            "a budget has enough trials, so no random start-up of its own is compared here."
        ], []
    got = against_startup(exp, equal_fidelity(exp))
    if got is None:
        return [], []
    share = f"{100 * got.beat / got.modelled:.0f} %"
    line = (
        f"Against its own random start-up, at {got.label}: the first {got.startup} "
        f"proposals were drawn at random; {got.beat} of the {got.modelled} the model made "
        f"({share}, 95 % interval {100 * got.low:.0f}-{100 * got.high:.0f} %) beat the best "
        f"of them ({exp.metric} = {fmt_value(got.best_random)}), where random draws would "
        f"do so one time in {got.startup + 1} ({100 * got.expected:.0f} %): "
        f"{got.verdict}. The best at {got.label} came from "
        f"{'the model' if got.best_is_modelled else 'the random start-up'}."
    )
    finding = (
        f"Search: {got.verdict} ({got.beat} of {got.modelled} model proposals beat the "
        f"random start-up's best; random draws: 1 in {got.startup + 1})."
    )
    return [line], [finding]


def _infeasibility_line(cost: dict[str, Any]) -> str:
    """One sentence on what could not train, what it cost and how its share changed."""
    parts = []
    if cost["invalid"]:
        skipped = (
            f" ({cost['skipped']} skipped by the searcher before any trial)"
            if cost["skipped"]
            else ""
        )
        parts.append(f"{cost['invalid']} invalid proposal(s){skipped}")
    if cost["diverged"]:
        parts.append(f"{cost['diverged']} diverged trial(s)")
    return (
        f"Could not train: {' and '.join(parts)}, costing {cost['epochs']} of "
        f"{cost['total_epochs']} trial-epochs; their share was "
        f"{_pct(cost['first_half'])} in the first half of the study and "
        f"{_pct(cost['second_half'])} in the second."
    )


def _pct(share: float) -> str:
    return "-" if share != share else f"{100 * share:.0f} %"


def _search_tables(exp: Experiment) -> Section | None:
    section = Section("Trials and parameter effects")
    top = tables.top_trials(exp)
    if not top.empty:
        section.tables.append(("top_trials", top))
    fidelity = equal_fidelity(exp)
    effects = tables.param_effects(exp, fidelity)
    for param, table in effects.items():
        section.tables.append((f"effect_{param}", table))
    if effects:
        section.text.append(
            f"Mean {exp.metric} with its 95 % interval, and the best, per value of each "
            "searched parameter (continuous parameters in 5 bins, log-spaced for log-uniform "
            f"ones). {fidelity.note}"
        )
        section.figures.append(
            (
                "effects",
                plots.plot_effects(effects, exp.metric, f"Parameter effects at {fidelity.label}"),
            )
        )
    if repeats := repeat_keys(exp):
        section.text.append(
            f"{', '.join(repeats)}: repeat seed(s), grouped as repeats, never a parameter."
        )
    failed = importance.failure_importance(exp)
    trained = importance.trained_importance(exp, fidelity)
    for label, name, part in (("(a)", "importance_a", failed), ("(b)", "importance_b", trained)):
        section.text.append(f"Importance {label}: {part.note}")
        if part.table is not None:
            section.tables.append((name, part.table))
    if trained.table is not None:
        section.figures.append(
            ("importance", plots.figure_of(plots.plot_importance(trained.table)))
        )
    section.findings.extend(_importance_findings(exp, failed, trained))
    return section if section.tables else None


def _importance_findings(exp: Experiment, failed: Any, trained: Any) -> list[str]:
    out = []
    if trained.table is not None and len(trained.table):
        top = trained.table.iloc[0]
        first = (
            f"; first in {100 * top['ranked first']:.0f} % of bootstrap refits"
            if "ranked first" in top
            else ""
        )
        out.append(
            f"Most important parameter: **{trained.table.index[0]}** "
            f"({100 * top['importance']:.0f} % of the variance of {exp.metric} in fANOVA{first})."
        )
    if failed.table is not None and len(failed.table) > 1:  # one parameter: no news
        out.append(f"What best predicts a trial that cannot train: **{failed.table.index[0]}**.")
    return out


def _lr_range(exp: Experiment) -> Section | None:
    curves, summary = tables.lr_range_curves(exp)
    if curves.empty:
        return None
    section = Section("LR range test")
    section.text.append(
        "One short run per trial: the learning rate grows exponentially with every batch "
        "and the run stops when the smoothed loss passes 4× its minimum. The suggested lr "
        "is where the smoothed loss falls fastest; the loss blows up at diverged_lr, a "
        "one-run estimate of where a sweep of fixed learning rates starts to diverge."
    )
    section.tables.append(("lr_range", summary))
    if "suggested_lr" in summary and summary["suggested_lr"].notna().any():
        section.findings.append(_lr_range_finding(summary))
    section.figures.append(("lr_range", plots.figure_of(plots.plot_lr_range(curves, summary))))
    return section


def _lr_range_finding(summary: pd.DataFrame) -> str:
    """Each range test's suggested lr (and where its loss blew up), named by what varies."""
    keys = [c for c in summary.columns if c not in ("trial_id", "diverged_lr", "suggested_lr")]
    parts = []
    for _, row in summary.iterrows():
        if row["suggested_lr"] != row["suggested_lr"]:
            continue
        said = f"lr {fmt_value(float(row['suggested_lr']))}"
        if "diverged_lr" in row and row["diverged_lr"] == row["diverged_lr"]:
            said += f" (blew up from {fmt_value(float(row['diverged_lr']))})"
        if keys and len(summary) > 1:
            said += " at " + ", ".join(f"{k}={fmt_value(row[k])}" for k in keys)
        parts.append(said)
    return "LR range test: suggested " + "; ".join(parts) + "."


def _brute_force(exp: Experiment) -> Section | None:
    curve = tables.brute_force_curve(exp)
    surface = tables.loss_surface(exp)
    if curve.empty and surface is None:
        return None
    section = Section("The seed's brute force")
    if not curve.empty:
        best = curve.loc[curve["mse"].idxmin()]
        section.text.append(
            f"Minimum MSE {fmt_value(best['mse'])} at w = {fmt_value(best['w'])}; "
            f"MSE {fmt_value(curve['mse'].iloc[0])} at w = {fmt_value(curve['w'].iloc[0])} "
            f"and {fmt_value(curve['mse'].iloc[-1])} at w = {fmt_value(curve['w'].iloc[-1])}."
        )
        section.tables.append(("mse_vs_w", curve))
        section.figures.append(("mse_vs_w", plots.figure_of(plots.plot_brute_force(curve))))
    if surface is not None:
        w, b, mse = surface.minimum
        section.text.append(
            f"Loss surface minimum: MSE {fmt_value(mse)} at w = {fmt_value(w)}, b = {fmt_value(b)}."
        )
        grid = pd.DataFrame(surface.mse, index=surface.b[:, 0], columns=surface.w[0])
        section.tables.append(("loss_surface", grid.rename_axis(index="b", columns="w")))
        section.figures.append(("loss_surface", plots.figure_of(plots.plot_surface(surface))))
    return section


def _dynamics(exp: Experiment) -> Section | None:
    section = Section("Training dynamics")
    curves = tables.learning_curves(exp)
    drawn = plots.plot_learning_curves(curves) if not curves.empty else None
    if drawn is not None:
        section.figures.append(("learning_curves", drawn))
        section.tables.append(("learning_curves", curves))
    history = tables.optimisation_history(exp)
    if len(history) > 1:
        section.figures.append(
            (
                "optimisation_history",
                plots.figure_of(plots.plot_history(history, exp.metric, exp.mode)),
            )
        )
    parallel = tables.parallel_coordinates(exp)
    if not parallel.empty:
        section.figures.append(
            ("parallel_coordinates", plots.figure_of(plots.plot_parallel(parallel, exp.metric)))
        )
    return section if section.figures else None


def _remedies(exp: Experiment) -> Section | None:
    section = Section("Overfitting remedies")
    paired = remedies.paired(exp)
    levels = remedies.levels(exp)
    fidelity = equal_fidelity(exp)
    split = remedies.search_split(exp, fidelity)
    if paired.empty and levels.empty and split.empty:
        return None
    if not paired.empty:
        n = int(paired["n_seeds"].max())
        section.text.append(
            "Each remedy against the baseline, paired by seed: the difference (remedy - "
            "baseline) in final validation and test accuracy, train-val gap and epochs to the "
            f"best val_acc, with a 95 % t interval over {n} seed(s). An interval that covers "
            "zero is 'no detectable effect' at this many seeds."
        )
        section.tables.append(("remedy_differences", paired))
        section.figures.append(
            (
                "remedy_differences",
                plots.figure_of(
                    plots.plot_differences(
                        paired, ("val_acc", "test_acc", "gap"), "Each remedy minus the baseline"
                    )
                ),
            )
        )
        section.text.extend(remedies.sentences(paired))
        section.findings.extend(_remedy_finding(paired))
    dose = remedies.dose_response(exp, paired)
    if not dose.empty:
        section.figures.append(("dose_response", plots.plot_dose_response(dose)))
        section.tables.append(("dose_response", dose))
    if not levels.empty:
        section.tables.append(("remedies", levels))
    if not split.empty:
        section.text.append(
            "A search, not a remedy study: each remedy parameter split at its median, "
            f"{exp.metric} at {fidelity.label}. The halves are different trials "
            "(unpaired; Welch's 95 % interval) and differ in the other parameters too."
        )
        section.tables.append(("remedy_split", split))
    curves = remedies.gap_curves(exp)
    if not curves.empty:
        section.figures.append(("gap_over_epochs", plots.figure_of(plots.plot_gap_curves(curves))))
        section.tables.append(("gap_over_epochs", curves))
    if limit := (exp.spec.get("config") or {}).get("train_limit"):
        section.text.append(
            f"The study trains on {limit} images (train_limit), fewer than the data set "
            "holds, so that the baseline overfits visibly and the remedies have a gap to close."
        )
    return section


def _remedy_finding(paired: pd.DataFrame) -> list[str]:
    """The remedies' key finding (remedies.headline: only a remedy whose interval lies
    above zero is said to help)."""
    line = remedies.headline(paired)
    return [line] if line else []


def _conv(exp: Experiment) -> Section | None:
    effects = tables.conv_effects(exp)
    invalid = tables.invalid_trials(exp)
    if not effects and invalid.empty:
        return None
    section = Section("Conv2d settings")
    for name, table in effects.items():
        section.tables.append((f"conv_{name}", table))
    if effects:
        fidelity = equal_fidelity(exp)
        section.text.append(f"Mean {exp.metric} with its 95 % interval. {fidelity.note}")
        section.figures.append(
            (
                "conv_settings",
                plots.plot_effects(
                    effects, exp.metric, f"Accuracy by Conv2d setting at {fidelity.label}"
                ),
            )
        )
    if not invalid.empty:
        section.text.append(
            f"{len(invalid)} trial(s) asked for impossible Conv2d combinations "
            "and were refused before training:"
        )
        section.tables.append(("invalid_combinations", invalid))
    return section


SECTIONS: tuple[Callable[[Experiment], Section | None], ...] = (
    _summary,
    _search_tables,
    divergence,
    _lr_range,
    _brute_force,
    _dynamics,
    _remedies,
    _conv,
)


def build_sections(exp: Experiment) -> list[Section]:
    """Every section the experiment has data for. A section that fails is left out with a
    note, never the whole report: the study's results are written already."""
    sections = []
    for build in SECTIONS:
        try:
            section = build(exp)
        except Exception as exc:  # any failure drawing one section
            name = build.__name__.strip("_").replace("_", " ")
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            why = f"{type(exc).__name__}: {first[:200]}"
            log.warning("report: the %s section was left out (%s)", name, why)
            section = Section(
                f"Left out: {name}",
                [f"This section could not be drawn ({why})."],
            )
        if section is not None:
            sections.append(section)
    return sections


def write_report(exp: Experiment, out: str | Path | None = None, fmt: str = "both") -> Path:
    """Write the report for ``exp`` into ``out`` (default ``<experiment>/report``)."""
    folder = Path(out) if out is not None else exp.folder / REPORT_DIR
    with plots.literal_text():
        sections = build_sections(exp)
    return write_sections(f"Study report: {exp.name}", sections, folder, fmt, owned=out is None)
