"""``epoch_budget``: a study starts no trial once its trial-epochs reach the budget
(issue 34), solo, fused, and after a resume."""

from __future__ import annotations

import json
import signal

import pandas as pd
import pytest
import yaml

import analysis
from analysis import tables
from study import SpecError, load_spec, resume_study, run_study
from study.search.epoch_budget import TrialEpochs, epochs

from . import procs
from .conftest import study_env

FLAKY = {
    "name": "budget",
    "trainable": "flaky",
    "metric": "loss",
    "mode": "min",
    "num_samples": 20,
    "max_concurrent": 1,  # one trial at a time: the budget is reached between two trials
    "epoch_budget": 7,
    "config": {"epochs": 3},
    "space": {"value": {"uniform": [0.5, 5.0]}},
}


def test_a_trial_counts_its_highest_epoch_and_a_group_each_member():
    count = TrialEpochs(10)
    count.add("a", {"epoch": 1})
    count.add("a", {"epoch": 2})
    count.add("a", {"epoch": 2})  # an epoch reported again (a resumed trial) counts once
    count.add("b", {"epoch": 0, "status": "invalid"})  # an invalid config trains no epoch
    members = {"g-m0": {"epoch": 3}, "g-m1": {"epoch": 1}, "g-m2": {"epoch": 0}}
    count.add("g", {"epoch": 3, "members": json.dumps(members)})
    assert count.highest == {"a": 2, "g-m0": 3, "g-m1": 1}
    assert count.spent == 6 and not count.exhausted()
    count.add("c", {"epoch": 4})
    assert count.spent == 10 and count.exhausted()
    assert epochs({"loss": 1.0}) == {} and not TrialEpochs(None).exhausted()


LINEAR = {"trainable": "linear_w", "metric": "loss", "epoch_budget": 7}


@pytest.mark.parametrize("bad", [0, -3, 2.5, "many", True])
def test_a_budget_is_a_whole_number_of_trial_epochs(bad):
    with pytest.raises(SpecError, match="epoch_budget: must be"):
        load_spec({**LINEAR, "epoch_budget": bad})


def test_the_budget_goes_into_spec_yaml_and_by_set():
    assert load_spec(LINEAR).to_dict()["epoch_budget"] == 7
    assert load_spec({**LINEAR, "epoch_budget": None}).epoch_budget is None
    assert load_spec(LINEAR, {"epoch_budget": 12}).epoch_budget == 12


def _spent(folder) -> tuple[int, int]:
    trials = pd.read_csv(folder / "trials.csv")
    return len(trials), int(trials["epochs"].sum())


@pytest.mark.parametrize("algorithm", ["optuna", "grid"])
def test_no_trial_starts_once_the_budget_is_spent(ray_address, tmp_path, algorithm):
    spec = {**FLAKY, "search": {"algorithm": algorithm}}
    if algorithm == "grid":
        spec = {**spec, "num_samples": 1, "space": {"value": {"grid": [1, 2, 3, 4, 5, 6]}}}
    folder = run_study(spec, storage=tmp_path, address=ray_address, report=False)
    # 3 + 3 = 6 < 7 starts a third trial, whose 3 epochs end the study at 9 (one
    # trial's epochs past the budget at most).
    assert _spent(folder) == (3, 9)
    assert set(pd.read_csv(folder / "trials.csv")["status"]) == {"completed"}
    assert yaml.safe_load((folder / "spec.yaml").read_text())["epoch_budget"] == 7
    summary = tables.summary(analysis.load(folder))
    assert (summary["epoch_budget"], summary["epochs_spent"]) == (7, 9)
    page = analysis.write_report(analysis.load(folder), tmp_path / "report", "md")
    assert "Epoch budget: 7 trial-epochs; spent 9." in (page / "report.md").read_text()


@pytest.mark.slow
def test_a_fused_study_counts_each_members_epochs(ray_address, tmp_path):
    spec = {
        "name": "fused-budget",
        "trainable": "linear_w",
        "metric": "loss",
        "mode": "min",
        "max_concurrent": 1,
        "fuse": 2,
        "epoch_budget": 12,
        "search": {"algorithm": "grid"},
        "config": {"data": "outlier", "epochs": 5},
        "space": {"lr": {"grid": [1e-4, 2e-4, 5e-4, 1e-3, 2e-3, 5e-3, 1e-2, 2e-2]}},
    }
    folder = run_study(spec, storage=tmp_path, address=ray_address, report=False)
    # A group of 2 members spends 10 < 12: a second group starts, and ends at 20.
    assert _spent(folder) == (4, 20)


@pytest.mark.slow
def test_a_resumed_study_counts_the_epochs_spent_before_it(ray_address, tmp_path):
    spec = tmp_path / "budget.yaml"
    budget = {**FLAKY, "epoch_budget": 10, "config": {"epochs": 3, "sleep": 0.4}}
    spec.write_text(yaml.safe_dump(budget))
    storage = tmp_path / "st"
    args = ("run", str(spec), "--storage", str(storage), "--address", ray_address)
    proc = procs.spawn(*args, "--no-report", env=study_env())
    procs.read_until(proc, 1, " completed ", timeout=180, strict=True)
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=180)
    assert proc.returncode == 130
    folder = storage / "budget"
    before = pd.read_csv(folder / "trials.csv")
    assert (before["status"] == "completed").sum() >= 1

    resume_study(folder, address=ray_address, report=False)
    # 3 + 3 + 3 = 9 < 10 starts a fourth trial: 12, whatever the interrupt cut.
    assert _spent(folder) == (4, 12)
