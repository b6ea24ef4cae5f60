"""A study's working folder kept up to date under its storage URI while it runs.

:class:`Mirror` uploads what changed since its last upload (mtime, size), in a thread
of its own or at once for the small files a resume needs; :class:`Uploads` is what a
running study holds: the mirror, and where Ray writes its own state on a cluster
(ARCHITECTURE.md, "Durable storage").
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from experiment_folder import LEDGER_FILE, LOCK_FILE, STATE_BACKUP_DIR
from study.storage.remote import Remote, reason
from study.storage.transfer import copy_down

log = logging.getLogger(__name__)


# Never uploaded: locks belong to this machine's run (lock.py; Optuna's
# journal lock file ends in .flock).
NOT_UPLOADED = (LOCK_FILE,)
NOT_UPLOADED_SUFFIXES = (".flock",)


class Mirror:
    """Uploads an experiment folder to its place under a URI, each time only what
    changed since the last upload. An upload that fails costs nothing: the study goes
    on in its local folder, says once what could not be uploaded, and the next upload
    (the next finished trial, the end, or ``study sync``) sends it."""

    def __init__(self, folder: Path, remote: Remote) -> None:
        self.folder = folder
        self.remote = remote
        self._sent: dict[str, tuple[int, int]] = {}
        self.failing: str | None = None
        self.uploads = 0
        self.seconds = 0.0
        self._pushing = threading.Lock()  # one upload at a time, whichever thread
        self._wanted = threading.Event()
        self._thread: threading.Thread | None = None
        self._closing = False

    def push_soon(self) -> None:
        """Ask for an upload without waiting for it. A thread of the mirror's own
        uploads, so the study's driver (Ray Tune's loop) goes on at once; requests made
        while it uploads are served by one more upload (benchmarks/cluster_storage.py:
        uploading in the driver's loop cost 19 % of mlp-search's wall time)."""
        if self._thread is None:
            self._closing = False
            self._thread = threading.Thread(target=self._loop, name="study-upload", daemon=True)
            self._thread.start()
        self._wanted.set()

    def _loop(self) -> None:
        while True:
            self._wanted.wait()
            self._wanted.clear()
            if self._closing:
                return
            self.push()

    def finish(self) -> bool:
        """Stop the upload thread (after the upload it is doing), then upload what is
        left, here: whether everything is up there."""
        thread, self._thread = self._thread, None
        if thread is not None:
            self._closing = True
            self._wanted.set()
            thread.join()
        return self.push()

    def remote_of(self, folder: Path) -> Remote:
        """The place under the URI of ``folder`` (this mirror's folder, or a suite's study)."""
        remote = self.remote
        for part in folder.relative_to(self.folder).parts:
            remote = remote.child(part)
        return remote

    def mark_sent(self, relatives: list[str]) -> None:
        """Files just downloaded from the URI: up there already."""
        stamps = dict(_local_files(self.folder))
        for relative in relatives:
            if relative in stamps:
                self._sent[relative] = stamps[relative]

    def push(self) -> bool:
        """Upload what changed; whether everything is now up there."""
        with self._pushing:
            return self._push()

    def push_now(self, folder: Path, names: tuple[str, ...]) -> bool:
        """Upload what changed among ``names`` (files or folders) in ``folder`` now, and
        wait for it: the ledger and the state backup at a trial's end."""
        base = folder.relative_to(self.folder).as_posix()
        prefixes = tuple(n if base == "." else f"{base}/{n}" for n in names)
        with self._pushing:
            return self._push(only=prefixes)

    def _push(self, only: tuple[str, ...] | None = None) -> bool:
        import time

        from pyarrow import fs as pafs

        started = time.perf_counter()
        local = pafs.LocalFileSystem()
        try:
            here = dict(_local_files(self.folder))
            for relative, stamp in here.items():
                if self._sent.get(relative) == stamp or not _among(relative, only):
                    continue
                if not (self.folder / relative).is_file():
                    continue  # gone since the walk (Ray replaced a checkpoint): next time
                try:
                    pafs.copy_files(
                        str(self.folder / relative),
                        f"{self.remote.path}/{relative}",
                        source_filesystem=local,
                        destination_filesystem=self.remote.fs,
                    )
                except FileNotFoundError:
                    if (self.folder / relative).exists():
                        raise
                    continue  # gone while it was read: the study removed it
                self._sent[relative] = stamp
                self.uploads += 1
            # What this mirror uploaded and the study has since removed (Ray keeps one
            # checkpoint per trial, num_to_keep=1) goes up there too; nothing else is
            # deleted.
            for relative in [r for r in self._sent if r not in here and only is None]:
                with contextlib.suppress(FileNotFoundError):
                    self.remote.fs.delete_file(f"{self.remote.path}/{relative}")
                del self._sent[relative]
        except OSError as exc:
            if self.failing is None:
                log.warning(
                    "could not upload to %s (%s); the study goes on in %s; what is not "
                    "uploaded goes at the next finished trial, or with: study sync %s",
                    self.remote.uri,
                    reason(exc),
                    self.folder,
                    self.folder,
                )
            self.failing = reason(exc)
            return False
        finally:
            self.seconds += time.perf_counter() - started
        if self.failing is not None:
            log.info("%s answers again: everything is uploaded", self.remote.uri)
            self.failing = None
        return True


