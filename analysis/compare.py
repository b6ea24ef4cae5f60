"""Several experiments side by side: ASHA vs FIFO, Optuna vs random, remedies across runs."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.axes import Axes

from . import plots, report, tables
from .errors import AnalysisError
from .load import Experiment, load
from .tables import remedies


def comparison_table(experiments: Sequence[Experiment]) -> pd.DataFrame:
    """One row per experiment: search, scheduler, trials by status, best value, epochs spent."""
    rows = []
    for exp in experiments:
        s = tables.summary(exp)
        rows.append(
            {
                "experiment": exp.name,
                "trainable": s["trainable"],
                "metric": f"{exp.metric} ({exp.mode})",
                "search": (s["search"] or {}).get("algorithm"),
                "scheduler": (s["scheduler"] or {}).get("name"),
                "trials": s["trials"],
                **{k: v for k, v in s["statuses"].items() if v},
                "best": s["best_value"],
                "epochs_spent": int(
                    pd.to_numeric(exp.trials["epochs"], errors="coerce").fillna(0).sum()
                    if "epochs" in exp.trials
                    else 0
                ),
                "trial_time_s": s["trial_time_s"],
            }
        )
    return pd.DataFrame(rows).set_index("experiment").fillna(0)


def progress_by_epochs(exp: Experiment) -> pd.DataFrame:
    """Best value so far against the epochs spent so far (trials in start order)."""
    history = tables.optimisation_history(exp)
    if history.empty:
        return history
    epochs = pd.to_numeric(exp.trials["epochs"], errors="coerce").fillna(0)
    order = tables.trial_order(exp)
    spent = pd.DataFrame({"order": order, "epochs": epochs}).sort_values("order")
    history = history.merge(spent, on="order", how="left")
    history["epochs_spent"] = history["epochs"].cumsum()
    return history


def _plot_progress(experiments: Sequence[Experiment], x: str, xlabel: str) -> Axes:
    _, ax = plt.subplots(figsize=(7, 4.2), layout="constrained")
    for exp in experiments:
        data = progress_by_epochs(exp)
        if not data.empty:
            ax.step(data[x], data["best_so_far"], where="post", label=exp.name)
    metrics = {e.metric for e in experiments}
    ax.set_xlabel(xlabel)
    ax.set_ylabel(" / ".join(sorted(metrics)) + " (best so far)")
    ax.set_title(f"Best so far against {xlabel}")
    ax.legend(fontsize="small")
    return ax


def write_comparison(folders: Sequence[str | Path], out: str | Path, fmt: str = "both") -> Path:
    """A report comparing experiments; writes the same kinds of files as write_report."""
    experiments = [load(f) for f in folders]
    if len(experiments) < 2:
        raise AnalysisError("study compare needs at least two experiment folders")
    with plots.literal_text():
        sections = [_section(experiments), *_range_beside_sweep(experiments)]
    title = "Comparison: " + ", ".join(e.name for e in experiments)
    return report.write_sections(title, sections, Path(out), fmt)


MODELS = {"mlp": "mnist_mlp", "cnn": "mnist_cnn"}


def range_beside_sweep(
    range_exp: Experiment, sweep: Experiment
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame] | None:
    """An lr range study and a sweep of the same model and data: the range curves, the
    range tests' summary, and the sweep's lr_50 (with its interval) per boundary group;
    None when they do not match or the sweep has no fitted boundary."""
    config = range_exp.spec.get("config") or {}
    model = MODELS.get(str(config.get("model", "mlp")))
    same_data = config.get("dataset", "mnist5k") == (sweep.spec.get("config") or {}).get(
        "dataset", "mnist5k"
    )
    if sweep.spec.get("trainable") != model or not same_data:
        return None
    curves, summary = tables.lr_range_curves(range_exp)
    bounds = tables.stability_boundary(sweep)
    if curves.empty or bounds.empty or "lr_50" not in bounds or bounds["lr_50"].isna().all():
        return None
    return curves, summary, bounds[["group", "lr_50", "lr_50_low", "lr_50_high"]]


def _range_beside_sweep(experiments: Sequence[Experiment]) -> list[report.Section]:
    sections = []
    ranges = [e for e in experiments if e.spec.get("trainable") == "lr_range"]
    sweeps = [e for e in experiments if e.spec.get("trainable") in MODELS.values()]
    for range_exp in ranges:
        for sweep in sweeps:
            found = range_beside_sweep(range_exp, sweep)
            if found is None:
                continue
            curves, summary, bounds = found
            section = report.Section(f"LR range test {range_exp.name} beside sweep {sweep.name}")
            section.text.append(
                "The range test's curves with the sweep's fitted lr at 50 % divergence risk "
                "(shaded: its 95 % interval). A range test holds each lr for one batch, so it "
                "blows up later than a run at a fixed lr diverges."
            )
            section.tables.append(("sweep_lr_50", bounds.set_index("group")))
            section.tables.append(("range_tests", summary))
            axes = plots.plot_lr_range(curves, summary)
            for row in bounds.itertuples():
                axes.axvline(row.lr_50, color="black", linestyle="--", linewidth=1)
                if row.lr_50_low == row.lr_50_low:
                    axes.axvspan(row.lr_50_low, row.lr_50_high, color="grey", alpha=0.15)
            section.figures.append(("range_beside_sweep", plots.figure_of(axes)))
            sections.append(section)
    return sections


def _section(experiments: Sequence[Experiment]) -> report.Section:
    section = report.Section("Experiments compared")
    section.tables.append(("comparison", comparison_table(experiments)))
    section.text.append(
        "Best value so far against trials started and against epochs spent: "
        "a scheduler or searcher that gets there with fewer epochs is cheaper."
    )
    section.figures.append(
        ("best_vs_trials", plots.figure_of(_plot_progress(experiments, "order", "trials started")))
    )
    section.figures.append(
        (
            "best_vs_epochs",
            plots.figure_of(_plot_progress(experiments, "epochs_spent", "epochs spent")),
        )
    )
    remedy_rows = []
    for exp in experiments:
        table = remedies.levels(exp)
        if not table.empty:
            remedy_rows.append(table.assign(experiment=exp.name).reset_index())
    if remedy_rows:
        section.tables.append(
            ("remedies", pd.concat(remedy_rows).set_index(["experiment", "remedy"]))
        )
    return section
