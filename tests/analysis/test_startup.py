"""The report's word on the search against random sampling, from the study's own trials
(analysis/tables/startup.py): the model's proposals against the random start-up."""

from __future__ import annotations

import pytest

from analysis.load import load as load_experiment
from analysis.report.sections import _summary
from analysis.tables.fidelity import equal_fidelity
from analysis.tables.startup import against_startup


def _study(make_experiment, algorithm, values, startup=4, mode="max", name="exp"):
    trials = [
        {
            "trial_id": f"t{i}",
            "trial_index": i,
            "status": "completed" if v is not None else "diverged",
            "val_acc": v if v is not None else 0.0,
            "objective": v if v is not None else 0.0,
            "epochs": 5,
        }
        for i, v in enumerate(values)
    ]
    search = {"algorithm": algorithm, "seed": 0}
    if algorithm in ("optuna", "gp"):
        search["n_startup_trials"] = startup
    spec = {"name": name, "trainable": "mnist_mlp", "metric": "val_acc", "mode": mode}
    return load_experiment(make_experiment(name, spec={**spec, "search": search}, trials=trials))


def test_a_model_that_beats_every_random_proposal_is_said_to(make_experiment):
    # 4 random proposals (best 0.80), then 16 from the model, 15 above 0.80 and one
    # diverged: 15 of 16 beat it, where random draws would 1 time in 5.
    values = [0.7, 0.8, 0.6, 0.75] + [0.81 + i / 1000 for i in range(15)] + [None]
    exp = _study(make_experiment, "optuna", values)
    got = against_startup(exp, equal_fidelity(exp))
    assert (got.startup, got.modelled, got.beat) == (4, 16, 15)
    assert got.expected == pytest.approx(0.2) and got.low > 0.2
    assert got.best_is_modelled and got.best_random == pytest.approx(0.8)
    assert got.verdict == "better than random sampling"
    section = _summary(exp)
    assert any("15 of the 16 the model made" in line for line in section.text)
    assert "Search: better than random sampling" in " ".join(section.findings)


def test_a_model_no_better_than_random_is_not_called_better(make_experiment):
    # The start-up's best (0.9) beaten by 1 of 8: the interval holds 1 in 5.
    values = [0.5, 0.9, 0.6, 0.7, 0.95, 0.8, 0.6, 0.5, 0.7, 0.85, 0.4, 0.3]
    exp = _study(make_experiment, "gp", values)
    got = against_startup(exp, equal_fidelity(exp))
    assert (got.beat, got.modelled) == (1, 8)
    assert got.low < got.expected < got.high
    assert got.verdict == "not distinguishable from random sampling at this many trials"


def test_min_mode_and_the_searches_without_a_start_up(make_experiment):
    values = [3.0, 2.0, 4.0, 2.5] + [1.0 + i / 100 for i in range(12)]
    exp = _study(make_experiment, "optuna", values, mode="min", name="min")
    got = against_startup(exp, equal_fidelity(exp))
    assert got.beat == 12 and got.best_random == pytest.approx(2.0)
    for algorithm in ("random", "grid", "bohb"):
        exp = _study(make_experiment, algorithm, values, name=algorithm)
        assert against_startup(exp, equal_fidelity(exp)) is None
    text = " ".join(_summary(_study(make_experiment, "bohb", values, name="b2")).text)
    assert "no random start-up of its own is compared" in text
    # Fewer trials than the start-up: nothing from the model to compare.
    exp = _study(make_experiment, "optuna", values[:3], name="short")
    assert against_startup(exp, equal_fidelity(exp)) is None
