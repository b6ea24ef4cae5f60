"""One writer per experiment folder: ``run`` and ``resume`` hold an exclusive lock on it.

Two commands writing one folder at once corrupt it (issue 21: two resumes of one
folder left finished trials ``unfinished`` and crashed the other with "Trial#0 has
already finished"). The lock is ``fcntl.flock`` on ``.study.lock`` in the folder:
the kernel drops it when its process ends, however it ends, so a killed driver
never leaves a stale lock behind. The holder writes its PID into the file, so the
second command can name it.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from experiment_folder import LOCK_FILE
from study.errors import DISK_FULL_ERRNOS, StudyError


def _unwritable(folder: Path, exc: OSError) -> StudyError:
    why = exc.strerror or type(exc).__name__
    return StudyError(f"{folder}: cannot write there ({why}); a study writes its results into it")


def try_lock(folder: Path) -> int | None:
    """The locked file's descriptor, or None when another process holds the lock.
    A folder this user cannot write is a one-line StudyError."""
    try:
        # O_NOFOLLOW: a link planted at the lock's name is refused, not written through.
        fd = os.open(folder / LOCK_FILE, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise StudyError(f"{folder / LOCK_FILE}: a link; not opened") from None
        raise _unwritable(folder, exc) from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    try:
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
    except OSError as exc:  # a full disk, say: the lock holds all the same
        if exc.errno not in DISK_FULL_ERRNOS:
            os.close(fd)
            raise _unwritable(folder, exc) from None
    return fd


def holder(folder: Path) -> str:
    """The PID written by the lock's holder, as text ('?' when unreadable)."""
    try:
        with open(folder / LOCK_FILE, "rb") as f:
            text = f.read(32).decode("ascii", "replace").strip()
    except OSError:
        return "?"
    return text if text.isdigit() else "?"


@contextlib.contextmanager
def hold(folder: Path) -> Iterator[None]:
    """Hold the folder's lock for the block, or a one-line StudyError naming the
    process that holds it."""
    fd = try_lock(folder)
    if fd is None:
        raise StudyError(
            f"{folder}: another study command (pid {holder(folder)}) is running on this "
            "folder; wait for it to end, or stop it"
        )
    try:
        yield
    finally:
        os.close(fd)  # closing the only descriptor releases the flock
