"""Fused studies (``fuse: K``) on a real Ray head: each member is a trial everywhere.

A fused study's tables must hold what the same study unfused holds: one row per
trial, the same config and (with the seed fixed, so that the two runs' trials are the
same runs) the same metrics within float32 rounding (tests/trainables/test_fused.py
states the tolerance); the regressions' exactly.
"""

from __future__ import annotations

import pandas as pd
import pytest
import yaml
from journal_check import assert_matches_trials_csv

from study import SpecError, run_study
from study.specs.loading import load_spec

pytestmark = pytest.mark.usefixtures("ray_address")

RTOL = 1e-4
TINY = {"epochs": 2, "train_limit": 512, "eval_limit": 200, "batch_size": 32, "seed": 5}


def _mlp_grid(fuse: int, name: str) -> dict:
    return {
        "name": name,
        "trainable": "mnist_mlp",
        "metric": "val_acc",
        "search": {"algorithm": "grid"},
        "fuse": fuse,
        "config": dict(TINY),
        "space": {"lr": {"grid": [0.01, 0.1, 50.0]}, "momentum": {"grid": [0.0, 0.9]}},
    }


def _by_config(folder, keys):
    trials = pd.read_csv(folder / "trials.csv")
    return trials.set_index([f"config/{k}" for k in keys]).sort_index()


def test_a_fused_study_holds_what_the_unfused_study_holds(tmp_path):
    fused = run_study(_mlp_grid(4, "fused"), storage=tmp_path, report=False)
    alone = run_study(_mlp_grid(1, "alone"), storage=tmp_path, report=False)
    got, want = _by_config(fused, ["lr", "momentum"]), _by_config(alone, ["lr", "momentum"])
    assert len(got) == len(want) == 6
    assert (got["status"] == want["status"]).all()
    assert set(got["status"]) == {"completed", "diverged"}  # lr=50 blows up, alone or not
    for column in ("loss", "val_acc", "test_acc", "best/val_acc", "epochs"):
        ok = got[column].notna()
        assert got.loc[ok, column].to_numpy() == pytest.approx(
            want.loc[ok, column].to_numpy(), rel=RTOL
        ), column
    # Six trials in two Ray trials (groups of at most four), named in the group column.
    assert got["group"].nunique() == 2 and got["group"].value_counts().max() <= 4
    assert "group" not in want
    assert all(t.startswith(g + "-m") for t, g in zip(got["trial_id"], got["group"]))
    history = pd.read_csv(fused / "history.csv")
    per_trial = history.groupby("trial_id")["epoch"].apply(list)
    assert len(per_trial) == 6
    for trial_id, row in got.reset_index().set_index("trial_id").iterrows():
        epochs = per_trial[trial_id]
        assert epochs == list(range(1, len(epochs) + 1))
        assert row["epochs"] == len([e for e in epochs if e > 0])
    assert set(history["group"]) == set(got["group"])
    # The report counts a group's time once, not once per member, and says it was fused.
    import analysis
    from analysis import tables

    summary = tables.summary(analysis.load(fused))
    per_group = got.groupby("group")["time_s"].max().sum()
    assert summary["groups"] == 2
    assert summary["trial_time_s"] == pytest.approx(per_group)
    assert per_group < got["time_s"].sum()
    assert tables.summary(analysis.load(alone))["groups"] == 0
    # Without its tables, the report rebuilds them from Ray's files: members again.
    for name in ("trials.csv", "history.csv"):
        (fused / name).unlink()
    rebuilt = analysis.load(fused).trials.set_index("trial_id").sort_index()
    kept = got.reset_index().set_index("trial_id").sort_index()
    assert list(rebuilt.index) == list(kept.index)
    assert (rebuilt["status"] == kept["status"]).all()
    assert (rebuilt["group"] == kept["group"]).all()
    assert rebuilt["val_acc"].to_numpy() == pytest.approx(kept["val_acc"].to_numpy(), nan_ok=True)


def test_a_shared_batch_order_study_runs_with_the_order_of_each_groups_first_member(tmp_path):
    spec = {**_mlp_grid(3, "shared"), "fuse_data": "shared"}
    spec["space"] = {"lr": {"grid": [0.01, 0.1, 0.2]}}
    folder = run_study(spec, storage=tmp_path, report=False)
    trials = pd.read_csv(folder / "trials.csv")
    assert len(trials) == 3 and trials["group"].nunique() == 1
    assert (trials["status"] == "completed").all()
    assert yaml.safe_load((folder / "spec.yaml").read_text())["fuse_data"] == "shared"


