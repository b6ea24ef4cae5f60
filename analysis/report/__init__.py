"""A study's report: its sections computed and drawn (sections.py, stability.py), then
written as one page (page.py): index.html, report.md, PNGs and CSVs. The course page
and a comparison are written by the same page.
"""

from __future__ import annotations

from .page import FORMATS, MAX_INLINE_ROWS, Section, fmt_value, md_text, write_sections
from .sections import build_sections, write_report

__all__ = [
    "FORMATS",
    "MAX_INLINE_ROWS",
    "Section",
    "build_sections",
    "fmt_value",
    "md_text",
    "write_report",
    "write_sections",
]
