"""The numbers behind each report section, on hand-built and real data."""

from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd
import pytest

from analysis import AnalysisError, load, load_many, tables, write_report
from analysis.tables import importance, remedies
from trainables import TRAINABLES

from .conftest import remedy_experiment


def _landscape(make_experiment, name, points):
    trials = [
        {
            "trial_id": f"t{i}",
            "status": "completed",
            "config/w": w,
            "config/b": b,
            "loss": TRAINABLES["loss_landscape"]({"w": w, "b": b})["loss"],
            "objective": 0.0,
            "epochs": 1,
        }
        for i, (w, b) in enumerate(points)
    ]
    space = {"w": {"grid_range": [0.0, 4.0, 0.1]}}
    if len({b for _, b in points}) > 1:
        space["b"] = {"grid": sorted({b for _, b in points})}
    spec = {
        "name": name,
        "trainable": "loss_landscape",
        "metric": "loss",
        "mode": "min",
        "search": {"algorithm": "grid"},
        "space": space,
    }
    return load(make_experiment(name, spec=spec, trials=trials))


def test_brute_force_curve_is_the_seeds(make_experiment):
    ws = [round(w, 1) for w in np.arange(0.0, 4.1, 0.1)]
    curve = tables.brute_force_curve(_landscape(make_experiment, "bf", [(w, 0.0) for w in ws]))
    assert len(curve) == 41 and curve["w"].is_monotonic_increasing
    best = curve.loc[curve["mse"].idxmin()]
    assert best["w"] == pytest.approx(2.0) and best["mse"] == pytest.approx(0.0, abs=1e-20)
    assert curve["mse"].iloc[0] == pytest.approx(18.6667, abs=1e-4)
    assert curve["mse"].iloc[-1] == pytest.approx(18.6667, abs=1e-4)


def test_loss_surface_is_a_meshgrid_with_the_minimum_at_w2_b0(make_experiment):
    points = [(w, b) for w in (1.0, 2.0, 3.0) for b in (-1.0, 0.0, 1.0, 2.0)]
    surface = tables.loss_surface(_landscape(make_experiment, "surf", points))
    assert surface.mse.shape == (4, 3)  # rows are b, columns are w, as numpy.meshgrid
    assert surface.w[0].tolist() == [1.0, 2.0, 3.0] and surface.b[:, 0].tolist() == [-1, 0, 1, 2]
    assert surface.minimum == (2.0, 0.0, 0.0)
    assert surface.mse[3, 0] == pytest.approx(
        TRAINABLES["loss_landscape"]({"w": 1, "b": 2})["loss"]
    )


def _lr_experiment(make_experiment, rows):
    trials = [
        {
            "trial_id": f"t{i}",
            "status": "diverged" if bad else "completed",
            "config/lr": lr,
            "config/batch_size": bs,
            "loss": 1.0 / (i + 1),
            "objective": 1e20 if bad else 1.0 / (i + 1),
            "epochs": 3,
        }
        for i, (lr, bs, bad) in enumerate(rows)
    ]
    spec = {
        "name": "lr",
        "trainable": "mnist_mlp",
        "metric": "loss",
        "mode": "min",
        "space": {"lr": {"loguniform": [1e-4, 10]}, "batch_size": {"choice": [16, 256]}},
    }
    return load(make_experiment("lr", spec=spec, trials=trials))


def test_stability_boundary_on_a_constructed_case(make_experiment):
    exp = _lr_experiment(
        make_experiment,
        [
            (0.001, 16, False),
            (0.01, 16, False),
            (0.1, 16, True),
            (1.0, 16, True),
            (0.01, 256, False),
            (0.1, 256, False),
            (0.3, 256, False),
            (1.0, 256, True),
        ],
    )
    bounds = tables.stability_boundary(exp).set_index("group")
    small, large = bounds.loc["batch_size=16"], bounds.loc["batch_size=256"]
    assert small["largest_stable_lr"] == 0.01 and small["smallest_diverged_lr"] == 0.1
    assert small["boundary_lr"] == pytest.approx(math.sqrt(0.01 * 0.1))
    assert large["largest_stable_lr"] == 0.3 and large["smallest_diverged_lr"] == 1.0
    assert (small["stable"], small["diverged"]) == (2, 2)


