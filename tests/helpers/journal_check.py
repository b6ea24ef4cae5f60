"""The Optuna journal of an experiment folder, checked against its trials.csv."""

from __future__ import annotations

import math
from pathlib import Path

import optuna
import pandas as pd

from experiment_folder import OPTUNA_FILE
from study.records import journal as optuna_storage


def load(folder: Path) -> optuna.Study:
    """The study as any Optuna user would load it: by name, from the journal file."""
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    storage = JournalStorage(JournalFileBackend(str(folder / OPTUNA_FILE)))
    return optuna.load_study(study_name=folder.name, storage=storage)


def assert_matches_trials_csv(folder: Path, every_constraint: bool = False) -> optuna.Study:
    """Every trials.csv row is one journal trial (by its ``trial_id`` user attribute),
    in the state its status maps to, with the same objective when COMPLETE, one
    intermediate value per epoch it reported, and its status and reason; the journal
    has nothing else but trials Ray never ran (FAIL, status ``lost``). A COMPLETE trial
    carries the violated constraint exactly when it could not train; with
    ``every_constraint`` (a gp study) each one carries it, 0 where it trained."""
    study = load(folder)
    trials = pd.read_csv(folder / "trials.csv", keep_default_na=False)
    by_id = {str(t.user_attrs.get("trial_id")): t for t in study.trials}
    assert len(by_id) == len(study.trials), "a trial_id twice in the journal"
    for _, row in trials.iterrows():
        ot = by_id.pop(str(row["trial_id"]))
        status = str(row["status"])
        assert ot.state.name == optuna_storage.STATES[status], (row["trial_id"], status)
        assert ot.user_attrs["status"] == status
        if status != "error":
            assert ot.user_attrs["reason"] == str(row["reason"])[:300]
        if ot.state.name == "COMPLETE":
            assert math.isclose(ot.value, float(row["objective"]), rel_tol=1e-12)
            failed = status in ("diverged", "invalid")
            if every_constraint:
                assert ot.constraints == {optuna_storage.CONSTRAINT: 1.0 if failed else 0.0}
            else:
                assert bool(ot.constraints) == failed
        if status != "invalid":
            assert len(ot.intermediate_values) == int(row["epochs"]) or status == "error"
    for rest in by_id.values():
        assert rest.state.name == "FAIL" and rest.user_attrs["status"] == optuna_storage.LOST
    return study
