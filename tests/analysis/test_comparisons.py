"""Comparisons an expert would trust (issue 14), on hand-made folders with a known truth.

Each test builds an experiment whose answer is known by construction and checks
that the analysis recovers it: a parameter that only looks strong because ASHA
stopped its trials early, a seed grid, a remedy with a known shift and one with
none, a dose that acts in proportion, divergence that depends on lr alone, and a
study whose trials all tie.
"""

from __future__ import annotations

import numpy as np
import pytest

from analysis import load, tables, write_report
from analysis.tables import importance, remedies
from analysis.tables.fidelity import equal_fidelity

from .conftest import write_experiment


def _asha_trap(folder):
    """``width`` has no effect at any epoch, but every width-8 trial was stopped at
    epoch 2 while half the width-64 trials ran to epoch 20 (accuracy rises with epochs)."""
    rng = np.random.default_rng(1)
    trials, history = [], []
    for i in range(24):
        width = 8 if i % 2 else 64
        epochs = 2 if width == 8 or i % 4 == 0 else 20
        curve = [0.5 + 0.4 * (1 - np.exp(-e / 5)) + rng.normal(0, 0.005) for e in range(1, 21)]
        trials.append(
            {
                "trial_id": f"t{i}",
                "status": "completed" if epochs == 20 else "stopped",
                "config/width": width,
                "config/lr": 10 ** rng.uniform(-3, -1),
                "val_acc": curve[epochs - 1],
                "best/val_acc": max(curve[:epochs]),
                "objective": max(curve[:epochs]),
                "best/objective": max(curve[:epochs]),
                "epochs": epochs,
            }
        )
        history += [
            {"trial_id": f"t{i}", "epoch": e + 1, "val_acc": curve[e]} for e in range(epochs)
        ]
    spec = {
        "name": "trap",
        "trainable": "mnist_mlp",
        "metric": "val_acc",
        "mode": "max",
        "scheduler": {"name": "asha"},
        "space": {"width": {"choice": [8, 64]}, "lr": {"loguniform": [1e-3, 0.1]}},
    }
    return load(write_experiment(folder, spec, trials, history))


def test_a_parameter_that_only_looks_strong_at_mixed_fidelity(tmp_path):
    exp = _asha_trap(tmp_path / "trap")
    # What the old tables did: each trial's best over its own run, mixed epochs.
    mixed = tables.metric_values(exp).groupby(exp.trials["config/width"]).mean()
    assert mixed[64] - mixed[8] > 0.1  # looks like width matters a lot
    fidelity = equal_fidelity(exp)
    assert fidelity.at_epoch == "2"
    effect = tables.param_effects(exp, fidelity)["width"]
    assert (effect["at_epoch"] == "2").all()
    means = effect["mean val_acc"]
    assert abs(means["64"] - means["8"]) < 0.01  # at equal fidelity: no effect
    low, high = effect["95% CI low"], effect["95% CI high"]
    assert low["64"] < means["8"] < high["64"]  # the intervals say so too


def test_a_seed_grid_is_repeats_and_variants_are_the_parameter(tmp_path):
    trials = []
    for variant, shift in (("baseline", 0.0), ("dropout", 0.05), ("momentum", 0.1)):
        for seed in range(4):
            acc = 0.8 + shift + 0.01 * seed
            trials.append(
                {
                    "trial_id": f"{variant}-{seed}",
                    "status": "completed",
                    "variant": variant,
                    "config/seed": seed,
                    "val_acc": acc,
                    "best/val_acc": acc,
                    "objective": acc,
                    "epochs": 10,
                }
            )
    spec = {
        "name": "rep",
        "trainable": "mnist_mlp",
        "metric": "val_acc",
        "mode": "max",
        "variants": {"baseline": {}, "dropout": {"dropout": 0.3}, "momentum": {"momentum": 0.9}},
        "space": {"seed": {"grid": [0, 1, 2, 3]}},
    }
    exp = load(write_experiment(tmp_path / "rep", spec, trials))
    assert exp.params == ["variant"]
    assert set(tables.param_effects(exp)) == {"variant"}
    result = importance.trained_importance(exp)
    # variant is the one parameter (seed would make two): fANOVA has nothing to split
    assert result.table is None and "only variant varies" in result.note
    assert "seed" not in tables.top_trials(exp).columns


