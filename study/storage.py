"""Where studies are kept: a local folder, or a storage URI (``s3://bucket/prefix``,
``gs://...``) that the study's local working folder is mirrored to (issue 22).

One module owns the URI forms and the copying. The I/O is pyarrow's file systems,
the ones Ray Tune itself uses for a ``storage_path`` URI: the endpoint and the
credentials come from where pyarrow (the AWS SDK) reads them: ``AWS_ENDPOINT_URL_S3``
or ``AWS_ENDPOINT_URL``, ``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``,
``~/.aws``, or ``?endpoint_override=`` in the URI (ARCHITECTURE.md, "Durable storage").

The layout under a URI is the local one: ``URI/NAME/trials.csv``, ``URI/NAME/report/``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

from experiment_folder import LEDGER_FILE, LOCK_FILE, STATE_BACKUP_DIR

from .errors import StudyError

log = logging.getLogger(__name__)

# Where the working folders of studies kept under a URI go on this machine.
CACHE_ENV = "STUDY_HARNESS_CACHE"
FORMS = "s3://BUCKET/PREFIX, gs://BUCKET/PREFIX, file:///PATH or a folder"
# Ray's checkpoints of each trial: only a resume needs them.
CHECKPOINT_PREFIX = "checkpoint_"
# Never uploaded: locks belong to this machine's run (folder_lock.py; Optuna's
# journal lock file ends in .flock).
NOT_UPLOADED = (LOCK_FILE,)
NOT_UPLOADED_SUFFIXES = (".flock",)


def is_uri(text: str | os.PathLike[str]) -> bool:
    return "://" in str(text)


@dataclass(frozen=True)
class Remote:
    """A place in an object store: ``uri`` as the user wrote it (query kept),
    ``fs``/``path`` as pyarrow resolved it (``path`` is ``bucket/prefix``)."""

    uri: str
    fs: Any = field(repr=False, compare=False)
    path: str

    def child(self, name: str) -> Remote:
        parts = urlsplit(self.uri)
        base = self.uri.split("?", 1)[0].rstrip("/")
        query = f"?{parts.query}" if parts.query else ""
        return Remote(f"{base}/{name}{query}", self.fs, f"{self.path.rstrip('/')}/{name}")

    @property
    def name(self) -> str:
        return PurePosixPath(self.path).name

    def parent(self) -> Remote:
        base = self.uri.split("?", 1)[0].rstrip("/")
        query = self.uri[len(self.uri.split("?", 1)[0]) :]
        return Remote(base.rsplit("/", 1)[0] + query, self.fs, str(PurePosixPath(self.path).parent))

    def is_empty(self) -> bool:
        from pyarrow import fs as pafs

        found = self._call(
            lambda: self.fs.get_file_info(pafs.FileSelector(self.path, allow_not_found=True))
        )
        return not found

    def files(self) -> list[str]:
        """Every file under this place, as paths relative to it."""
        from pyarrow import fs as pafs

        selector = pafs.FileSelector(self.path, recursive=True, allow_not_found=True)
        infos = self._call(lambda: self.fs.get_file_info(selector))
        cut = len(self.path.rstrip("/")) + 1
        return [i.path[cut:] for i in infos if i.type == pafs.FileType.File]

    def _call(self, fn: Any) -> Any:
        try:
            return fn()
        except OSError as exc:
            raise StudyError(f"{self.uri}: {reason(exc)}") from None


@dataclass(frozen=True)
class Place:
    """Where experiment folders go: ``root`` on this machine, mirrored to ``remote``
    when the storage is a URI."""

    root: Path
    remote: Remote | None = None


def place(storage: str | os.PathLike[str]) -> Place:
    """``--storage`` as given: a folder, ``file://`` (the same), or an object-store URI."""
    text = str(storage)
    if not is_uri(text):
        return Place(Path(text))
    scheme = text.split("://", 1)[0].lower()
    if scheme == "file":
        parts = urlsplit(text)
        path = parts.path
        if parts.netloc not in ("", "localhost") or not path.startswith("/"):
            raise StudyError(
                f"--storage {text}: a file:// URI needs an absolute path (file:///PATH)"
            )
        return Place(Path(path))
    remote = resolve(text)
    return Place(working_root(remote), remote)


