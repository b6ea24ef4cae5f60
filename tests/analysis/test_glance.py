"""The report reads at a glance: key findings with numbers first, a table of contents,
plain tables with formatted numbers, long tables linked as CSV, no empty figure, and
diverged trials off the scale rather than setting it. (The browser's view of the same
page is test_browser.py.)"""

from __future__ import annotations

import math
import re

import matplotlib.pyplot as plt
import pandas as pd
import pytest

from analysis import load, plots, write_report
from analysis.report import MAX_INLINE_ROWS, fmt_value

from .conftest import remedy_experiment, write_experiment


def divergence_experiment(folder, n=30):
    """linear_w swept over lr (Optuna, min loss): diverged above lr = 0.5, objective 1e20;
    loss only (the regressions have no validation split), 3 epochs each."""
    trials, history = [], []
    for i in range(n):
        lr = 10 ** (-4 + 4.5 * i / (n - 1))
        diverged = lr > 0.5
        loss = 1e20 if diverged else 1.0 + 1e4 * lr
        tid = f"t{i:02d}"
        trials.append(
            {
                "trial_id": tid,
                "status": "diverged" if diverged else "completed",
                "config/lr": lr,
                "loss": math.nan if diverged else loss,
                "objective": loss,
                "best/objective": loss,
                "diverged": diverged,
                "epochs": 3,
                "time_s": 0.1,
                "timestamp": 1000.0 + i,
            }
        )
        for epoch in (1, 2, 3):
            history.append(
                {"trial_id": tid, "epoch": epoch, "loss": loss * (4 - epoch), "objective": loss}
            )
    spec = {
        "name": "lrs",
        "trainable": "linear_w",
        "metric": "loss",
        "mode": "min",
        "search": {"algorithm": "optuna", "seed": 0},
        "space": {"lr": {"loguniform": [1e-4, 3.0]}},
    }
    return write_experiment(folder, spec, trials, history)


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (0.00044394271, "0.0004439"),
        (183991.6760986, "183,992"),
        (1e20, "1e+20"),
        (3.0, "3"),
        (12000.0, "12,000"),
        (float("nan"), ""),
        (1922831994, "1922831994"),  # a seed or a count stays as it is
        (True, "True"),
        (2.5e-7, "2.5e-07"),
    ],
)
def test_numbers_are_formatted_for_reading(value, shown):
    assert fmt_value(value) == shown


def test_key_findings_come_first_with_numbers_and_a_table_of_contents(tmp_path):
    page = (
        write_report(load(divergence_experiment(tmp_path / "lrs")), tmp_path / "r") / "index.html"
    ).read_text()
    findings = page.index("Key findings")
    assert findings < page.index("<nav class='toc'>") < page.index("<h2 id='summary'>")
    box = page[findings : page.index("</section>", findings)]
    assert "Best: <b>loss = 2</b> (trial t00) with lr=0.0001." in box
    lrs = [10 ** (-4 + 4.5 * i / 29) for i in range(30)]
    stable, unstable = [x for x in lrs if x <= 0.5], [x for x in lrs if x > 0.5]
    assert f"Could not train: {len(unstable)} diverged, of 30 trials." in box
    assert (
        f"Stability boundary: SGD trained up to lr = {max(stable):.4g} and diverged from "
        f"lr = {min(unstable):.4g} on." in box
    )
    assert "Exact theory: the stable learning rates are 0.0001 … " in box
    # Every contents link leads to a section on the page.
    targets = re.findall(r"<a href='#([^']+)'>", page)
    assert len(targets) >= 3 and all(f"<h2 id='{t}'>" in page for t in targets)


def test_remedy_findings_at_two_seeds_claim_nothing(make_experiment, tmp_path):
    """Two seeds per remedy give no interval (fidelity.MIN_REPEATS): the key finding says
    so rather than naming a remedy that helped."""
    out = write_report(load(remedy_experiment(make_experiment)), tmp_path / "r")
    md = (out / "report.md").read_text()
    key = md[md.index("## Key findings") : md.index("## Summary")]
    assert "helped" not in key
    assert (
        "No remedy can be told from noise yet: 2 seed(s) per remedy, and an interval needs 3" in key
    )


def test_tables_are_plain_and_long_ones_are_linked_as_csv(tmp_path):
    out = write_report(load(divergence_experiment(tmp_path / "lrs", n=40)), tmp_path / "r")
    page = (out / "index.html").read_text()
    assert "<th>index</th>" not in page and "<th></th>" not in page  # no pandas index
    assert "<th>lr</th>" in page  # an effect table's rows are named by their parameter
    linked = re.findall(r"<b>([^<]+)</b>: ([\d,]+) rows in <a href='([^']+\.csv)'>", page)
    assert linked, "a table of more than MAX_INLINE_ROWS rows is linked"
    for label, rows, csv in linked:
        assert int(rows.replace(",", "")) > MAX_INLINE_ROWS
        assert len(pd.read_csv(out / csv)) == int(rows.replace(",", ""))
        assert f"<h3>{label}</h3>" not in page  # and not inlined as well
    for table in re.findall(r"<table>.*?</table>", page, flags=re.S):
        assert table.count("<tr>") - 1 <= MAX_INLINE_ROWS


def test_no_empty_figure_and_diverged_trials_are_off_the_scale(tmp_path):
    exp = load(divergence_experiment(tmp_path / "lrs"))
    out = write_report(exp, tmp_path / "r")
    # linear_w reports no validation loss: no learning-curve figure, rather than bare axes.
    assert not (out / "learning_curves.png").exists()
    assert (out / "optimisation_history.png").is_file()
    from analysis import tables

    history = tables.optimisation_history(exp)
    ax = plots.plot_history(history, "loss", "min")
    _, high = ax.get_ylim()
    assert high < 1e5  # set by the trials that trained (2 ... 4,400), not by 1e20
    marks = [c for c in ax.collections if c.get_label() == "diverged (off the scale)"]
    (mark,) = marks
    offsets = mark.get_offsets()
    assert len(offsets) == 6 and all(y == 1.0 for _, y in offsets)  # the top edge, axes coords
    assert ax.get_yscale() == "log"  # 2 ... 4,400: more than two decades
    plt.close("all")


def test_learning_curves_need_a_train_and_validation_pair():
    curves = pd.DataFrame({"trial_id": ["a", "a"], "epoch": [1, 2], "loss": [2.0, 1.0]})
    assert plots.plot_learning_curves(curves) is None
    pairs = curves.assign(val_loss=[3.0, 2.0])
    fig = plots.plot_learning_curves(pairs)
    assert fig is not None and plots.has_data(fig)
    empty, _ = plt.subplots()
    assert not plots.has_data(empty)
    plt.close("all")
