"""The Ray callback that keeps ledger.py's records: what lets ``study resume`` survive a
SIGKILL of the driver. It is separate from the terminal lines (progress.py), so
silencing those never switches this off; it comes before them in the callback
list, so a trial's end is durable before its line is shown."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ray import tune

from . import ledger


class DurableRecords(tune.Callback):
    """Appends each trial's end to the ledger and backs up Ray's saved state."""

    def __init__(self) -> None:
        self.backup = ledger.StateBackup()

    def on_step_end(self, iteration: int, trials: list[Any], **info: Any) -> None:
        """Ray saves its experiment state within a step: back up what it saved."""
        if trials:
            trial = trials[0]
            self.backup.after_step(Path(trial.local_experiment_path), Path(trial.path).parent)

    def on_trial_complete(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        _record(trial, "TERMINATED")

    def on_trial_error(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        _record(trial, "ERROR")


def _record(trial: Any, ray_status: str) -> None:
    result = {k: v for k, v in (trial.last_result or {}).items() if k != "config"}
    path = Path(trial.path)
    ledger.record(path.parent, trial.trial_id, ray_status, result, path.name)
