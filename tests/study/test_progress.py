"""The live status line and its off-terminal summary, fed as Ray Tune feeds them (no Ray)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from study.execution.progress import TrialLines
from study.specs.loading import spec_from_raw

SPEC = {
    "name": "p",
    "trainable": "mnist_mlp",
    "metric": "val_acc",
    "mode": "max",
    "num_samples": 12,
    "search": {"algorithm": "random"},
    "space": {"lr": {"loguniform": [1e-3, 1.0]}},
}


@dataclass
class FakeTrial:
    trial_id: str
    status: str = "PENDING"
    last_result: dict[str, Any] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    local_path: str = "/nonexistent"


def _run(lines: TrialLines, values: list[float | None]) -> list[FakeTrial]:
    trials = [FakeTrial(f"t{i}", config={"lr": 0.01}) for i in range(len(values))]
    lines.setup(total_num_samples=len(values))
    for trial, value in zip(trials, values):
        trial.status = "RUNNING"
        lines.on_trial_start(0, trials, trial)
        trial.status = "TERMINATED"
        status = "diverged" if value is None else "completed"
        trial.last_result = {"status": status, "val_acc": value, "epoch": 3}
        lines.on_trial_complete(0, trials, trial)
    lines.on_experiment_end(trials)
    return trials


def test_off_a_terminal_a_summary_line_comes_every_ten_trials_and_at_the_end(caplog):
    spec = spec_from_raw(SPEC, {}, None)
    caplog.set_level(logging.INFO, logger="study.progress")
    values = [0.5, 0.7, None, 0.6, 0.8, 0.1, 0.2, 0.3, 0.4, 0.75, 0.79, 0.2]
    _run(TrialLines(spec, live=False), values)
    summaries = [r.getMessage() for r in caplog.records if r.getMessage().startswith("progress")]
    assert len(summaries) == 2, summaries  # after 10 trials, and at the end
    assert summaries[0].startswith("progress: 10/12 trials done")
    assert "1 diverged" in summaries[0] and "9 completed" in summaries[0]
    assert summaries[-1].startswith("progress: 12/12 trials done")
    assert "best val_acc=0.8" in summaries[-1] and "about 0s left" in summaries[-1]
    trial_lines = [r for r in caplog.records if r.getMessage().startswith("trial ")]
    assert len(trial_lines) == 12  # the per-trial lines stay


def test_on_a_terminal_one_status_line_updates_in_place(capsys):
    spec = spec_from_raw({**SPEC, "mode": "max"}, {}, None)
    lines = TrialLines(spec, live=True)
    trials = [FakeTrial(f"t{i}") for i in range(4)]
    lines.setup(total_num_samples=4)
    for trial, value in zip(trials[:3], (0.5, 0.9, 0.7)):
        trial.status = "RUNNING"
        lines.on_trial_start(0, trials, trial)
        trial.status = "TERMINATED"
        trial.last_result = {"status": "completed", "val_acc": value}
        lines.on_trial_complete(0, trials, trial)
    trials[3].status = "RUNNING"
    lines.on_trial_start(0, trials, trials[3])
    assert lines.bar.n == 3 and lines.bar.total == 4
    assert lines.status(trials) == "1 running; 3 completed; best val_acc=0.9"
    lines.on_experiment_end(trials)
    err = capsys.readouterr().err
    assert "3/4" in err and "best val_acc=0.9" in err and "\r" in err  # redrawn in place
    assert lines.bar is None


def test_a_resumed_study_counts_its_finished_trials_and_the_callback_pickles():
    import pickle

    spec = spec_from_raw(SPEC, {}, None)
    lines = TrialLines(spec, live=True)
    trials = [FakeTrial(f"t{i}", status="TERMINATED") for i in range(5)] + [FakeTrial("t5")]
    lines.setup(total_num_samples=6)
    trials[5].status = "RUNNING"
    lines.on_trial_start(0, trials, trials[5])
    assert lines.bar.n == 5  # the five from before the interrupt
    assert pickle.loads(pickle.dumps(lines)).bar is None  # Ray saves callbacks
    lines.on_experiment_end(trials)
