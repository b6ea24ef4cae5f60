"""Reading untrusted experiment folders and writing reports, safely.

``study analyze`` and ``study compare`` treat the folders they are given as
untrusted (README, "Security model"):

- they read only regular files inside the folder (no link, FIFO or device, and
  nothing a link inside the folder points to elsewhere), each under a size cap;
  anything else is skipped with a warning;
- they never write through a link: a report is built in a fresh temporary folder
  beside its target and renamed into place, replacing a link there (not what it
  points to), and only ever a folder that holds nothing but a report.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import stat
import tempfile
from collections.abc import Mapping
from pathlib import Path

from .errors import AnalysisError

MAX_FILE_BYTES = 256 * 2**20  # per file read from an experiment folder
REPORT_SUFFIXES = (".html", ".md", ".png", ".csv")


def within(path: Path, root: Path) -> bool:
    """Whether ``path``, links resolved, lies inside ``root`` (links resolved)."""
    try:
        real = Path(os.path.realpath(path))
        base = Path(os.path.realpath(root))
    except (OSError, ValueError):
        return False
    return real == base or base in real.parents


def read_regular(path: Path, root: Path, warnings: list[str]) -> bytes | None:
    """The bytes of ``path`` if it is a regular file inside ``root`` of at most
    MAX_FILE_BYTES; None (with a warning) if it is anything else, None (quietly)
    if it does not exist."""
    shown = _shown(path, root)
    if not os.path.lexists(path):
        return None
    if not within(path.parent, root):
        warnings.append(f"{shown}: lies outside the experiment folder; skipped")
        return None
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        why = "a link" if exc.errno == errno.ELOOP else (exc.strerror or "unreadable")
        warnings.append(f"{shown}: {why}; skipped")
        return None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            warnings.append(f"{shown}: not a regular file; skipped")
            return None
        if info.st_size > MAX_FILE_BYTES:
            warnings.append(
                f"{shown}: {info.st_size:,} bytes, above the {MAX_FILE_BYTES:,}-byte cap; skipped"
            )
            return None
        with os.fdopen(os.dup(fd), "rb") as f:
            data = f.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        warnings.append(f"{shown}: unreadable ({exc.strerror}); skipped")
        return None
    finally:
        os.close(fd)
    if len(data) > MAX_FILE_BYTES:  # grew while read
        warnings.append(f"{shown}: above the {MAX_FILE_BYTES:,}-byte cap; skipped")
        return None
    return data


def _shown(path: Path, root: Path) -> str:
    with contextlib.suppress(ValueError):
        return str(path.relative_to(root))
    return path.name


def subfolders(folder: Path) -> list[Path]:
    """The real sub-folders of ``folder`` (links to folders are not followed)."""
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return []
    return sorted(Path(e.path) for e in entries if e.is_dir(follow_symlinks=False))


def _is_report_folder(path: Path) -> bool:
    """A real folder holding only regular report files (what write_report leaves)."""
    try:
        entries = list(os.scandir(path))
    except OSError:
        return False
    return all(
        e.is_file(follow_symlinks=False) and e.name.endswith(REPORT_SUFFIXES) for e in entries
    )


def publish(files: Mapping[str, bytes], target: Path, owned: bool = False) -> Path:
    """Write ``files`` (name -> bytes) as the folder ``target``, never through a link.

    They are written into a new temporary folder beside ``target``, which then
    replaces ``target``: a link there is replaced itself (what it points to is left
    alone) and an earlier report is removed. With ``owned`` (the experiment's own
    ``report/``), whatever stands there is replaced; otherwise (``--out``) any other
    existing folder or file is refused, so that ``--out`` never wipes a user's folder.
    """
    parent = target.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise AnalysisError(f"{parent}: cannot create the report folder ({exc.strerror})") from None
    real_dir = target.is_dir() and not target.is_symlink()
    if not owned and real_dir and not _is_report_folder(target):
        raise AnalysisError(
            f"{target}: exists and holds more than a report; give a new or empty folder"
        )
    if not owned and os.path.lexists(target) and not real_dir and not target.is_symlink():
        raise AnalysisError(f"{target}: exists and is not a folder; give a new or empty folder")
    try:
        fresh = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=parent))
    except OSError as exc:
        raise AnalysisError(f"{parent}: cannot write the report ({exc.strerror})") from None
    try:
        for name, data in files.items():
            # O_EXCL: a new file in a folder only we know; never an existing one.
            fd = os.open(fresh / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            with os.fdopen(fd, "wb") as f:
                f.write(data)
        os.chmod(fresh, 0o755)
        _swap(fresh, target)
    except OSError as exc:
        shutil.rmtree(fresh, ignore_errors=True)
        raise AnalysisError(f"{target}: cannot write the report ({exc.strerror})") from None
    return target


def _swap(fresh: Path, target: Path) -> None:
    """Put ``fresh`` where ``target`` is: the old entry (a link or a report folder) is
    moved aside first, so nothing is ever written through it, then removed."""
    if not os.path.lexists(target):
        os.rename(fresh, target)
        return
    aside = Path(tempfile.mkdtemp(prefix=f".{target.name}-old-", dir=target.parent))
    os.rename(target, aside / "old")  # renames a link itself, not what it points to
    os.rename(fresh, target)
    shutil.rmtree(aside, ignore_errors=True)  # rmtree never follows links