def test_overlapping_stable_and_diverged_lrs_give_no_boundary():
    result = tables.boundary(pd.Series([0.1, 0.2, 0.3]), pd.Series([False, True, False]))
    assert result["largest_stable_lr"] == 0.3 and result["smallest_diverged_lr"] == 0.2
    assert math.isnan(result["boundary_lr"])


def test_lr_points_mark_diverged_trials(make_experiment):
    exp = _lr_experiment(make_experiment, [(0.01, 16, False), (1.0, 16, True)])
    points = tables.lr_points(exp)
    assert points["diverged"].tolist() == [False, True]
    assert points["lr"].tolist() == [0.01, 1.0]


def test_remedies_levels_pairs_and_gap_curves(make_experiment):
    exp = load(remedy_experiment(make_experiment))
    table = remedies.levels(exp)
    assert table.index.tolist() == ["baseline", "dropout", "all"]
    assert table.loc["baseline", "val_acc mean"] == pytest.approx(0.81)
    assert table.loc["dropout", "test_acc mean"] == pytest.approx(0.855)
    assert table.loc["all", "gap mean"] == pytest.approx(0.01)
    # Two seeds: means, but no interval (fidelity.MIN_REPEATS is 3).
    assert np.isnan(table.loc["baseline", "val_acc low"])
    assert table.loc["all", "epochs_to_best mean"] == 26
    assert (table["n"] == 2).all()
    paired = remedies.paired(exp)
    # dropout - baseline per seed: +0.06 and +0.06: a constant shift, a zero-width interval
    assert paired.loc["dropout", "val_acc diff"] == pytest.approx(0.06)
    assert np.isnan(paired.loc["dropout", "val_acc low"])
    assert paired.loc["dropout", "n_seeds"] == 2
    curves = remedies.gap_curves(exp)
    assert curves.loc[2, "baseline"] == pytest.approx(0.14)
    assert curves.loc[1, "all"] == pytest.approx(0.005)


def test_remedies_on_a_search_split_each_remedy_at_its_median(make_experiment):
    trials = [
        {
            "trial_id": f"t{i}",
            "status": "completed",
            "config/dropout": d,
            "config/lr": 0.1,
            "val_acc": acc,
            "test_acc": acc,
            "gap": 0.1 - d / 10,
            "best_epoch": 5,
            "best/val_acc": acc,
            "objective": acc,
            "epochs": 5,
        }
        for i, (d, acc) in enumerate([(0.0, 0.8), (0.1, 0.82), (0.4, 0.9), (0.5, 0.92)])
    ]
    spec = {
        "name": "s",
        "trainable": "mnist_mlp",
        "metric": "val_acc",
        "mode": "max",
        "space": {"dropout": {"uniform": [0, 0.6]}},
    }
    table = remedies.search_split(load(make_experiment("s", spec=spec, trials=trials)))
    assert table.loc["dropout", "split at"] == pytest.approx(0.25)
    assert table.loc["dropout", "mean val_acc at or above"] == pytest.approx(0.91)
    assert table.loc["dropout", "mean val_acc below"] == pytest.approx(0.81)
    assert table.loc["dropout", "difference"] == pytest.approx(0.10)
    assert table.loc["dropout", "95% CI low"] < 0.10 < table.loc["dropout", "95% CI high"]
    assert table.loc["dropout", "at_epoch"] == "final"