def _remedy_study(folder, shifts, seeds=5, noise=0.01, strengths=None):
    """Variants on the same seeds; val_acc = seed effect + the variant's shift + noise."""
    rng = np.random.default_rng(7)
    seed_effect = rng.normal(0, 0.03, seeds)  # seeds differ a lot: pairing must remove it
    trials = []
    for variant, shift in shifts.items():
        for seed in range(seeds):
            val = 0.85 + seed_effect[seed] + shift + rng.normal(0, noise)
            row = {
                "trial_id": f"{variant}-{seed}",
                "status": "completed",
                "variant": variant,
                "config/seed": seed,
                "config/weight_decay": (strengths or {}).get(variant, 0.0),
                "val_acc": val,
                "test_acc": val - 0.01,
                "gap": 0.1 - shift,
                "best_epoch": 10,
                "best/val_acc": val,
                "objective": val,
                "epochs": 20,
            }
            trials.append(row)
    spec = {
        "name": "rem",
        "trainable": "mnist_mlp",
        "metric": "val_acc",
        "mode": "max",
        "variants": {v: {} for v in shifts},
        "space": {"seed": {"grid": list(range(seeds))}},
    }
    return load(write_experiment(folder, spec, trials))


def test_remedies_paired_by_seed_find_a_known_shift_and_no_effect(tmp_path):
    exp = _remedy_study(tmp_path / "rem", {"baseline": 0.0, "helps": 0.04, "nothing": 0.0})
    paired = remedies.paired(exp)
    helps, nothing = paired.loc["helps"], paired.loc["nothing"]
    assert helps["val_acc low"] < 0.04 < helps["val_acc high"]
    assert remedies.detectable(helps["val_acc low"], helps["val_acc high"]) is True
    assert nothing["val_acc low"] < 0 < nothing["val_acc high"]
    assert remedies.detectable(nothing["val_acc low"], nothing["val_acc high"]) is False
    said = remedies.sentences(paired)
    assert any(s.startswith("helps:") and "beyond noise" in s for s in said)
    assert any(s.startswith("nothing:") and "no detectable effect at 5 seeds" in s for s in said)
    # Unpaired, the seeds' spread (0.03) would hide the 0.04 shift: levels' intervals overlap.
    levels = remedies.levels(exp)
    assert levels.loc["helps", "val_acc low"] < levels.loc["baseline", "val_acc high"]


@pytest.mark.parametrize(
    ("shifts", "seeds", "headline"),
    [
        # one remedy helps beyond noise: it is named, with its interval
        ({"baseline": 0.0, "helps": 0.04, "nothing": 0.0}, 5, "Remedy that helped most: **helps**"),
        # every remedy hurts (the study of issue 25): none is said to help; the worst is named
        (
            {"baseline": 0.0, "heavy_dropout": -0.08, "tiny_lr": -0.05},
            3,
            "No remedy helped beyond noise; **heavy_dropout** hurt: validation accuracy -",
        ),
        ({"baseline": 0.0, "a": 0.0, "b": 0.0}, 5, "No remedy helped or hurt beyond noise"),
        # below the repeat threshold: no interval, no claim
        ({"baseline": 0.0, "helps": 0.2}, 2, "No remedy can be told from noise yet: 2 seed(s)"),
    ],
)
def test_the_remedy_headline_agrees_with_its_table(tmp_path, shifts, seeds, headline):
    exp = _remedy_study(tmp_path / "rem", shifts, seeds=seeds, noise=0.005)
    paired = remedies.paired(exp)
    line = remedies.headline(paired)
    assert line.startswith(headline), line
    helped = paired.index[paired["val_acc low"] > 0]
    assert ("helped most" in line) == bool(len(helped))
    if seeds < 3:
        assert paired[["val_acc low", "val_acc high"]].isna().all().all()


def test_intervals_stay_within_what_the_metric_can_be(tmp_path):
    """Three seeds with a wide spread: the t interval on an accuracy would pass 1 and
    its difference -1; cut to the bounds, it does not."""
    shifts = {"baseline": 0.0, "x": -0.5}
    exp = _remedy_study(tmp_path / "wide", shifts, seeds=3, noise=0.3)
    levels = remedies.levels(exp)
    assert (levels["val_acc low"] >= 0).all() and (levels["val_acc high"] <= 1).all()
    paired = remedies.paired(exp)
    assert (paired["val_acc low"] >= -1).all() and (paired["val_acc high"] <= 1).all()
    from analysis.tables.fidelity import mean_ci

    assert mean_ci([0.1, 0.9, 0.95], bounds=(0.0, 1.0))[1:] == (0.0, 1.0)
    assert mean_ci([0.1, 0.9, 0.95])[1] < 0 < 1 < mean_ci([0.1, 0.9, 0.95])[2]  # uncut
    assert np.isnan(mean_ci([0.5, 0.6])[1])  # two values: no interval


