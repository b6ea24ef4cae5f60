"""The study package's errors, in a module of their own so that every other module can
raise them without importing another's internals. The CLI prints the message of a
:class:`StudyError` in one line and exits 2 (130 for :class:`Interrupted`)."""

from __future__ import annotations

import errno
from pathlib import Path
from typing import Any

# The errors of a write that found no space: the device is full, or the user's quota.
DISK_FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT)


class StudyError(Exception):
    """Base of the study package's errors; the CLI prints its message and exits 2."""


class SpecError(StudyError):
    """A spec (or an override) that cannot be run."""


class ClusterError(StudyError):
    """Ray could not be started or reached, or lacks the resources a spec asks for."""


class NothingTrained(StudyError):
    """The study ran to its end but no trial trained (every one raised, say); its results
    are written. The CLI exits 1: not bad input, a failed run."""


class StudiesFailed(StudyError):
    """Some studies of a suite failed; the others ran, and each failed one's folder holds
    failed.txt. The CLI exits 1: not bad input, a failed run."""


class Interrupted(StudyError):
    """The study stopped before every trial finished (Ctrl-C); its tables are written and
    ``study resume`` finishes it."""

    def __init__(self, folder: Path, unfinished: int) -> None:
        what = (
            f"interrupted with {unfinished} trial(s) unfinished"
            if unfinished
            else "interrupted before every trial had started"
        )
        super().__init__(
            f"{what}; results so far are in {folder}; continue with: study resume {folder}"
        )
        self.folder = folder
        self.unfinished = unfinished


class DiskFull(StudyError):
    """No space was left on the device while the study wrote ``what`` (issue 21). The
    CLI exits 1: not bad input, a run the machine could not finish. What was written
    before stays, and ``study resume`` finishes the study once space is freed."""

    def __init__(self, what: str, folder: Path | None, finished: int | None = None) -> None:
        kept = ""
        if folder is not None:
            ledger = f" (finished.jsonl holds {finished} finished trial(s))" if finished else ""
            kept = (
                f"; what was written so far is in {folder}{ledger}; free some space, then: "
                f"study resume {folder}"
            )
        super().__init__(f"no space left on device while writing {what}{kept}")
        self.folder = folder


class NotUploaded(StudyError):
    """The storage URI did not take what is in a study's working folder (issue 22). The
    CLI exits 1: not bad input; the folder keeps everything, and ``study sync`` retries."""

    def __init__(self, mirror: Any) -> None:
        super().__init__(
            f"{mirror.folder} is not uploaded to {mirror.remote.uri} ({mirror.failing}); "
            f"everything is kept there; retry with: study sync {mirror.folder}"
        )
