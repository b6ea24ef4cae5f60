"""Whether a folder may be resumed: ``study resume`` unpickles Ray's state in it.

Ray Tune keeps its tuner and its searcher as pickles (``tuner.pkl``,
``searcher-state-*.pkl``); ``Tuner.restore`` loads them, and a crafted pickle runs
code. So an experiment folder is trusted for ``resume`` (README, "Security model")
and only folders that this user owns, and that others cannot write, are resumed.
``analyze`` and ``compare`` unpickle nothing and read such folders safely.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

from experiment_folder import STATE_BACKUP_DIR

from .errors import StudyError

log = logging.getLogger(__name__)

# The files Ray unpickles on restore, and the harness's copies of them.
PICKLED = ("tuner.pkl", "trainable.pkl", "searcher-state-", "search_gen_state-")


def _pickles(folder: Path) -> list[Path]:
    found = []
    for where in (folder, folder / STATE_BACKUP_DIR):
        try:
            entries = list(where.iterdir())
        except OSError:
            continue
        found += [p for p in entries if p.name.startswith(PICKLED)]
    return found


def check_owned(folder: Path) -> None:
    """Refuse a folder (or a pickle in it) that another user owns, that anyone may
    write, or a pickle that is a link; warn where the group may write."""
    if not hasattr(os, "getuid"):  # no POSIX owners (Windows): nothing to check
        return
    me = os.getuid()
    group_writable = []
    for path in [folder, *_pickles(folder)]:
        info = os.lstat(path)
        if path != folder and not stat.S_ISREG(info.st_mode):
            raise StudyError(
                f"{path}: not a regular file; study resume unpickles Ray's state here, "
                "so it refuses links and special files"
            )
        if info.st_uid != me:
            raise StudyError(
                f"{path}: owned by uid {info.st_uid}, not by you (uid {me}); study resume "
                "unpickles Ray's state, which can run code: resume only folders you wrote"
            )
        if info.st_mode & stat.S_IWOTH:
            raise StudyError(
                f"{path}: anyone may write it (mode {stat.filemode(info.st_mode)}); study "
                "resume unpickles Ray's state, which can run code: chmod -R o-w the folder"
            )
        if info.st_mode & stat.S_IWGRP:
            group_writable.append(path.name)
    if group_writable:
        log.warning(
            "%s: your group may write %s; resume trusts whoever can",
            folder,
            ", ".join(group_writable),
        )
