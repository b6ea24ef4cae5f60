"""A file written whole or not at all, never through a link: what every record in the
experiment folder is written with (the tables, spec.yaml, the state backup, a suite's
files).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``path`` whole or not at all, never through a link: the bytes go to a new
    file (O_EXCL, a name only this call knows) that then replaces ``path`` itself."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