def test_dose_response_recovers_a_proportional_dose(tmp_path):
    shifts = {"baseline": 0.0, "wd1": 0.01, "wd2": 0.02, "wd3": 0.03}
    strengths = {"baseline": 0.0, "wd1": 1e-4, "wd2": 1e-3, "wd3": 1e-2}
    exp = _remedy_study(tmp_path / "dose", shifts, noise=0.002, strengths=strengths)
    dose = remedies.dose_response(exp)
    curve = dose.xs("weight_decay", level="remedy")["val_acc diff"]
    assert curve.index.tolist() == [0.0, 1e-4, 1e-3, 1e-2]
    assert curve.tolist() == pytest.approx([0.0, 0.01, 0.02, 0.03], abs=0.004)


def test_failure_importance_names_what_makes_trials_diverge(tmp_path):
    rng = np.random.default_rng(3)
    trials = []
    for i in range(60):
        lr, momentum = 10 ** rng.uniform(-3, 0.5), rng.uniform(0, 0.9)
        diverged = lr > 0.5  # lr alone decides divergence
        acc = None if diverged else 0.9 + 0.05 * momentum  # momentum alone decides accuracy
        trials.append(
            {
                "trial_id": f"t{i}",
                "status": "diverged" if diverged else "completed",
                "config/lr": lr,
                "config/momentum": momentum,
                "val_acc": acc,
                "best/val_acc": acc,
                "objective": acc if acc is not None else 0.0,
                "epochs": 10,
            }
        )
    spec = {
        "name": "fail",
        "trainable": "mnist_mlp",
        "metric": "val_acc",
        "mode": "max",
        "space": {"lr": {"loguniform": [1e-3, 3.0]}, "momentum": {"uniform": [0, 0.9]}},
    }
    exp = load(write_experiment(tmp_path / "fail", spec, trials))
    failed = importance.failure_importance(exp).table
    assert failed.index[0] == "lr" and failed.loc["lr", "importance"] > 0.2
    trained = importance.trained_importance(exp).table
    assert trained.index[0] == "momentum"  # among trials that trained, lr explains nothing


def test_a_study_whose_trials_all_tie_still_gets_a_report(tmp_path):
    trials = [
        {
            "trial_id": f"t{i}",
            "status": "completed",
            "config/a": float(i),
            "config/b": float(i % 3),
            "score": 0.0,
            "best/score": 0.0,
            "objective": 0.0,
            "epochs": 1,
        }
        for i in range(8)
    ]
    spec = {
        "name": "tie",
        "trainable": "my_plugin",
        "metric": "score",
        "mode": "max",
        "space": {"a": {"uniform": [0, 10]}, "b": {"choice": [0.0, 1.0, 2.0]}},
    }
    exp = load(write_experiment(tmp_path / "tie", spec, trials))
    result = importance.trained_importance(exp)
    assert result.table is None and "scored the same score" in result.note
    page = (write_report(exp, tmp_path / "out") / "index.html").read_text()
    assert "scored the same score" in page


def test_a_failing_section_is_left_out_with_a_note_not_the_report(tmp_path, monkeypatch):
    exp = _asha_trap(tmp_path / "trap")

    def broken(_exp):
        raise RuntimeError("Encountered zero total variance in all trees.")

    monkeypatch.setattr(tables, "top_trials", broken)
    page = (write_report(exp, tmp_path / "out") / "index.html").read_text()
    assert "Left out: search tables" in page and "zero total variance" in page
    assert "<h2 id='summary'>Summary</h2>" in page


def test_a_report_failure_never_fails_the_finished_study(tmp_path, monkeypatch):
    import analysis
    from study.run import finish as runner

    folder = _asha_trap(tmp_path / "trap").folder

    def broken(_exp, *args, **kwargs):
        raise RuntimeError("something unexpected in the report")

    monkeypatch.setattr(analysis, "write_report", broken)
    assert runner.write_report(folder) is None  # logged, not raised: the study succeeded
    assert (folder / "trials.csv").is_file()
