"""Copies between a storage URI and this machine: a study downloaded whole (for a
resume, with Ray's checkpoints) or without checkpoints (for a report), and a report
folder uploaded. The bucket is read as untrusted: a key that would land outside the
folder it is copied into is refused, and nothing is written through a link.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from study.errors import StudyError
from study.storage.remote import Remote, resolve

# Ray's checkpoints of each trial: only a resume needs them.
CHECKPOINT_PREFIX = "checkpoint_"


def download(remote: Remote, dest: Path, checkpoints: bool = True) -> Path:
    """Copy everything under ``remote`` into the new folder ``dest`` (made here, so
    nothing is written through a link). A key that would land outside ``dest`` (``..``)
    is refused: the bucket is read as untrusted. Without ``checkpoints`` Ray's trial
    checkpoints are left out (a report does not need them)."""

    files = remote.files()
    if not files:
        raise StudyError(f"{remote.uri}: nothing there (no study under this URI)")
    dest.mkdir(parents=True, exist_ok=False)
    copy_down(remote, files, dest, checkpoints)
    return dest


def copy_down(
    remote: Remote, files: list[str], dest: Path, checkpoints: bool, keep: bool = False
) -> list[str]:
    """Copy ``files`` (keys relative to ``remote``) into ``dest``; ``keep``: a file
    already there is left as it is. Returns the keys copied."""
    from pyarrow import fs as pafs

    local = pafs.LocalFileSystem()
    copied = []
    for relative in files:
        parts = key_parts(remote, relative)
        if not checkpoints and any(p.startswith(CHECKPOINT_PREFIX) for p in parts[:-1]):
            continue
        target = dest.joinpath(*parts)
        if keep and os.path.lexists(target):
            continue
        _make_dirs(dest, target.parent)
        remote._call(
            lambda r=relative, t=target: pafs.copy_files(
                f"{remote.path}/{r}",
                str(t),
                source_filesystem=remote.fs,
                destination_filesystem=local,
            )
        )
        copied.append(relative)
    return copied


def upload_report(report: Path, remote: Remote, page: str) -> str:
    """Upload a report folder to ``remote``/report; the URI of its ``page``."""
    from pyarrow import fs as pafs

    target = remote.child(report.name)
    remote._call(
        lambda: pafs.copy_files(
            str(report),
            target.path,
            source_filesystem=pafs.LocalFileSystem(),
            destination_filesystem=remote.fs,
        )
    )
    return target.child(page).uri


def key_parts(remote: Remote, relative: str) -> tuple[str, ...]:
    """The path parts of a key under ``remote``, refused (one line) where it would land
    outside the folder it is copied into: the bucket is read as untrusted."""
    parts = tuple(relative.split("/"))
    if not relative or relative.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise StudyError(f"{remote.uri}: refused the key {relative!r} (it leaves the folder)")
    return parts


def _make_dirs(dest: Path, folder: Path) -> None:
    """Create ``folder`` under ``dest`` one level at a time, refusing a link on the way."""
    current = dest
    for part in folder.relative_to(dest).parts:
        current = current / part
        if current.is_symlink():
            raise StudyError(f"{current}: a link; not written through")
        current.mkdir(exist_ok=True)


def snapshot(uri: str, checkpoints: bool = False) -> tuple[Path, Remote]:
    """A fresh local copy of the study (or suite) at ``uri``, in a temporary folder the
    caller removes (``discard``)."""
    remote = resolve(uri)
    scratch = Path(tempfile.mkdtemp(prefix="study-"))
    return download(remote, scratch / remote.name, checkpoints), remote


def discard(folder: Path) -> None:
    shutil.rmtree(folder.parent, ignore_errors=True)
