"""``search: {algorithm: gp}``: Optuna's GPSampler with what every Optuna search keeps
here (issue 34): invalid configs at no Ray cost, what cannot train as a constraint,
fused groups, the journal; its SIGKILL resume is test_reliability's, run for gp too."""

from __future__ import annotations

import optuna
import pandas as pd
import pytest
from journal_check import assert_matches_trials_csv

from study import SpecError, load_spec, run_study
from study.records import ledger
from study.records.journal import CONSTRAINT
from study.search.registry import make_searcher
from study.specs import Resources
from study.specs.plan import check_proposal, make_plan

CNN = {
    "trainable": "mnist_cnn",
    "metric": "val_acc",
    "num_samples": 10,
    "search": {"algorithm": "gp", "seed": 0, "n_startup_trials": 3},
    "config": {"dataset": "mnist5k"},
    "space": {
        "lr": {"loguniform": [1e-3, 0.3]},
        "kernel_size": {"choice": [3, 5, 7]},
        "dilation": {"choice": [1, 2, 3]},
        "channels": {"choice": [[4, 8], [6, 9]]},
        "groups": {"choice": [1, 2]},
    },
}


def test_gp_takes_the_optuna_keys_and_refuses_grids():
    spec = load_spec(CNN)
    assert spec.search.algorithm == "gp" and spec.search.n_startup_trials == 3
    with pytest.raises(SpecError, match="not gp"):
        load_spec({**CNN, "space": {"lr": {"grid": [0.1, 0.2]}}})
    with pytest.raises(SpecError, match=r"variants: named variants need .* not gp"):
        load_spec({**CNN, "variants": {"a": {}}})


def test_gp_skips_invalid_proposals_and_models_what_cannot_train(tmp_path):
    spec = load_spec(CNN)
    plan = make_plan(spec, Resources())
    searcher = make_searcher(spec, 3, plan, tmp_path)
    assert isinstance(searcher.searcher._sampler.sampler, optuna.samplers.GPSampler)
    searcher.set_search_properties(
        "objective", "max", {k: d.to_ray() for k, d in spec.space.items()}
    )
    for i in range(10):  # past n_startup_trials: the Gaussian process proposes
        params = searcher.suggest(f"t{i}")
        assert check_proposal(plan, params)[1] is None, params
        ending = {"status": "diverged", "objective": 0.0} if i == 4 else {}
        searcher.on_trial_complete(
            f"t{i}", {"status": "completed", "objective": 0.5 + i / 100, **ending}
        )
    skipped = ledger.read_invalid(tmp_path)
    assert skipped and searcher.searcher.invalid_count == len(skipped)
    study = searcher.searcher._ot_study
    complete = [t for t in study.trials if t.state.name == "COMPLETE"]
    # GPSampler models only a study whose trials all name the same constraints.
    assert {tuple(t.constraints) for t in complete} == {(CONSTRAINT,)}
    infeasible = [t for t in complete if t.constraints[CONSTRAINT] > 0]
    assert len(infeasible) == len(skipped) + 1  # the invalid ones and the diverged one


@pytest.mark.parametrize("fuse", [1, 2])
def test_a_gp_study_learns_where_sgd_diverges_and_keeps_its_journal(ray_address, tmp_path, fuse):
    folder = run_study(
        {
            "name": "gp-divergence",
            "fuse": fuse,  # 2: the group searcher asks GP for two members at a time
            "trainable": "linear_w",
            "metric": "loss",
            "num_samples": 10,
            "max_concurrent": 1,  # one after another: the proposals follow from the seed
            "search": {"algorithm": "gp", "seed": 0, "n_startup_trials": 4},
            "config": {"data": "outlier", "epochs": 20},
            # Half the range diverges (the exact limit is lr = 0.09245): the 4 random
            # start-up trials, drawn from the seed, include such an lr.
            "space": {"lr": {"loguniform": [1e-3, 10.0]}},
        },
        storage=tmp_path,
        address=ray_address,
        report=False,
    )
    trials = pd.read_csv(folder / "trials.csv")
    assert len(trials) == 10 and set(trials["status"]) <= {"completed", "diverged"}
    assert (trials["status"] == "diverged").any()
    assert_matches_trials_csv(folder, every_constraint=True)
    if fuse > 1:
        assert trials["group"].nunique() == 5
