"""``search: {algorithm: bohb}``: BOHB's TPE per budget inside Hyperband's brackets
(issue 34), with what every Optuna search keeps here: invalid configs at no Ray cost,
what cannot train as a constraint, fused groups, the journal; its SIGKILL resume is
test_reliability's, run for bohb too."""

from __future__ import annotations

import numpy as np
import optuna
import pandas as pd
import pytest
from journal_check import assert_matches_trials_csv

from study import SpecError, load_spec, run_study
from study.records import ledger
from study.records.journal import CONSTRAINT
from study.search import bohb
from study.search.brackets import (
    HyperbandScheduler,
    bracket_count,
    bracket_of,
    cycle,
    first_rungs,
    sequence,
    weights,
)
from study.search.registry import make_scheduler, make_searcher
from study.specs import Resources
from study.specs.plan import check_proposal, make_plan

CNN = {
    "trainable": "mnist_cnn",
    "metric": "val_acc",
    "num_samples": 12,
    "search": {"algorithm": "bohb", "seed": 0},
    "config": {"dataset": "mnist5k", "epochs": 9},
    "space": {
        "lr": {"loguniform": [1e-3, 0.3]},
        "kernel_size": {"choice": [3, 5, 7]},
        "dilation": {"choice": [1, 2, 3]},
    },
}


def test_bohb_brings_its_brackets_and_refuses_asha_and_startup_trials():
    spec = load_spec(CNN)
    # max_t is the trainable's epochs, η is 3, the first rung 1 epoch.
    s = spec.scheduler
    assert (s.name, s.max_t, s.grace_period, s.reduction_factor) == ("fifo", 9, 1, 3.0)
    assert isinstance(make_scheduler(spec), HyperbandScheduler)
    assert load_spec({**CNN, "scheduler": {"max_t": 6, "grace_period": 2}}).scheduler.max_t == 6
    # The resolved spec (spec.yaml) loads to itself: a resume reads it again.
    assert load_spec(spec.to_dict()) == spec
    with pytest.raises(SpecError, match="bohb brings its own Hyperband brackets"):
        load_spec({**CNN, "scheduler": {"name": "asha", "max_t": 9}})
    with pytest.raises(SpecError, match="gp and optuna only, not bohb"):
        load_spec({**CNN, "search": {"algorithm": "bohb", "n_startup_trials": 3}})
    with pytest.raises(SpecError, match="not bohb"):
        load_spec({**CNN, "space": {"lr": {"grid": [0.1, 0.2]}}})


def test_the_brackets_are_hyperbands():
    # max_t 27, η 3: four brackets starting at 1, 3, 9 and 27 epochs, with Hyperband's
    # 27, 12, 6 and 4 trials; Ray builds as many rungs per bracket as these say.
    assert bracket_count(1, 3, 27) == 4 and first_rungs(1, 3, 27) == [1, 3, 9, 27]
    assert weights(4, 3) == [27, 12, 6, 4]
    spread = sequence([27, 12, 6, 4])
    assert [spread.count(k) for k in range(4)] == [27, 12, 6, 4]
    assert len(set(spread[:8])) == 4  # every bracket within the first few trials
    order = cycle(1, 3, 27)
    assert sorted(order) == sorted(spread) and order[0] == 3  # a trial to max_t first
    scheduler = HyperbandScheduler(27, 1, 3)
    assert [len(b._rungs) for b in scheduler._brackets] == [4, 3, 2, 1]
    assert [bracket_of(i, 1, 3, 27) for i in range(49)] == order
    assert bracket_of(49, 1, 3, 27) == order[0]  # by index, so a resume agrees
    assert bracket_count(2, 3, 8) == 2 and first_rungs(2, 3, 20) == [2, 6, 18]


def _trial(x: float, values: dict[int, float], constraint: float = 0.0):
    return optuna.trial.create_trial(
        params={"x": x},
        distributions={"x": optuna.distributions.FloatDistribution(0.0, 1.0)},
        value=values[max(values)] if values else 0.0,
        intermediate_values=values,
        constraints={CONSTRAINT: constraint},
        state=optuna.trial.TrialState.COMPLETE
        if constraint or 9 in values
        else None or optuna.trial.TrialState.PRUNED,
    )