def test_status_counts_and_summary(make_experiment):
    statuses = [
        "completed",
        "completed",
        "stopped",
        "diverged",
        "invalid",
        "error",
        "early_stopped",
    ]
    trials = [
        {
            "trial_id": f"t{i}",
            "status": s,
            "val_acc": 0.5 + i / 100,
            "best/val_acc": 0.5 + i / 100,
            "config/lr": 0.01 * (i + 1),
            "time_s": 2.0,
        }
        for i, s in enumerate(statuses)
    ]
    spec = {
        "name": "c",
        "trainable": "mnist_mlp",
        "metric": "val_acc",
        "mode": "max",
        "space": {"lr": {"loguniform": [1e-3, 1]}},
        "run": {"wall_s": 12.5},
    }
    summary = tables.summary(load(make_experiment("c", spec=spec, trials=trials)))
    assert summary["statuses"] == {
        "completed": 2,
        "stopped": 1,
        "early_stopped": 1,
        "diverged": 1,
        "invalid": 1,
        "error": 1,
        "unfinished": 0,
    }
    # The best among scored trials (completed, stopped, early_stopped): t6 at 0.56.
    assert summary["best_trial"] == "t6" and summary["best_value"] == pytest.approx(0.56)
    assert summary["wall_s"] == 12.5 and summary["trial_time_s"] == 14.0


def test_importance_finds_the_parameter_that_matters(make_experiment):
    rng = np.random.default_rng(0)
    trials = []
    for i in range(40):
        lr, momentum = 10 ** rng.uniform(-3, 0), rng.uniform(0, 0.9)
        acc = 0.95 - 0.2 * abs(math.log10(lr) + 1.5)  # only lr matters
        trials.append(
            {
                "trial_id": f"t{i}",
                "status": "completed",
                "config/lr": lr,
                "config/momentum": momentum,
                "val_acc": acc,
                "objective": acc,
                "best/objective": acc,
            }
        )
    spec = {
        "name": "imp",
        "trainable": "mnist_mlp",
        "metric": "val_acc",
        "mode": "max",
        "space": {"lr": {"loguniform": [1e-3, 1.0]}, "momentum": {"uniform": [0, 0.9]}},
    }
    result = importance.trained_importance(load(make_experiment("imp", spec=spec, trials=trials)))
    scores = result.table["importance"]
    assert scores.index[0] == "lr" and scores["lr"] > 0.9
    assert result.table.loc["lr", "ranked first"] == 1.0  # every bootstrap refit agrees
    assert scores.sum() == pytest.approx(1.0)


def test_param_effects_bin_log_uniform_parameters(make_experiment):
    exp = _lr_experiment(make_experiment, [(10**e, 16, False) for e in np.linspace(-4, 1, 10)])
    effect = tables.param_effects(exp)["lr"]
    assert effect["trials"].sum() == 10 and len(effect) == 5
    assert effect.index[0].startswith("0.0001")  # log-spaced bins: 2 trials per decade


def test_load_many_tags_experiments(make_experiment):
    first = remedy_experiment(make_experiment)
    second = make_experiment(
        "other",
        spec={"name": "other", "trainable": "linear_w", "metric": "loss", "mode": "min"},
        trials=[{"trial_id": "x", "status": "completed", "loss": 1.0}],
    )
    trials, history = load_many([first, second])
    assert trials["experiment"].value_counts().to_dict() == {"remedies": 6, "other": 1}
    assert set(history["experiment"]) == {"remedies", "other"}


def test_not_an_experiment_and_empty_experiments(tmp_path, make_experiment):
    with pytest.raises(AnalysisError, match="no such folder"):
        load(tmp_path / "missing")
    with pytest.raises(AnalysisError, match="not a study folder"):
        load(tmp_path)
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "spec.yaml").write_text("name: empty\n")
    with pytest.raises(AnalysisError, match="nothing ran yet"):
        load(tmp_path / "empty")