def _among(relative: str, only: tuple[str, ...] | None) -> bool:
    return only is None or any(relative == o or relative.startswith(o + "/") for o in only)


def _local_files(folder: Path) -> list[tuple[str, tuple[int, int]]]:
    """(path relative to ``folder``, (mtime, size)) of each regular file under it;
    links are not followed."""
    found = []
    for top, dirs, files in os.walk(folder, followlinks=False):
        for name in files:
            path = Path(top, name)
            relative = path.relative_to(folder).as_posix()
            if name in NOT_UPLOADED or name.endswith(NOT_UPLOADED_SUFFIXES):
                continue
            try:
                stat = path.lstat()
            except OSError:
                continue  # gone since the walk (a temporary file renamed into place)
            if not path.is_symlink() and path.is_file():
                found.append((relative, (stat.st_mtime_ns, stat.st_size)))
        dirs.sort()
    return found


@dataclass
class Uploads:
    """What keeps a study's URI up to date while it runs: the ``mirror`` of its working
    folder (None for a plain folder), and ``ray_remote``, the study's place under the
    URI when Ray writes its own state and checkpoints there (on a cluster)."""

    mirror: Mirror | None = None
    ray_remote: Remote | None = None

    def fetch_ray_files(self, folder: Path) -> None:
        """After Ray wrote to the URI: its files (all but the checkpoints) into the
        working folder, where the tables and the report are made from them. Files the
        folder already has (the harness's own) are kept."""
        if self.ray_remote is None:
            return
        remote = self.ray_remote
        fetched = copy_down(remote, remote.files(), folder, checkpoints=False, keep=True)
        if self.mirror is not None:
            prefix = folder.relative_to(self.mirror.folder).as_posix()
            self.mirror.mark_sent([r if prefix == "." else f"{prefix}/{r}" for r in fetched])

    def ray_storage(self, folder: Path) -> tuple[str, Any]:
        """Ray's storage_path and storage_filesystem for the experiment ``folder``."""
        if self.ray_remote is None:
            return str(folder.parent.resolve()), None
        return self.ray_remote.parent().path, self.ray_remote.fs

    def trial_ended(self, folder: Path) -> None:
        """The ledger's moment: a trial's end is written locally. The ledger and the
        harness's copy of Ray's state go up at once, before the trial's line is printed
        (small files: a killed driver loses no finished trial, and its resume finds a
        state as new as the ledger); the rest in the mirror's thread (push_soon)."""
        if self.mirror is not None:
            self.mirror.push_now(folder, (LEDGER_FILE, STATE_BACKUP_DIR))
            self.mirror.push_soon()