def test_the_model_is_tpe_at_the_largest_budget_with_enough_trials():
    """Slow starters end best: at 1 epoch small x leads, at 3 epochs x near 0.8 does.
    With enough trials at 3 epochs the sampler fits TPE there, and proposes near 0.8."""
    sampler = bohb.BohbSampler([1, 3, 9], min_points=4, seed=0)
    study = optuna.create_study(direction="maximize", sampler=sampler)
    rng = np.random.default_rng(0)
    for x in rng.uniform(0, 1, 16):  # 16 trials stopped at their first rung
        study.add_trial(_trial(float(x), {1: 1 - float(x)}))
    for x in np.linspace(0.05, 0.95, 10):  # 10 reached 3 epochs: x near 0.8 leads there
        study.add_trial(_trial(float(x), {1: 1 - x, 3: 1 - abs(x - 0.8)}))
    study.add_trial(_trial(0.5, {}, constraint=1.0))  # diverged: infeasible at any budget
    view = sampler.view(study)
    assert sampler.last_budget == 3 and view is not None
    assert len(view.trials) == 11
    assert [t.constraints[CONSTRAINT] for t in view.trials].count(1.0) == 1
    assert max(t.value for t in view.trials) == pytest.approx(1 - 0.05)  # at x = 0.75, 0.85
    proposed, modelled = [], 0
    for _ in range(30):
        trial = study.ask()
        proposed.append(trial.suggest_float("x", 0.0, 1.0))
        modelled += sampler.last_budget == 3
        study.tell(trial, state=optuna.trial.TrialState.FAIL)  # not an observation
    assert 10 <= modelled <= 28  # about two in three from the model, the rest at random
    near = np.abs(np.array(proposed) - 0.8) < 0.15
    assert near.sum() >= modelled * 0.6, proposed
    # Fewer than min_points at 3 epochs: the model falls back to the 1-epoch budget.
    fewer = bohb.BohbSampler([1, 3, 9], min_points=12, seed=0)
    assert fewer.view(study) is not None and fewer.last_budget == 1


def test_no_budget_with_enough_trials_samples_at_random():
    sampler = bohb.BohbSampler([1, 3], min_points=5, seed=0)
    study = optuna.create_study(direction="maximize", sampler=sampler)
    for x in (0.1, 0.2, 0.3):
        study.add_trial(_trial(x, {1: x}))
    assert sampler.view(study) is None
    trial = study.ask()
    trial.suggest_float("x", 0.0, 1.0)
    assert sampler.last_budget is None


def test_bohb_skips_invalid_proposals_and_models_what_cannot_train(tmp_path):
    spec = load_spec(CNN)
    plan = make_plan(spec, Resources())
    searcher = make_searcher(spec, 3, plan, tmp_path)
    assert isinstance(searcher.searcher._sampler, bohb.BohbSampler)
    searcher.set_search_properties(
        "objective", "max", {k: d.to_ray() for k, d in spec.space.items()}
    )
    for i in range(12):  # past d + 3 = 6 trials at a budget: the model proposes
        params = searcher.suggest(f"t{i}")
        assert check_proposal(plan, params)[1] is None, params
        epochs = 9 if i % 3 == 0 else 1
        for epoch in range(1, epochs + 1):
            searcher.on_trial_result(
                f"t{i}", {"objective": 0.5 + i / 100, "training_iteration": epoch}
            )
        ending = {"status": "diverged", "objective": 0.0} if i == 4 else {}
        searcher.on_trial_complete(
            f"t{i}",
            {"status": "completed" if epochs == 9 else "running", "objective": 0.5, **ending},
        )
    skipped = ledger.read_invalid(tmp_path)
    assert skipped and searcher.searcher.invalid_count == len(skipped)
    study = searcher.searcher._ot_study
    infeasible = [t for t in study.trials if t.constraints.get(CONSTRAINT, 0) > 0]
    assert len(infeasible) == len(skipped) + 1  # the invalid ones and the diverged one
    assert {t.state.name for t in study.trials} == {"COMPLETE", "PRUNED"}
    view = searcher.searcher._sampler.view(study)
    assert view is not None and searcher.searcher._sampler.last_budget == 1


@pytest.mark.parametrize("fuse", [1, 2])
def test_a_bohb_study_runs_hyperband_brackets_and_keeps_its_journal(ray_address, tmp_path, fuse):
    folder = run_study(
        {
            "name": "bohb-divergence",
            "fuse": fuse,  # 2: the group searcher asks for two members at a time
            "trainable": "linear_w",
            "metric": "loss",
            "num_samples": 12,
            "max_concurrent": 1,  # one after another: the proposals follow from the seed
            "search": {"algorithm": "bohb", "seed": 0},
            # Brackets start at 1, 3 and 9 epochs; the last runs every trial to max_t.
            "config": {"data": "outlier", "epochs": 9},
            # 43 % of the range diverges (the exact limit is lr = 0.09245).
            "space": {"lr": {"loguniform": [1e-3, 3.0]}},
        },
        storage=tmp_path,
        address=ray_address,
        report=False,
    )
    trials = pd.read_csv(folder / "trials.csv")
    assert len(trials) == 12
    assert set(trials["status"]) <= {"completed", "diverged", "stopped"}
    assert (trials["status"] == "diverged").any()
    assert_matches_trials_csv(folder)
    rungs = {0: {1, 3}, 1: {3}, 2: set()}  # where each bracket may stop a trial
    for _, row in trials.iterrows():
        bracket = bracket_of(int(row["trial_index"]), 1, 3, 9)
        if row["status"] == "stopped":
            assert int(row["epochs"]) in rungs[bracket], row.to_dict()
        elif row["status"] == "completed":
            assert int(row["epochs"]) == 9
    assert (trials["status"] == "stopped").any()  # the first bracket stops some
    if fuse > 1:
        assert trials["group"].nunique() == 6
