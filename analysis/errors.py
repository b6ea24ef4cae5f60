"""The analysis package's error: a folder that cannot be analysed. The CLI prints its
message in one line and exits 2."""

from __future__ import annotations


class AnalysisError(Exception):
    """A folder that cannot be analysed; the CLI prints the message and exits 2."""
