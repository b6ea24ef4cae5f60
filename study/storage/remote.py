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

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

from study.errors import StudyError

log = logging.getLogger(__name__)

# Where the working folders of studies kept under a URI go on this machine.
CACHE_ENV = "STUDY_HARNESS_CACHE"
FORMS = "s3://BUCKET/PREFIX, gs://BUCKET/PREFIX, file:///PATH or a folder"


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
