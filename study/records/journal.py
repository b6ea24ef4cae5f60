"""The Optuna study kept beside the tables: ``optuna.journal`` in the experiment folder.

Every Optuna-searched study writes its Optuna study to Optuna's journal file as the
trials report, so ``optuna-dashboard`` (``study dashboard``) shows it live and
``optuna.load_study`` reads it afterwards. A journal, not SQLite: it is appended,
never rewritten, so a driver killed mid-write leaves the lines before it whole, and
it needs no database library. Only the driver writes it (Ray Tune's searcher runs
there), so there is one writer.

The study is named after the experiment folder. Its trials carry the params, the
objective per epoch as intermediate values, the user attributes ``trial_id``,
``status`` and ``reason``, and a state that matches trials.csv (:data:`STATES`).

Resume keeps it consistent (:func:`close_out`): a trial the journal still holds as
RUNNING after a study ended is ended there as trials.csv ends it, or as FAIL with
status ``lost`` when Ray never recorded it (the driver died between asking Optuna and
saving its state); a trial the journal already ended is never told twice.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
from pathlib import Path
from typing import Any

import pandas as pd

from experiment_folder import (
    COMPLETED,
    DIVERGED,
    EARLY_STOPPED,
    ERROR,
    FAILED,
    INVALID,
    OPTUNA_FILE,
    STOPPED,
    UNFINISHED,
)
from study.errors import StudyError

log = logging.getLogger(__name__)

# trials.csv status -> the Optuna state its trial ends in. Invalid and diverged trials
# are COMPLETE with the worst objective and a violated constraint (CONSTRAINT), so
# Optuna's samplers and the dashboard treat them as infeasible.
STATES = {
    COMPLETED: "COMPLETE",
    EARLY_STOPPED: "COMPLETE",
    DIVERGED: "COMPLETE",
    INVALID: "COMPLETE",
    STOPPED: "PRUNED",
    ERROR: "FAIL",
    UNFINISHED: "RUNNING",
}
# The constraint every trial the searcher tells carries: 1.0 for what cannot train
# (invalid, diverged: the worst objective stands in for a value), 0.0 else.
CONSTRAINT = "cannot_train"
LOST = "lost"  # asked of Optuna, never run by Ray: ended FAIL by close_out


def storage_path(folder: Path) -> Path:
    return folder.resolve() / OPTUNA_FILE


class FlockLock:
    """Optuna's journal-file lock (acquire/release) on ``fcntl.flock``: the kernel drops
    it when its process dies. Optuna's own locks are files that a SIGKILLed driver
    leaves behind, and a resume then waited 30 s before forcing it (measured)."""

    def __init__(self, path: str) -> None:
        self._path = path
        self._fd: int | None = None

    def acquire(self) -> bool:
        # O_NOFOLLOW: a link planted at the lock's name is refused, not written through.
        fd = os.open(self._path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX)
        self._fd = fd
        return True

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __getstate__(self) -> dict[str, Any]:  # pickled with Ray's searcher state
        return {"_path": self._path, "_fd": None}


def _backend_class(writable: bool) -> Any:
    from optuna.storages.journal import JournalFileBackend

    if writable:
        return JournalFileBackend

    class ReadOnlyJournal(JournalFileBackend):
        """The journal for readers (the dashboard): every write is refused."""

        def append_logs(self, logs: list[dict[str, Any]]) -> None:
            raise StudyError(f"{self._file_path}: opened read-only; not written")

    return ReadOnlyJournal


def open_storage(folder: Path, writable: bool = True) -> Any:
    """The experiment's journal storage (created when missing and ``writable``);
    read-only, any write to it raises."""
    from optuna.storages import JournalStorage

    path = str(storage_path(folder))
    # Not Optuna's own lock-file name: a plain optuna-dashboard (O_EXCL lock file) would
    # take a lock file that is always there for a stale lock.
    lock: Any = FlockLock(path + ".flock")
    return JournalStorage(_backend_class(writable)(path, lock_obj=lock))


def check(path: Path) -> int | None:
    """Where a torn last record starts (its byte offset), None when every record is
    whole; a record damaged before the last is a one-line StudyError.

    A record is one line holding a JSON object, ended by a newline."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as exc:
        raise StudyError(f"{path}: unreadable ({exc.strerror})") from None
    lines = data.splitlines(keepends=True)
    offset = 0
    for number, line in enumerate(lines, start=1):
        if not _whole_record(line):
            if number == len(lines):
                return offset
            raise StudyError(
                f"{path}: record {number:,} of {len(lines):,} is damaged (not one whole JSON "
                "record); nothing was changed. trials.csv and the experiment's other files "
                "are intact; put back a good copy of the journal, or move it aside to go on "
                "without Optuna's history"
            )
        offset += len(line)
    return None


