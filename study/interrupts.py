"""Ctrl-C at any moment of a run: where the run stood, and what the user can do next.

Ray Tune handles a SIGINT during the trials itself (it saves its state, and the
runner raises :class:`~study.errors.Interrupted` with the folder). Anywhere else
(while Python imports, while Ray starts, before the first trial, while the tables or
the report are written) a ``KeyboardInterrupt`` reaches the command line, which
asks :func:`hint` for one line naming the real folder, or saying there is nothing
to resume. The runner keeps :data:`RUN` up to date as it goes.

While Ray starts and stops, a SIGINT is held back until it is done
(:func:`deferred_sigint`): an interrupt in the middle of ``ray.init`` has left a
half-started core worker behind, which crashed the interpreter on the way out
(issue 16: 'Segmentation fault', exit 139).
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


@dataclass
class Run:
    """Where the current run stands: its suite folder (if any), the study folder being
    run, and the phase: ``start`` (before a study folder), ``trials``, ``tables``,
    ``report`` or ``done``."""

    suite: Path | None = None
    folder: Path | None = None
    phase: str = "start"


RUN = Run()


# Whether a SIGINT came while the command's own handler was in place. A KeyboardInterrupt
# raised inside an import of a Cython module is swallowed there ("Exception ignored in:
# <module 'collections.abc'> ... KeyboardInterrupt", seen in about 1 run in 12 with a
# Ctrl-C 0.3 s after start), and the study then ran to its end and exited 0. The
# flag keeps it: each phase of the run checks it (raise_if_swallowed).
_SEEN = [False]


@contextlib.contextmanager
def sigint_guard() -> Iterator[None]:
    """The command's SIGINT handler for the block: a KeyboardInterrupt, as Python's
    default, that also sets the flag. Only the main thread may handle signals."""
    _SEEN[0] = False
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: Any) -> None:
        _SEEN[0] = True
        raise KeyboardInterrupt

    previous_hook = sys.unraisablehook

    def quiet(unraisable: Any) -> None:
        # Where our KeyboardInterrupt is swallowed (a Cython import, a __del__), Python
        # prints "Exception ignored in: ... Traceback ..." (seen in CI: a Ctrl-C 0.3 s
        # after start). The flag keeps the interrupt for the next phase; the user sees
        # one line, never a traceback.
        if not (isinstance(unraisable.exc_value, KeyboardInterrupt) and _SEEN[0]):
            previous_hook(unraisable)

    previous = signal.signal(signal.SIGINT, interrupt)
    sys.unraisablehook = quiet
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        sys.unraisablehook = previous_hook
        _SEEN[0] = False


def raise_if_swallowed() -> None:
    """Raise the KeyboardInterrupt of a SIGINT that something swallowed."""
    if _SEEN[0]:
        _SEEN[0] = False
        raise KeyboardInterrupt


def start() -> None:
    raise_if_swallowed()
    RUN.suite, RUN.folder, RUN.phase = None, None, "start"


def at(phase: str, folder: Path | None = None, suite: Path | None = None) -> None:
    raise_if_swallowed()
    RUN.phase = phase
    if folder is not None:
        RUN.folder = folder
    if suite is not None:
        RUN.suite = suite


def _resumable(folder: Path) -> bool:
    """Whether Ray Tune has written the state ``study resume`` restores from."""
    return (folder / "tuner.pkl").is_file() or any(folder.glob("experiment_state-*.json"))


def _discard_if_only_ours(folder: Path) -> bool:
    """Remove a study folder that holds nothing but what the study wrote before its first
    trial (its spec, its empty Optuna journal), so that the next run of the same name is
    not pushed to '<name>-2' by an empty study; True when it is gone."""
    # Imported here, not at the top: this module must import after a Ctrl-C that cut
    # pandas' import short (experiment_folder imports pandas); a folder exists only once
    # the runner got far past that.
    from experiment_folder import LOCK_FILE, OPTUNA_FILE, SPEC_FILE

    own_early_files = (SPEC_FILE, OPTUNA_FILE, OPTUNA_FILE + ".flock", LOCK_FILE)
    try:
        names = {p.name for p in folder.iterdir()}
    except OSError:
        return False
    if not names <= set(own_early_files):
        return False
    try:
        for name in names:
            (folder / name).unlink()
        folder.rmdir()
    except OSError:
        return False
    return True


def hint() -> str:
    """One line after a Ctrl-C: what was kept and what to run next."""
    folder, suite = RUN.folder, RUN.suite
    again = suite or folder
    if folder is None:
        if suite is not None and _discard_if_only_ours(suite):
            return "interrupted before any study started: nothing was kept, nothing to resume"
        if suite is not None:
            return f"interrupted; continue with: study resume {suite}"
        return "interrupted before any study started: nothing was written, nothing to resume"
    if RUN.phase == "report":
        return (
            f"interrupted while writing the report; the results are in {folder}; "
            f"write the report with: study analyze {folder}"
        )
    if RUN.phase == "done":  # between a suite's studies, the next ones are still to run
        if suite is not None:
            return (
                f"interrupted; results so far are in {suite}; continue with: study resume {suite}"
            )
        return f"interrupted; the results are in {folder}"
    if _resumable(folder):
        return f"interrupted; results so far are in {again}; continue with: study resume {again}"
    if suite is None and _discard_if_only_ours(folder):
        return "interrupted before the first trial started: nothing was kept, nothing to resume"
    if suite is not None:
        _discard_if_only_ours(folder)
        return f"interrupted; continue with: study resume {suite}"
    return f"interrupted before the first trial started; {folder} holds only its spec"


@contextlib.contextmanager
def deferred_sigint() -> Iterator[list[int]]:
    """Hold a SIGINT back for the block (Ray starting or stopping); it is raised as a
    KeyboardInterrupt afterwards, by the caller (the list it yields says whether one
    came). Only the main thread may handle signals: elsewhere nothing is held back."""
    got: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield got
        return

    def hold(signum: int, frame: Any) -> None:
        got.append(signum)

    previous = signal.signal(signal.SIGINT, hold)
    try:
        yield got
    finally:
        signal.signal(signal.SIGINT, previous)


@contextlib.contextmanager
def tune_saw_sigint() -> Iterator[list[bool]]:
    """Whether Ray Tune stopped the block's run for a Ctrl-C: the list it yields holds
    one bool, set when the block ends.

    Ray Tune 2.60's handler (tune.py, ``_setup_signal_catching``) hands the SIGINT
    handler it found back when it sees a Ctrl-C, and otherwise leaves its own in place.
    So a handler of ours, installed before the run, is back in place afterwards exactly
    when Tune stopped for a Ctrl-C, even if every trial it had started had ended: a grid
    interrupted before its last points became trials looked finished (exit 0) in about
    1 run in 6 (issue 16). Ours raises KeyboardInterrupt, as Python's default does, for
    a second Ctrl-C."""
    saw = [False]
    if threading.current_thread() is not threading.main_thread():
        yield saw
        return

    def ours(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGINT, ours)
    try:
        yield saw
    finally:
        saw[0] = signal.getsignal(signal.SIGINT) is ours
        signal.signal(signal.SIGINT, previous)


def raise_if_held(got: list[int]) -> None:
    if got:
        log.debug(
            "a Ctrl-C held back while Ray started or stopped is raised now (pid %d)", os.getpid()
        )
        raise KeyboardInterrupt


__all__ = [
    "RUN",
    "at",
    "deferred_sigint",
    "hint",
    "raise_if_held",
    "raise_if_swallowed",
    "sigint_guard",
    "start",
    "tune_saw_sigint",
]
