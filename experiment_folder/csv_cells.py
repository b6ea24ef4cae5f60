"""CSV cells a spreadsheet would run (issue 21): the one way the harness writes a CSV
(trials.csv, history.csv, the reports' tables) and the way it reads one back.

A text cell that starts with one of FORMULA's characters is a formula to Excel,
LibreOffice and Google Sheets (OWASP, "CSV Injection"): it is written with a leading
' (which the spreadsheets hide), and read back without it. A cell that already starts
with 's before such a character gets one more, so that reading restores it exactly.
"""

from __future__ import annotations

import csv
import re
from typing import Any

import pandas as pd

__all__ = [
    "FORMULA",
    "csv_bytes",
    "escape_cell",
    "unescape_cell",
    "unescape_csv",
]

FORMULA = re.compile(r"'*[=+\-@\t\r]")


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def escape_cell(value: Any) -> Any:
    """``value`` as a CSV cell no spreadsheet runs: text only; numbers (negative ones
    included, and text that is a number) stay as they are."""
    if isinstance(value, str) and FORMULA.match(value) and not _is_number(value):
        return "'" + value
    return value


def unescape_cell(value: Any) -> Any:
    if isinstance(value, str) and value.startswith("'") and FORMULA.match(value[1:]):
        return value[1:]
    return value


def _map_text(frame: pd.DataFrame, fn: Any) -> pd.DataFrame:
    out = frame.copy()
    for column in out.columns:
        if pd.api.types.is_object_dtype(out[column]) or pd.api.types.is_string_dtype(out[column]):
            out[column] = out[column].map(fn)
    out.columns = [fn(c) for c in out.columns]
    if pd.api.types.is_object_dtype(out.index) or pd.api.types.is_string_dtype(out.index):
        out.index = out.index.map(fn)
    return out


def csv_bytes(frame: pd.DataFrame, index: bool = False) -> bytes:
    """The one way the harness writes a CSV (trials.csv, history.csv, the reports'
    tables): text that a spreadsheet would take for a formula is escaped."""
    escaped = _map_text(frame, escape_cell)
    # pandas quotes a cell holding "\n" but not one holding a lone "\r" (its line end is
    # "\n"), which a reader then takes for a line break: quote every text cell then.
    texts = escaped.select_dtypes(include=["object", "string"])
    has_cr = any(texts[c].astype(str).str.contains("\r", regex=False).any() for c in texts)
    quoting = csv.QUOTE_NONNUMERIC if has_cr else csv.QUOTE_MINIMAL
    return escaped.to_csv(index=index, quoting=quoting).encode("utf-8")


def unescape_csv(frame: pd.DataFrame) -> pd.DataFrame:
    """A CSV written by :func:`csv_bytes`, with its cells as they were."""
    return _map_text(frame, unescape_cell)