def test_exact_stability_intervals_and_agreement_with_the_trials(make_experiment):
    """x = [1, 10]: stable below 0.0101 and in a pocket around 0.5. A trial just above
    the first limit ran too few epochs to overflow, and the table says so."""
    spec = {
        "name": "pockets",
        "trainable": "linear_w",
        "metric": "loss",
        "mode": "min",
        "config": {"data": {"x": [1, 10], "y": [2, 20]}, "epochs": 100},
        "space": {"lr": {"loguniform": [0.001, 0.6]}},
    }
    rows = [(0.005, "completed"), (0.0102, "completed"), (0.3, "diverged"), (0.5, "completed")]
    trials = [
        {"trial_id": f"t{i}", "status": s, "config/lr": lr, "config/epochs": 100, "loss": 1.0}
        for i, (lr, s) in enumerate(rows)
    ]
    exp = load(make_experiment(spec=spec, trials=trials))
    intervals = tables.stable_intervals(exp)
    assert len(intervals) == 2
    assert intervals.iloc[0]["stable_to"] == pytest.approx(0.0101031147, rel=1e-8)
    assert (
        intervals.iloc[1]["stable_from"] < 0.5 <= intervals.iloc[1]["stable_to"]
    )  # to the last lr
    agreement = tables.stability_agreement(exp).set_index("trial_id")
    assert agreement["agrees"].tolist() == [True, False, True, True]
    assert agreement.loc["t1", "theory"] == "diverges"
    assert 1000 < agreement.loc["t1", "epochs_to_overflow"] < 1500
    assert "the trial ran 100" in agreement.loc["t1", "why"]
    assert agreement.loc["t3", "theory"] == "stable"  # the pocket


def test_no_exact_stability_when_the_data_is_searched(make_experiment):
    spec = {
        "name": "d",
        "trainable": "linear_w",
        "metric": "loss",
        "space": {"lr": {"grid": [0.01, 0.1]}, "data": {"grid": ["seed", "outlier"]}},
    }
    trials = [
        {"trial_id": "a", "status": "completed", "config/lr": 0.01, "loss": 1.0},
        {"trial_id": "b", "status": "completed", "config/lr": 0.1, "loss": 1.0},
    ]
    assert tables.stable_intervals(load(make_experiment(spec=spec, trials=trials))).empty


def test_lr_range_curves_and_their_report_section(make_experiment, tmp_path):
    spec = {
        "name": "range",
        "trainable": "lr_range",
        "metric": "smoothed_loss",
        "mode": "min",
        "search": {"algorithm": "grid"},
        "space": {"momentum": {"grid": [0.0, 0.9]}},
    }
    trials, history = [], []
    for i, (momentum, blew) in enumerate(((0.0, 2.5), (0.9, 0.9))):
        trials.append(
            {
                "trial_id": f"t{i}",
                "status": "early_stopped",
                "config/momentum": momentum,
                "smoothed_loss": 9.0,
                "diverged_lr": blew,
                "suggested_lr": blew / 10,
            }
        )
        for step, lr in enumerate(np.geomspace(1e-4, blew, 20), start=1):
            loss = 2.3 - step * 0.05 if lr < blew / 2 else 9.0
            history.append({"trial_id": f"t{i}", "epoch": step, "lr": lr, "smoothed_loss": loss})
    exp = load(make_experiment(spec=spec, trials=trials, history=history))
    curves, summary = tables.lr_range_curves(exp)
    assert len(curves) == 40 and set(curves["trial_id"]) == {"t0", "t1"}
    assert summary.set_index("momentum")["diverged_lr"].to_dict() == {0.0: 2.5, 0.9: 0.9}
    report = write_report(exp, tmp_path / "rep", "md")
    text = (report / "report.md").read_text()
    assert "## LR range test" in text and (report / "lr_range.png").is_file()


