"""Experiment -> report folder: index.html (images embedded), report.md, PNGs and CSVs.

A section appears only when the experiment has the data for it. Everything is
computed first (tables.py), then drawn (plots.py), then written here.

The page reads at a glance (ARCHITECTURE.md, "The report"): the key findings first,
each a sentence with its numbers, gathered from the sections that computed them;
then a table of contents; figures two to a row where the page is wide enough, never
an empty one; tables without pandas' index column, numbers formatted, and per-epoch
tables (the data behind the curves) or any table longer than MAX_INLINE_ROWS linked
as their CSV rather than inlined.
"""

from __future__ import annotations

import base64
import html
import io
import logging
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.figure import Figure

from experiment_folder import FAILED, REPORT_DIR, csv_bytes

from . import importance, plots, remedies, tables
from .errors import AnalysisError
from .fidelity import equal_fidelity, repeat_keys
from .files import publish
from .load import Experiment

log = logging.getLogger(__name__)

FORMATS = ("html", "md", "both")
# Longer tables (per-epoch curves, a grid of losses) are linked as CSV, not inlined.
MAX_INLINE_ROWS = 25


@dataclass
class Section:
    title: str
    text: list[str] = field(default_factory=list)
    tables: list[tuple[str, pd.DataFrame]] = field(default_factory=list)
    figures: list[tuple[str, Figure]] = field(default_factory=list)
    # Sentences with numbers for the report's "Key findings", computed with the section.
    findings: list[str] = field(default_factory=list)
    # (label, relative href) to other pages: the course's links to each study's report.
    links: list[tuple[str, str]] = field(default_factory=list)


def fmt_value(value: Any) -> str:
    """A number as a reader wants it: 4 significant digits, thousands separated from
    10,000 on, powers of ten only for the very large or small; integers as integers."""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return ""
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        size = abs(value)
        if value == int(value) and size < 1e9:
            return f"{int(value):,}" if size >= 1e4 else str(int(value))  # a measured value
        if size >= 1e9 or size < 1e-4:
            return f"{value:.3g}"
        if size >= 1e4:
            return f"{value:,.0f}"
        return f"{value:.4g}"
    if isinstance(value, int):
        return str(value)  # counts, epochs, seeds: as they are (a seed 1,922,831,994 misleads)
    if hasattr(value, "item"):
        return fmt_value(value.item())
    return str(value)


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
    findings = []
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


def _divergence(exp: Experiment) -> Section | None:
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
    from .stability_map import momentum_check

    if not fit.fitted:
        section.text.append(f"Fitted stability map: {fit.reason}.")
        return
    from .stability_map import BOOTSTRAP

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
    _divergence,
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


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_") or "item"