def resolve(uri: str) -> Remote:
    """The pyarrow file system of ``uri``; a URI pyarrow cannot use is one line."""
    from pyarrow import fs as pafs

    if not urlsplit(uri).netloc:
        raise StudyError(f"{uri}: no bucket; give one of {FORMS}")
    try:
        filesystem, path = pafs.FileSystem.from_uri(uri)
    except OSError as exc:  # a well-formed URI whose storage pyarrow could not reach
        raise StudyError(f"{uri}: {_hint(reason(exc))}") from None
    except (ValueError, ImportError) as exc:  # ArrowInvalid is a ValueError
        raise StudyError(
            f"{uri}: not a storage URI pyarrow can open ({reason(exc)}); give one of {FORMS}"
        ) from None
    return Remote(uri.rstrip("/"), filesystem, path.rstrip("/"))


def reason(exc: BaseException) -> str:
    """An object store's error on one line, without the SDK's request details."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text.split("(Request ID", 1)[0].strip()


def cache_root() -> Path:
    given = os.environ.get(CACHE_ENV)
    if given:
        return Path(given)
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg) / "study-harness"


def working_root(remote: Remote) -> Path:
    """This machine's working folder for the studies kept under ``remote``:
    ``$STUDY_HARNESS_CACHE`` (default ``~/.cache/study-harness``)/scheme/bucket/prefix."""
    scheme = remote.uri.split("://", 1)[0].lower()
    parts = [p for p in PurePosixPath(remote.path).parts if p not in ("", ".", "..", "/")]
    return cache_root() / scheme / Path(*parts) if parts else cache_root() / scheme


def check(remote: Remote) -> None:
    """Before anything runs: the bucket exists and these credentials may list and
    write under the prefix. Each failure is one line (exit 2)."""
    from pyarrow import fs as pafs

    bucket = remote.path.split("/", 1)[0]
    try:
        info = remote.fs.get_file_info(bucket)
    except OSError as exc:
        raise StudyError(f"--storage {remote.uri}: {_hint(reason(exc))}") from None
    if info.type == pafs.FileType.NotFound:
        raise StudyError(
            f"--storage {remote.uri}: the bucket {bucket!r} does not exist; create it first"
        )
    probe = f"{remote.path}/.study-harness-probe"
    try:
        remote.fs.get_file_info(pafs.FileSelector(remote.path, allow_not_found=True))
        with remote.fs.open_output_stream(probe) as out:
            out.write(b"")
        remote.fs.delete_file(probe)
    except OSError as exc:
        raise StudyError(
            f"--storage {remote.uri}: cannot write there: {_hint(reason(exc))}"
        ) from None


def _hint(text: str) -> str:
    if any(
        code in text for code in ("ACCESS_DENIED", "SIGNATURE_DOES_NOT_MATCH", "InvalidAccessKeyId")
    ):
        return (
            f"the credentials were refused ({text}); check AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY"
        )
    if "NETWORK_CONNECTION" in text or "connect" in text.lower():
        return f"the storage did not answer ({text}); check AWS_ENDPOINT_URL or ?endpoint_override="
    return text


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


def download(remote: Remote, dest: Path, checkpoints: bool = True) -> Path:
    """Copy everything under ``remote`` into the new folder ``dest`` (made here, so
    nothing is written through a link). A key that would land outside ``dest`` (``..``)
    is refused: the bucket is read as untrusted. Without ``checkpoints`` Ray's trial
    checkpoints are left out (a report does not need them)."""

    files = remote.files()
    if not files:
        raise StudyError(f"{remote.uri}: nothing there (no study under this URI)")
    dest.mkdir(parents=True, exist_ok=False)
    _copy_down(remote, files, dest, checkpoints)
    return dest


def _copy_down(
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
        fetched = _copy_down(remote, remote.files(), folder, checkpoints=False, keep=True)
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
