"""Running ``study``'s own ``main`` in the test process (a subprocess per example of a
property-based test would cost seconds), and listing what it wrote."""

from __future__ import annotations

import contextlib
import io
import logging
from pathlib import Path

from study import cli


def run_cli(argv: list[str]) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of ``study ARGV``; the logging set-up it changes is
    put back afterwards."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    out, err = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = cli.main(argv)
            except SystemExit as exc:  # argparse
                code = exc.code if isinstance(exc.code, int) else 2
    finally:
        root.handlers[:], root.level = handlers, level
    return code, out.getvalue(), err.getvalue()


def files(root: Path) -> set[str]:
    """Every file and folder under ``root``, relative to it."""
    return {str(p.relative_to(root)) for p in root.rglob("*")}
