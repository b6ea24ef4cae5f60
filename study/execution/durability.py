"""The Ray callback that keeps the ledger (study/records/ledger.py): what lets
``study resume`` survive a SIGKILL of the driver. It is separate from the terminal
lines (progress.py), so silencing those never switches this off; it comes before
them in the callback list, so a trial's end is durable before its line is shown.
With a storage URI the same moment uploads what changed (study/storage/mirror.py):
a killed driver loses at most the trials in flight.

The experiment folder and the uploads come from :func:`active`, not from the
callback's own state: Ray pickles callbacks into its experiment state, and a resume
(perhaps on another machine, into another working folder) unpickles the old one."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ray import tune

from experiment_folder import GROUP, ended, is_group, listed_members, member_results
from study.records import ledger
from study.storage import Uploads

# The study the callbacks of this process write for: (its folder, its uploads).
_ACTIVE: list[tuple[Path, Uploads]] = []


@contextlib.contextmanager
def active(folder: Path, uploads: Uploads) -> Iterator[None]:
    _ACTIVE.append((folder, uploads))
    try:
        yield
    finally:
        _ACTIVE.pop()


def active_folder() -> Path | None:
    """The experiment folder of the study running in this process, if any."""
    return _ACTIVE[-1][0] if _ACTIVE else None


def _current(trial: Any) -> tuple[Path, Uploads]:
    if _ACTIVE:
        return _ACTIVE[-1]
    return Path(trial.path).parent, Uploads()  # outside fit() (a test driving Ray itself)


class DurableRecords(tune.Callback):
    """Appends each trial's end to the ledger, backs up Ray's saved state, and uploads."""

    def __init__(self) -> None:
        self.backup = ledger.StateBackup()

    def on_step_end(self, iteration: int, trials: list[Any], **info: Any) -> None:
        """Ray saves its experiment state within a step: back up what it saved."""
        if trials:
            trial = trials[0]
            folder, _ = _current(trial)
            self.backup.after_step(Path(trial.local_experiment_path), folder)

    def on_trial_result(
        self, iteration: int, trials: list[Any], trial: Any, result: dict[str, Any], **info: Any
    ) -> None:
        """A fused group's members end one by one: each end is recorded as it comes. The
        result in which the last of them ends ends the group too, recorded at once: a
        driver killed before Ray sees the group's function return must not have the
        group run again on resume (from an older checkpoint: its members would train,
        and end, twice)."""
        members = member_results(result)
        for mid, member in members.items():
            if ended(member):
                seconds = {"time_total_s": result.get("time_total_s")}
                _record_member(trial, mid, {**member, **seconds}, "TERMINATED")
        if members and ended(result):
            folder, _ = _current(trial)
            ledger.record_group(folder, trial.trial_id, "TERMINATED")

    def on_trial_complete(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        if is_group(trial.config):
            _close_group(trial, "TERMINATED")
        else:
            _record(trial, "TERMINATED")

    def on_trial_error(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        if is_group(trial.config):
            _close_group(trial, "ERROR")
        else:
            _record(trial, "ERROR")


def _record_member(trial: Any, mid: str, result: dict[str, Any], ray_status: str) -> None:
    folder, uploads = _current(trial)
    entry = {**result, "trial_id": mid, GROUP: trial.trial_id}
    ledger.record(folder, mid, ray_status, entry, Path(str(trial.path)).name)
    uploads.trial_ended(folder)


def _close_group(trial: Any, ray_status: str) -> None:
    """The group's Ray trial ended: its members that had not ended end with it (stopped,
    or with its error), and the group's own end is recorded."""
    folder, _ = _current(trial)
    done = ledger.read(folder)
    last = member_results(trial.last_result)
    seconds = {"time_total_s": (trial.last_result or {}).get("time_total_s")}
    for mid in listed_members(trial.config):
        if mid not in done:
            _record_member(trial, mid, {**last.get(mid, {}), **seconds}, ray_status)
    if trial.trial_id not in ledger.read_groups(folder):  # its last result said so already
        ledger.record_group(folder, trial.trial_id, ray_status)


def _record(trial: Any, ray_status: str) -> None:
    result = {k: v for k, v in (trial.last_result or {}).items() if k != "config"}
    folder, uploads = _current(trial)
    ledger.record(folder, trial.trial_id, ray_status, result, Path(str(trial.path)).name)
    uploads.trial_ended(folder)