def _network_study(make_experiment, rule, n=80):
    """mnist_mlp trials, lr log-uniform and momentum uniform; ``rule`` says which diverge."""
    rng = np.random.default_rng(1)
    trials = []
    for i in range(n):
        lr, momentum = float(10 ** rng.uniform(-3, 1)), float(rng.uniform(0, 0.9))
        bad = rule(lr, momentum)
        trials.append(
            {
                "trial_id": f"t{i}",
                "status": "diverged" if bad else "completed",
                "config/lr": lr,
                "config/momentum": momentum,
                "loss": 0.5,
                "val_acc": 0.1 if bad else 0.9,
            }
        )
    spec = {
        "name": "net",
        "trainable": "mnist_mlp",
        "metric": "val_acc",
        "mode": "max",
        "space": {"lr": {"loguniform": [1e-3, 10]}, "momentum": {"uniform": [0, 0.9]}},
    }
    return load(make_experiment(spec=spec, trials=trials))


def test_the_fitted_map_recovers_a_known_boundary(make_experiment):
    """Trials diverge exactly where lr > 0.5 (1 + momentum): the quadratic model's law."""
    from analysis.tables.divergence_fit import lr_50_at, momentum_check

    exp = _network_study(make_experiment, lambda lr, m: lr > 0.5 * (1 + m))
    fit = tables.stability_map(exp)
    assert fit.fitted and fit.features == ["log10_lr", "momentum"]
    for momentum in (0.1, 0.45, 0.8):
        estimate, low, high = lr_50_at(fit, {"momentum": momentum})
        truth = 0.5 * (1 + momentum)
        assert truth / 1.5 < estimate < truth * 1.5
        assert low <= estimate <= high
    assert 0.2 < fit.share_diverging < 0.45  # log10 lr from -3 to 1: about a third
    assert "consistent with it" in momentum_check(fit) and "not consistent" not in momentum_check(
        fit
    )
    bounds = tables.stability_boundary(exp)
    assert {"lr_50", "lr_50_low", "lr_50_high", "largest_stable_lr"} <= set(bounds.columns)
    assert bounds["lr_50"].notna().all()


def test_a_momentum_that_lowers_the_limit_is_called_inconsistent(make_experiment):
    from analysis.tables.divergence_fit import momentum_check

    exp = _network_study(make_experiment, lambda lr, m: lr > 0.5 * (1 - m))
    assert "not consistent with it" in momentum_check(tables.stability_map(exp))


def test_no_fitted_map_without_divergence(make_experiment):
    exp = _network_study(make_experiment, lambda lr, m: False)
    fit = tables.stability_map(exp)
    assert not fit.fitted and fit.reason == "no fitted map: no trial diverged"
    assert tables.stability_boundary(exp).empty


def test_compare_puts_a_range_test_beside_the_sweeps_boundary(make_experiment, tmp_path):
    from analysis import write_comparison

    sweep = _network_study(make_experiment, lambda lr, m: lr > 0.5 * (1 + m))
    spec = {
        "name": "range",
        "trainable": "lr_range",
        "metric": "smoothed_loss",
        "mode": "min",
        "config": {"model": "mlp", "dataset": "mnist5k"},
        "search": {"algorithm": "grid"},
        "space": {"momentum": {"grid": [0.5]}},
    }
    trials = [
        {
            "trial_id": "r0",
            "status": "early_stopped",
            "config/momentum": 0.5,
            "smoothed_loss": 9.0,
            "diverged_lr": 4.0,
            "suggested_lr": 0.4,
        }
    ]
    history = [
        {"trial_id": "r0", "epoch": i + 1, "lr": lr, "smoothed_loss": 2.3 - 0.01 * i}
        for i, lr in enumerate(np.geomspace(1e-4, 4.0, 30))
    ]
    ranged = make_experiment("range", spec=spec, trials=trials, history=history)
    out = write_comparison([ranged, sweep.folder], tmp_path / "cmp", "md")
    text = (out / "report.md").read_text()
    assert "LR range test range beside sweep net" in text
    assert (out / "range_beside_sweep.png").is_file() and (out / "sweep_lr_50.csv").is_file()