def _whole_record(line: bytes) -> bool:
    if not line.endswith(b"\n"):
        return False
    try:
        return isinstance(json.loads(line), dict)
    except (ValueError, RecursionError):
        return False


def repair_tail(folder: Path) -> bool:
    """Before anything appends to ``folder``'s journal: cut a torn last record back to
    the last whole one, keeping the cut bytes in ``optuna.journal.torn-N``; True when
    it cut. Taken under the journal's lock, so no append races it. A damaged record
    before the last is a StudyError (nothing changed)."""
    path = storage_path(folder)
    if not path.is_file():
        return False
    lock = FlockLock(str(path) + ".flock")
    lock.acquire()
    try:
        offset = check(path)
        if offset is None:
            return False
        fd = os.open(path, os.O_RDWR | os.O_NOFOLLOW)
        try:
            os.lseek(fd, offset, os.SEEK_SET)
            cut = b""
            while chunk := os.read(fd, 1 << 20):
                cut += chunk
            kept = _keep_aside(path, cut)
            os.ftruncate(fd, offset)
            os.fsync(fd)
        finally:
            os.close(fd)
    finally:
        lock.release()
    log.warning(
        "%s: its last record was cut short (a kill or a power cut mid-write); cut back to "
        "the last whole record, the %d cut bytes kept in %s",
        path,
        len(cut),
        kept.name,
    )
    return True


def _keep_aside(path: Path, data: bytes) -> Path:
    """``data`` in a new file ``<path>.torn-N`` (never through a link, never over a file)."""
    for n in range(1, 1000):
        target = path.with_name(f"{path.name}.torn-{n}")
        try:
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
        except FileExistsError:
            continue
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        return target
    raise StudyError(f"{path}: too many torn copies beside it; remove the old ones")


def study_name(folder: Path) -> str:
    return folder.resolve().name


def close_out(folder: Path, trials: pd.DataFrame, every_constraint: bool = False) -> int:
    """End, as trials.csv says, every trial the journal still holds as RUNNING; a trial
    trials.csv holds as unfinished stays RUNNING (``study resume`` continues it).
    What cannot train ends with the violated constraint, as the searcher tells it, and
    with ``every_constraint`` (a gp study: GPSampler needs the constraint on every
    trial) the others with 0. Returns how many were ended. No journal, nothing to do."""
    if not storage_path(folder).is_file():
        return 0
    import optuna
    from optuna.trial import TrialState

    study = optuna.load_study(study_name=study_name(folder), storage=open_storage(folder))
    by_id = {} if trials.empty else {str(r["trial_id"]): r for _, r in trials.iterrows()}
    ended = 0
    for frozen in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        row = by_id.get(str(frozen.user_attrs.get("trial_id", "")))
        status = str(row["status"]) if row is not None else LOST
        if STATES.get(status) == "RUNNING":
            continue
        trial = optuna.Trial(study, frozen._trial_id)
        trial.set_user_attr("status", status)
        if row is None:
            trial.set_user_attr("reason", "asked of Optuna but never run: the driver stopped first")
            study.tell(trial, state=TrialState.FAIL)
        else:
            trial.set_user_attr("reason", str(row.get("reason") or "")[:300])
            state = TrialState[STATES.get(status, "FAIL")]
            value = row.get("objective") if state == TrialState.COMPLETE else None
            if state == TrialState.COMPLETE and not _finite(value):
                state = TrialState.FAIL
            if state == TrialState.COMPLETE and (status in FAILED or every_constraint):
                trial.set_constraint(CONSTRAINT, 1.0 if status in FAILED else 0.0)
            told = float(value) if state == TrialState.COMPLETE and value is not None else None
            study.tell(trial, told, state=state)
        ended += 1
    if ended:
        log.debug(
            "%d trial(s) still running in the Optuna journal, ended as trials.csv says", ended
        )
    return ended


def _finite(value: Any) -> bool:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return False
    return v == v and abs(v) != float("inf")