def test_optuna_and_asha_act_per_member(tmp_path):
    folder = run_study(
        {
            "name": "asha",
            "trainable": "mnist_mlp",
            "metric": "val_acc",
            "num_samples": 10,
            "search": {"algorithm": "optuna", "seed": 0, "n_startup_trials": 4},
            "scheduler": {"name": "asha", "grace_period": 1, "reduction_factor": 2, "max_t": 4},
            "fuse": 4,
            "config": {**TINY, "epochs": 4},
            "space": {"lr": {"loguniform": [1e-3, 1.0]}, "momentum": {"uniform": [0.0, 0.95]}},
        },
        storage=tmp_path,
        report=False,
    )
    trials = pd.read_csv(folder / "trials.csv")
    assert len(trials) == 10 and trials["trial_id"].is_unique
    # Members are stopped at the rungs (epochs 1 and 2), each saying so.
    stopped = trials[trials["status"] == "stopped"]
    assert len(stopped) > 0 and set(stopped["epochs"]) <= {1, 2}
    assert stopped["reason"].str.startswith("stopped by ASHA after epoch").all()
    assert (trials.loc[trials["status"] == "completed", "epochs"] == 4).all()
    # One Optuna trial per member, PRUNED where it was stopped, told at its own end.
    study = assert_matches_trials_csv(folder)
    assert len(study.trials) == 10


def test_asha_judges_a_group_against_the_rung_values_the_study_recorded(tmp_path):
    """Two groups, one after the other. Alone, each group of two would keep its better
    member at rung 1; judged against the first group's values too (ASHA's record of the
    rung), both members of the second, worse group stop there."""
    folder = run_study(
        {
            "name": "rungs",
            "trainable": "linear_w",
            "metric": "loss",
            "search": {"algorithm": "grid"},
            "scheduler": {"name": "asha", "grace_period": 1, "reduction_factor": 2, "max_t": 4},
            "fuse": 2,
            "max_concurrent": 1,
            "config": {"epochs": 4},
            # after epoch 1: losses 2.55 and 1.24, then 4.64 and 4.61
            "space": {"lr": {"grid": [0.01, 0.02, 0.0001, 0.0002]}},
        },
        storage=tmp_path,
        report=False,
    )
    trials = pd.read_csv(folder / "trials.csv").set_index("config/lr")
    assert trials.loc[0.02, "status"] == "completed" and trials.loc[0.02, "epochs"] == 4
    for lr in (0.01, 0.0001, 0.0002):
        assert trials.loc[lr, "status"] == "stopped" and trials.loc[lr, "epochs"] == 1, lr
    assert trials.loc[0.0002, "reason"].endswith("the 4 values recorded at this rung")
    assert trials["group"].nunique() == 2


def test_the_brute_force_preset_fused_gives_the_same_table(tmp_path):
    alone = run_study("loss-surface", storage=tmp_path, name="alone", report=False)
    fused = run_study(
        "loss-surface", storage=tmp_path, name="fused", set={"fuse": 400}, report=False
    )
    got, want = _by_config(fused, ["w", "b"]), _by_config(alone, ["w", "b"])
    assert len(got) == len(want) == 357 and got["group"].nunique() == 1
    assert got["loss"].to_numpy() == pytest.approx(want["loss"].to_numpy(), rel=1e-12, abs=0)
    assert (got["status"] == "completed").all()


def test_lr_divergence_fused_agrees_with_the_exact_stability_limit(tmp_path):
    import analysis
    from analysis import tables
    from trainables.regression import linear_w

    folder = run_study(
        "lr-divergence", storage=tmp_path, set={"fuse": 8, "epochs": 40}, report=False
    )
    trials = pd.read_csv(folder / "trials.csv")
    assert len(trials) == 30 and trials["group"].nunique() >= 4
    assert 0 < (trials["status"] == "diverged").sum() < 30
    for _, row in trials.iterrows():  # each member is bitwise its solo run
        solo = linear_w({"data": "outlier", "epochs": 40, "lr": row["config/lr"]})
        assert (row["status"] == "diverged") == solo["diverged"]
        assert row["loss"] == solo["loss"] and row["w"] == solo["w"]
    agreement = tables.stability_agreement(analysis.load(folder))
    assert len(agreement) == 30
    # Where the outcome differs from the exact limit, only because 40 epochs were too few.
    differ = agreement[~agreement["agrees"]]
    assert differ["why"].str.startswith("needs about").all(), differ


def test_fuse_is_checked_with_the_spec():
    base = {"trainable": "lr_range", "metric": "suggested_lr"}
    with pytest.raises(SpecError, match=r"^fuse: lr_range has no fused path"):
        load_spec({**base, "fuse": 4})
    for bad in (0, -1, "many", 2.5, 10_000):
        with pytest.raises(SpecError, match=r"^fuse: "):
            load_spec({"trainable": "linear_w", "metric": "loss", "fuse": bad})
    assert load_spec({"trainable": "linear_w", "metric": "loss", "fuse": "auto"}).fuse == "auto"
    spec = load_spec("lr-divergence", {"fuse": 8})
    assert spec.fuse == 8 and spec.to_dict()["fuse"] == 8
    assert spec.fuse_data == "own"
    with pytest.raises(SpecError, match=r"^fuse_data: linear_w has no shared batch order"):
        load_spec("lr-divergence", {"fuse_data": "shared"})
    with pytest.raises(SpecError, match=r"^fuse_data: unknown value 'both'; allowed: own, shared"):
        load_spec("mlp-search", {"fuse": 4, "fuse_data": "both"})
    with pytest.raises(SpecError, match=r"^fuse_data: shared applies to fused groups"):
        load_spec("mlp-search", {"fuse_data": "shared"})
    assert load_spec("mlp-search", {"fuse": 4, "fuse_data": "shared"}).fuse_data == "shared"