# --- what a study can tell (issue 25): each rule at, below and above its threshold -------


def _lr_only_study(make_experiment, outcomes):
    """mnist_mlp trials with only lr searched: ``outcomes`` is [(lr, diverged)]."""
    trials = [
        {
            "trial_id": f"t{i}",
            "status": "diverged" if bad else "completed",
            "config/lr": lr,
            "loss": 0.5,
            "val_acc": 0.1 if bad else 0.9,
        }
        for i, (lr, bad) in enumerate(outcomes)
    ]
    spec = {
        "name": "lr",
        "trainable": "mnist_mlp",
        "metric": "val_acc",
        "mode": "max",
        "space": {"lr": {"loguniform": [1e-3, 10]}},
    }
    return load(make_experiment(spec=spec, trials=trials))


@pytest.mark.parametrize(
    ("outcomes", "fitted", "reason"),
    [
        # below: 2 diverged (the mlp-tour case had 1 of 8)
        (
            [(0.01, 0), (0.02, 0), (0.05, 0), (0.3, 1), (0.1, 0), (0.5, 1), (0.2, 0), (0.08, 0)],
            False,
            "2 of 8 trials diverged, too few to fit a boundary",
        ),
        # at: 3 and 3, overlapping in lr (0.3 trained above 0.2 diverged)
        ([(0.01, 0), (0.05, 0), (0.3, 0), (0.2, 1), (0.5, 1), (1.0, 1)], True, ""),
        # enough of each but cleanly apart in lr: the bracket says it all
        (
            [(0.01, 0), (0.05, 0), (0.1, 0), (0.2, 1), (0.5, 1), (1.0, 1)],
            False,
            "every diverging lr lies above every stable one",
        ),
    ],
)
def test_a_boundary_is_fitted_only_where_the_trials_carry_one(
    make_experiment, outcomes, fitted, reason
):
    fit = tables.stability_map(_lr_only_study(make_experiment, outcomes))
    assert fit.fitted is fitted
    assert reason in fit.reason
    if fitted:  # the bootstrap is accounted for: used and left out add up to 200
        from analysis.tables.divergence_fit import BOOTSTRAP

        assert len(fit.boot) + sum(fit.dropped.values()) == BOOTSTRAP


def test_the_report_counts_the_bootstrap_refits_it_used_and_why_it_left_others_out(
    make_experiment, tmp_path
):
    outcomes = [(0.01, 0), (0.05, 0), (0.3, 0), (0.2, 1), (0.5, 1), (1.0, 1)]
    out = write_report(_lr_only_study(make_experiment, outcomes), tmp_path / "r")
    md = (out / "report.md").read_text()
    assert re.search(r"from (\d+) of 200 bootstrap refits \(left out: \d+ with one outcome", md)
    assert "3 of 6 trials (50 %) diverged" in md


@pytest.mark.parametrize(("n", "ranked"), [(9, False), (10, True), (16, True)])
def test_importance_is_ranked_only_from_ten_trials_that_trained(make_experiment, n, ranked):
    rng = np.random.default_rng(3)
    trials = []
    for i in range(n):
        width, lr = int(rng.choice([8, 64])), float(10 ** rng.uniform(-3, -1))
        trials.append(
            {
                "trial_id": f"t{i}",
                "status": "completed",
                "config/width": width,
                "config/lr": lr,
                "val_acc": 0.5 + 0.3 * (width == 64) + rng.normal(0, 0.01),
                "epochs": 5,
            }
        )
    spec = {
        "name": "imp",
        "trainable": "mnist_mlp",
        "metric": "val_acc",
        "mode": "max",
        "space": {"width": {"choice": [8, 64]}, "lr": {"loguniform": [1e-3, 0.1]}},
    }
    result = importance.trained_importance(load(make_experiment(spec=spec, trials=trials)))
    assert (result.table is not None) is ranked
    if not ranked:
        assert f"{n} trial(s) trained, too few to rank parameters" in result.note


