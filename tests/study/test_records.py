"""The record-and-table path on recorded results, without Ray.

Each case hands ``records.build_tables`` results shaped as Ray Tune hands them
(``metrics``, ``metrics_dataframe``, ``config``, ``error``, ``path``) for one kind
of trial ending, and checks the trials.csv row and the history it writes.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from experiment_folder import TRIAL_CONFIG, status_counts
from study.records import build_tables
from study.specs import build_spec

SPEC = build_spec(
    {
        "name": "rec",
        "trainable": "mnist_cnn",
        "metric": "val_acc",
        "search": {"algorithm": "random", "seed": 3},
        "config": {"dataset": "mnist5k", "epochs": 3},
        "space": {
            "lr": {"loguniform": [1e-3, 1.0]},
            "channels": {"choice": [[4, 8], [8, 16]]},
        },
    }
)


@dataclass
class Recorded:
    """What Ray's Result offers the tables."""

    metrics: dict[str, Any]
    metrics_dataframe: pd.DataFrame | None
    config: dict[str, Any]
    path: str
    error: BaseException | None = None


def _ran(lr: float, channels: list[int], seed: int = 11) -> str:
    """The config a trial sends with its first result (trial.py), defaults included."""
    return json.dumps(
        {
            "dataset": "mnist5k",
            "epochs": 3,
            "lr": lr,
            "channels": channels,
            "seed": seed,
            "device": "cpu",
            "batch_size": 64,
        }
    )


def _epochs(trial_id: str, accs: list[float], last_status: str, **last: Any) -> list[dict]:
    rows = []
    for i, acc in enumerate(accs, start=1):
        row = {
            "trial_id": trial_id,
            "epoch": i,
            "loss": 1.0 / i,
            "val_acc": acc,
            "test_acc": acc - 0.01,
            "diverged": False,
            "objective": acc,
            "status": "running",
            "trial_seed": 11,
            "training_iteration": i,
            "time_total_s": 0.5 * i,
            "timestamp": 1000 + i,
            "date": "today",
            "pid": 1,
        }
        rows.append(row)
    rows[-1].update({"status": last_status, **last})
    return rows


def _result(tmp: Path, trial_id: str, rows: list[dict], sampled: dict, **kw: Any) -> Recorded:
    folder = tmp / trial_id  # Ray names it run_trial_<id>_<n>_<params>; the id suffices
    folder.mkdir()
    if rows:
        rows[0][TRIAL_CONFIG] = kw.pop("ran", None) or _ran(sampled["lr"], [4, 8])
    frame = pd.DataFrame(rows) if rows else None
    metrics = dict(rows[-1]) if rows else {}
    return Recorded(metrics, frame, sampled, str(folder), **kw)


def _tables(results, statuses=None, ledger=None):
    return build_tables(results, SPEC, statuses or {}, ledger or {})


def test_completed_trial_row_reads_the_config_the_trial_ran_with(tmp_path):
    rows = _epochs("t1", [0.5, 0.7, 0.6], "completed")
    trials, history = _tables([_result(tmp_path, "t1", rows, {"lr": 0.01, "channels": 0})])
    row = trials.iloc[0]
    assert row["status"] == "completed"
    # Keys the spec never named (defaults) are recorded as the trial ran them.
    assert row["config/batch_size"] == 64 and row["config/device"] == "cpu"
    assert row["config/channels"] == "[4, 8]"
    assert row["trial_seed"] == 11
    assert row["val_acc"] == pytest.approx(0.6)  # final
    assert row["best/val_acc"] == pytest.approx(0.7)  # at the best epoch
    assert row["best/test_acc"] == pytest.approx(0.69)
    assert row["epochs"] == 3
    # Declared bookkeeping and Ray's columns get no best/ column.
    for column in ("best/diverged", "best/epoch", "best/iteration", "best/timestamp"):
        assert column not in trials
    assert TRIAL_CONFIG not in trials and TRIAL_CONFIG not in history
    assert "pid" not in history and "iteration" in history
    assert list(history["epoch"]) == [1, 2, 3]


