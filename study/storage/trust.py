"""Whether a folder may be resumed: ``study resume`` hands the folder to Ray's restore.

Ray Tune keeps its state as pickles and as JSON with pickled fields: ``tuner.pkl``,
``searcher-state-*.pkl``, ``experiment_state-*.json`` (its ``CLOUDPICKLE_FALLBACK``
fields are unpickled, issue 21), and in each trial folder ``params.pkl``,
``error.pkl`` and the checkpoints. A crafted one runs code, and the harness reads
some of them before Ray even starts (whether the study finished). Listing which
files a given Ray release reads is a list that goes stale with the next release, so
the rule is about the whole folder: every entry in it, in every sub-folder, is
checked before anything in it is read (:func:`check_owned`). An experiment folder is
trusted for ``resume`` (README, "Security model") only when every file and folder in
it is this user's, none is writable by anyone, and none is a link or a special file.
``analyze`` and ``compare`` unpickle nothing and read such folders safely.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

from study.errors import StudyError

log = logging.getLogger(__name__)

WHY = "study resume hands this folder to Ray's restore, which unpickles its state and can run code"
# A folder deeper than this is not one the harness wrote (Ray's deepest is a checkpoint
# inside a trial folder, four levels down); walking it is refused, not recursed.
MAX_DEPTH = 32


def _entries(folder: Path) -> list[tuple[Path, os.stat_result]]:
    """Every entry under ``folder`` (itself included), with its lstat: links are
    reported, never followed."""
    found = [(folder, os.lstat(folder))]
    stack = [(folder, 0)]
    while stack:
        where, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise StudyError(f"{where}: nested deeper than {MAX_DEPTH} folders; {WHY}")
        try:
            with os.scandir(where) as it:
                children = list(it)
        except OSError as exc:
            raise StudyError(f"{where}: cannot be listed ({exc.strerror}); {WHY}") from None
        for entry in children:
            path = Path(entry.path)
            info = entry.stat(follow_symlinks=False)
            found.append((path, info))
            if stat.S_ISDIR(info.st_mode):
                stack.append((path, depth + 1))
    return found


def check_owned(folder: Path) -> None:
    """Refuse a folder any entry of which (at any depth) another user owns, anyone may
    write, or is a link or a special file; warn where the group may write.

    Called before anything in the folder is read, and so before Ray starts."""
    if not hasattr(os, "getuid"):  # no POSIX owners (Windows): nothing to check
        return
    me = os.getuid()
    group_writable = []
    for path, info in _entries(folder):
        regular = stat.S_ISREG(info.st_mode) or stat.S_ISDIR(info.st_mode)
        if not regular:
            kind = "a link" if stat.S_ISLNK(info.st_mode) else "a special file"
            raise StudyError(f"{path}: {kind}, not a regular file or folder; {WHY}")
        if info.st_uid != me:
            raise StudyError(
                f"{path}: owned by uid {info.st_uid}, not by you (uid {me}); {WHY}: "
                "resume only folders you wrote"
            )
        if info.st_mode & stat.S_IWOTH:
            raise StudyError(
                f"{path}: anyone may write it (mode {stat.filemode(info.st_mode)}); {WHY}: "
                f"chmod -R o-w {folder}"
            )
        if info.st_mode & stat.S_IWGRP:
            group_writable.append(path)
    if group_writable:
        log.warning(
            "%s: your group may write %d of its files and folders (%s); resume trusts whoever can",
            folder,
            len(group_writable),
            group_writable[0].name,
        )