def _png(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    plt.close(fig)
    return buffer.getvalue()


# What a Markdown viewer would render: emphasis, code, links and images, tables,
# headings, strike-through, raw HTML and entities. Backslash escapes show them literally.
_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>#|~&])")


def md_text(text: str, bold: bool = False) -> str:
    """Text as Markdown shows it literally: HTML and Markdown syntax escaped, on one line.

    With ``bold``, the report's own ``**...**`` emphasis is kept (its inner text escaped)."""
    flat = " ".join(str(text).split())
    if not bold:
        return _MD_SPECIAL.sub(r"\\\1", flat)
    parts = flat.split("**")
    if len(parts) % 2 == 0:  # unbalanced: show every asterisk literally
        return _MD_SPECIAL.sub(r"\\\1", flat)
    return "**".join(_MD_SPECIAL.sub(r"\\\1", p) for p in parts)


def _plain(frame: pd.DataFrame) -> pd.DataFrame:
    """The table as it is shown: a meaningful index becomes a column, a 0..n one goes, and
    a name on the columns (which pandas draws as an extra header row) is dropped."""
    if frame.index.name or not isinstance(frame.index, pd.RangeIndex):
        frame = frame.reset_index()
    frame = frame.copy()
    frame.columns = [str(c) for c in frame.columns]
    return frame


def _md_table(frame: pd.DataFrame) -> str:
    frame = _plain(frame)
    header = "| " + " | ".join(md_text(str(c)) for c in frame.columns) + " |"
    rule = "|" + "---|" * len(frame.columns)
    rows = [
        "| " + " | ".join(md_text(fmt_value(v)) for v in row) + " |"
        for row in frame.itertuples(index=False)
    ]
    return "\n".join([header, rule, *rows])


def _html_table(frame: pd.DataFrame) -> str:
    frame = _plain(frame)
    head = "".join(f"<th>{html.escape(c)}</th>" for c in frame.columns)
    body = "".join(
        "<tr>"
        + "".join(
            f"<td class='{'num' if _numeric(v) else 'txt'}'>{html.escape(fmt_value(v))}</td>"
            for v in row
        )
        + "</tr>"
        for row in frame.itertuples(index=False)
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _numeric(value: Any) -> bool:
    """Whether a cell is a number (right-aligned); a bool is not."""
    if isinstance(value, bool):
        return False
    kind = getattr(getattr(value, "dtype", None), "kind", "")
    return isinstance(value, (int, float)) or kind in ("i", "u", "f")


def _table_title(name: str) -> str:
    return name.replace("_", " ")


def _html_text(text: str) -> str:
    escaped = html.escape(text)
    return re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", escaped)


CSS = """body{font-family:system-ui,sans-serif;max-width:1400px;margin:1.5em auto;
padding:0 1.5em;color:#222;line-height:1.45}
h1{margin-bottom:0.3em}h2{border-bottom:1px solid #ddd;padding-bottom:0.2em;margin-top:2em}
.findings{background:#f4f8fc;border-left:4px solid #1f77b4;padding:0.6em 1.2em;margin:1em 0}
.findings h2{margin:0.2em 0;border:0}.findings li{margin:0.3em 0}
nav.toc{font-size:0.95em;margin:0.5em 0 1em}nav.toc a{margin-right:1.2em;white-space:nowrap}
.figs{display:grid;grid-template-columns:repeat(auto-fit,minmax(560px,1fr));gap:1em;
margin:1em 0}.figs figure{margin:0}.figs figure.wide{grid-column:1/-1}
img{max-width:100%;height:auto;display:block}
table{border-collapse:collapse;margin:0.5em 0 1.2em;font-size:0.9em}
td,th{border:1px solid #ccc;padding:3px 8px}th{background:#f3f3f3;text-align:left}
td.num{text-align:right;font-variant-numeric:tabular-nums}td.txt{text-align:left}
h3{font-size:1em;margin:1.2em 0 0.2em}p.csv{margin:0.3em 0}
.wide-table{overflow-x:auto;max-width:100%}"""
# A figure wider than this (inches) spans the whole row.
WIDE_INCHES = 8.0


def write_report(exp: Experiment, out: str | Path | None = None, fmt: str = "both") -> Path:
    """Write the report for ``exp`` into ``out`` (default ``<experiment>/report``)."""
    folder = Path(out) if out is not None else exp.folder / REPORT_DIR
    with plots.literal_text():
        sections = build_sections(exp)
    return write_sections(f"Study report: {exp.name}", sections, folder, fmt, owned=out is None)


def write_sections(
    title: str,
    sections: list[Section],
    folder: Path,
    fmt: str,
    owned: bool = False,
    md_name: str = "report.md",
    findings_title: str = "Key findings",
) -> Path:
    """Write sections as index.html (self-contained), ``md_name``, PNGs and CSVs in ``folder``.

    Everything is rendered in memory first, then published as a whole (files.publish):
    never through a link, and never leaving files of an earlier report behind."""
    if fmt not in FORMATS:
        raise AnalysisError(f"format={fmt!r}; allowed: {', '.join(FORMATS)}")
    files: dict[str, bytes] = {}
    md = [f"# {md_text(title)}", ""]
    page = [
        f"<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<meta name='viewport' content='width=device-width,initial-scale=1'>"
        f"<title>{html.escape(title)}</title><style>{CSS}</style></head><body>"
        f"<h1>{html.escape(title)}</h1>"
    ]
    findings = [f for section in sections for f in section.findings]
    if findings:
        md += [
            f"## {md_text(findings_title)}",
            "",
            *[f"- {md_text(f, bold=True)}" for f in findings],
        ]
        md.append("")
        page.append(
            "<section class='findings' id='key-findings'>"
            f"<h2>{html.escape(findings_title)}</h2><ul>"
            + "".join(f"<li>{_html_text(f)}</li>" for f in findings)
            + "</ul></section>"
        )
    anchors = _anchors(sections)
    page.append(
        "<nav class='toc'><b>Contents:</b> "
        # Spaces between the links: the only places a long contents line may wrap.
        + " ".join(f"<a href='#{a}'>{html.escape(s.title)}</a>" for s, a in anchors)
        + "</nav>"
    )
    for section, anchor in anchors:
        md += [f"## {md_text(section.title)}", ""]
        page.append(f"<h2 id='{anchor}'>{html.escape(section.title)}</h2>")
        for text in section.text:
            md += [md_text(text, bold=True), ""]
            page.append(f"<p>{_html_text(text)}</p>")
        if section.links:
            md += [" · ".join(f"[{md_text(label)}]({href})" for label, href in section.links), ""]
            page.append(
                "<p class='links'>"
                + " · ".join(
                    f"<a href='{html.escape(href, quote=True)}'>{html.escape(label)}</a>"
                    for label, href in section.links
                )
                + "</p>"
            )
        figures = _drawn(section.figures)
        if figures:
            page.append("<div class='figs'>")
        for name, fig in figures:
            wide = fig.get_size_inches()[0] > WIDE_INCHES
            data = _png(fig)
            files[f"{_slug(name)}.png"] = data
            md += [f"![{md_text(name)}]({_slug(name)}.png)", ""]
            alt = html.escape(_table_title(name))
            page.append(
                f"<figure{' class=wide' if wide else ''}><img alt='{alt}' "
                f"src='data:image/png;base64,{base64.b64encode(data).decode()}'></figure>"
            )
        if figures:
            page.append("</div>")
        for name, frame in section.tables:
            csv = f"{_slug(name)}.csv"
            files[csv] = csv_bytes(frame, index=True)
            label = _table_title(name)
            if len(frame) > MAX_INLINE_ROWS or "epoch" in frame.columns:  # curves: a CSV
                md += [f"**{md_text(label)}**: {len(frame):,} rows in [{csv}]({csv})", ""]
                page.append(
                    f"<p class='csv'><b>{html.escape(label)}</b>: {len(frame):,} rows in "
                    f"<a href='{csv}'>{csv}</a></p>"
                )
                continue
            md += [f"**{md_text(label)}**", "", _md_table(frame), ""]
            page.append(f"<h3>{html.escape(label)}</h3>")
            page.append(f"<div class='wide-table'>{_html_table(frame)}</div>")
    page.append("</body></html>")
    if fmt in ("md", "both"):
        files[md_name] = "\n".join(md).encode("utf-8")
    if fmt in ("html", "both"):
        files["index.html"] = "\n".join(page).encode("utf-8")
    publish(files, folder, owned)
    log.info("report in %s", folder)
    return folder


def _anchors(sections: list[Section]) -> list[tuple[Section, str]]:
    """Each section with a unique id for the table of contents."""
    seen: set[str] = set()
    out = []
    for section in sections:
        base = _slug(section.title).lower()
        anchor, n = base, 2
        while anchor in seen:
            anchor, n = f"{base}-{n}", n + 1
        seen.add(anchor)
        out.append((section, anchor))
    return out


def _drawn(figures: list[tuple[str, Figure]]) -> list[tuple[str, Figure]]:
    """The figures that draw something; an empty one is closed and left out."""
    kept = []
    for name, fig in figures:
        if plots.has_data(fig):
            kept.append((name, fig))
        else:
            log.info("report: figure %s has nothing to draw; left out", name)
            plt.close(fig)
    return kept