def test_scheduler_stopped_diverged_invalid_error_and_unfinished(tmp_path):
    stopped = _result(tmp_path, "t1", _epochs("t1", [0.4], "running"), {"lr": 0.01, "channels": 1})
    diverged = _result(
        tmp_path,
        "t2",
        _epochs("t2", [0.3, 0.0], "diverged", diverged=True, divergence="nan loss", objective=0.0),
        {"lr": 0.9, "channels": 0},
    )
    invalid_rows = [
        {
            "trial_id": "t3",
            "objective": 0.0,
            "status": "invalid",
            "reason": "mnist_cnn: Conv2d layer 2 output is 0x0",
            "epoch": 0,
            "diverged": False,
            "training_iteration": 1,
        }
    ]
    invalid = _result(tmp_path, "t3", invalid_rows, {"lr": 0.01, "channels": 1})
    error_dir = tmp_path / "t4"
    errored = _result(
        tmp_path,
        "t4",
        [],
        {"lr": 0.01, "channels": 1},
        error=RuntimeError('Traceback (most recent call last):\n  File "x"\nValueError: boom'),
    )
    (error_dir / "error.txt").write_text("ValueError: boom\n")
    running = _result(tmp_path, "t5", _epochs("t5", [0.2], "running"), {"lr": 0.02, "channels": 0})
    trials, _ = _tables([stopped, diverged, invalid, errored, running], statuses={"t5": "RUNNING"})
    by_id = trials.set_index("trial_id")
    assert by_id.loc["t1", "status"] == "stopped"
    assert "after epoch 1" in by_id.loc["t1", "reason"]
    assert by_id.loc["t2", "status"] == "diverged" and by_id.loc["t2", "reason"] == "nan loss"
    assert by_id.loc["t3", "status"] == "invalid" and by_id.loc["t3", "epochs"] == 0
    assert "Conv2d" in by_id.loc["t3", "reason"]
    assert by_id.loc["t4", "status"] == "error" and by_id.loc["t4", "reason"] == "ValueError: boom"
    assert by_id.loc["t4", "error_file"].endswith("error.txt")
    # A trial that never reported: the config as the spec sees it, its choice decoded.
    assert by_id.loc["t4", "config/channels"] == "[8, 16]"
    assert by_id.loc["t5", "status"] == "unfinished"
    assert status_counts(trials) == {
        "completed": 0,
        "stopped": 1,
        "early_stopped": 0,
        "diverged": 1,
        "invalid": 1,
        "error": 1,
        "unfinished": 1,
    }


def test_trial_run_again_after_a_kill_keeps_its_first_end(tmp_path):
    """A trial that ended before a SIGKILL and ran again on resume: its first result and
    its first epochs, each once (ledger.py)."""
    first = _epochs("t1", [0.5, 0.8], "running")
    again = _epochs("t1", [0.5, 0.6, 0.65], "completed")
    rows = first + again  # Ray's result.json holds both runs
    result = _result(tmp_path, "t1", rows, {"lr": 0.01, "channels": 0})
    first_end = {"ray_status": "TERMINATED", "result": {**first[-1], "status": "completed"}}
    trials, history = _tables([result], ledger={"t1": first_end})
    row = trials.iloc[0]
    assert row["status"] == "completed"
    assert row["val_acc"] == pytest.approx(0.8)
    assert list(history["iteration"]) == [1, 2]
    assert row["epochs"] == 2


def test_trial_resumed_from_its_checkpoint_has_each_epoch_once(tmp_path):
    """Unfinished at a kill, resumed from a checkpoint one epoch behind Ray's results:
    the repeated epoch is kept once, as the resumed run reported it."""
    rows = _epochs("t1", [0.5, 0.6], "running") + _epochs("t1", [0.5, 0.61, 0.7], "completed")[1:]
    result = _result(tmp_path, "t1", rows, {"lr": 0.01, "channels": 0})
    trials, history = _tables([result], ledger={})
    assert list(history["iteration"]) == [1, 2, 3]
    assert history.loc[history["iteration"] == 2, "val_acc"].item() == pytest.approx(0.61)
    assert trials.iloc[0]["best/val_acc"] == pytest.approx(0.7)


def test_no_results_gives_empty_tables():
    trials, history = _tables([])
    assert trials.empty and history.empty
    assert status_counts(trials)["completed"] == 0


def test_best_trial_is_picked_among_scored_trials_only(tmp_path):
    from experiment_folder import best_trial

    good = _result(tmp_path, "a", _epochs("a", [0.6, 0.7, 0.65], "completed"), {"lr": 0.01})
    bad = _result(
        tmp_path,
        "b",
        _epochs("b", [0.9], "invalid", reason="x", objective=0.0),
        {"lr": 0.5},
    )
    trials, _ = _tables([good, bad])
    best = best_trial(trials, "val_acc", "max")
    assert best is not None and best["trial_id"] == "a"
    assert math.isclose(best["best/val_acc"], 0.7)


def test_a_reused_actors_stale_result_is_not_taken_for_an_unstarted_trial(tmp_path):
    """Interrupted before trial t2 reported, Ray's Result for t2 carried t1's last result
    (reused actor), id included: t1 came out twice and t2 not at all (issue 16). Named
    by its folder, t2 is unfinished with no result of its own."""
    done = _result(tmp_path, "t1", _epochs("t1", [0.5, 0.7, 0.6], "completed"), {"lr": 0.01})
    stale = Recorded(dict(done.metrics), None, {"lr": 0.1}, str(tmp_path / "t2"))
    (tmp_path / "t2").mkdir()
    trials, history = build_tables(
        [done, stale],
        SPEC,
        {"t1": "TERMINATED", "t2": "PENDING"},
        {},
        None,
        {"t1": "t1", "t2": "t2"},
    )
    assert trials["trial_id"].tolist() == ["t1", "t2"]
    t2 = trials.set_index("trial_id").loc["t2"]
    assert t2["status"] == "unfinished" and t2["epochs"] == 0
    assert set(history["trial_id"]) == {"t1"}