def test_the_stability_headline_agrees_with_its_table(make_experiment, tmp_path):
    """Two momentum levels with different limits: the headline is per momentum, never
    'trained up to 0.6 and diverged from 0.5' across them; without groups, overlapping
    outcomes are said to be decided by more than lr."""
    from analysis.report.stability import _boundary_finding

    rows = [(0.1, 0.0, 0), (0.4, 0.0, 0), (0.5, 0.0, 1), (0.6, 0.9, 0), (1.2, 0.9, 1)]
    trials = [
        {
            "trial_id": f"t{i}",
            "status": "diverged" if bad else "completed",
            "config/lr": lr,
            "config/momentum": m,
            "loss": 0.5,
            "val_acc": 0.9,
        }
        for i, (lr, m, bad) in enumerate(rows)
    ]
    spec = {
        "name": "mom",
        "trainable": "mnist_mlp",
        "metric": "val_acc",
        "mode": "max",
        "space": {"lr": {"loguniform": [1e-3, 10]}, "momentum": {"uniform": [0, 0.9]}},
    }
    exp = load(make_experiment(spec=spec, trials=trials))
    points = tables.lr_points(exp)
    overall = tables.boundary(points["lr"], points["diverged"])
    line = _boundary_finding(overall, tables.stability_boundary(exp))
    assert line.startswith("Stability boundary by momentum: ")
    assert "trained up to lr = 0.4, diverged from 0.5" in line
    assert "trained up to lr = 0.6, diverged from 1.2" in line
    alone = _boundary_finding(overall, pd.DataFrame())
    assert alone.startswith("No single lr separates the trials: one trained at lr = 0.6")


def test_the_regressions_report_their_exact_least_squares_floor(make_experiment, tmp_path):
    """lr-divergence's data hold the outlier y = 1000: no trial can go below the
    least-squares MSE, which the report states, draws and subtracts."""
    from trainables.model_configs import OUTLIER_DATA

    x, y = (np.asarray(v, dtype=float) for v in OUTLIER_DATA)
    w = float(x @ y / (x @ x))
    floor = float(np.mean((y - w * x) ** 2))
    trials = [
        {
            "trial_id": f"t{i}",
            "status": "completed",
            "config/lr": lr,
            "config/data": "outlier",
            "loss": floor * (1 + lr),
            "objective": floor * (1 + lr),
        }
        for i, lr in enumerate((0.001, 0.01, 0.02))
    ]
    spec = {
        "name": "floor",
        "trainable": "linear_w",
        "metric": "loss",
        "mode": "min",
        "config": {"data": "outlier", "epochs": 100},
        "space": {"lr": {"loguniform": [1e-4, 0.1]}},
    }
    exp = load(make_experiment(spec=spec, trials=trials))
    got = tables.loss_floor(exp)
    assert got["w"] == pytest.approx(w) and got["loss"] == pytest.approx(floor)
    out = write_report(exp, tmp_path / "r")
    md = (out / "report.md").read_text()
    key = md[md.index("## Key findings") : md.index("## Summary")]
    assert f"The smallest possible MSE on this data is {floor:,.0f}" in key
    assert "(the outlier y = 1000 puts it there); the best trial is " in key
    points = pd.read_csv(out / "lr_vs_loss.csv")
    assert points["excess_loss"].to_numpy() == pytest.approx(points["loss"] - floor)
    # Data that vary between trials have no single floor.
    assert (
        tables.loss_floor(
            load(
                make_experiment(
                    spec={
                        **spec,
                        "space": {
                            "lr": {"loguniform": [1e-4, 0.1]},
                            "data_seed": {"choice": [0, 1]},
                        },
                    },
                    trials=trials,
                )
            )
        )
        is None
    )
