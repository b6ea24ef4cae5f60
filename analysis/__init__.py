"""Experiment folders -> pandas tables -> matplotlib figures -> HTML / Markdown reports.

``load(folder)`` reads one experiment (``.trials``, ``.history``, ``.spec``);
``load_many(folders)`` combines several with an ``experiment`` column;
``write_report(experiment, out, fmt)`` writes the report folder;
``write_course(suite_folder)`` a course suite's page. Reads files only.

By stage: ``load`` (and ``files``, safe reads of untrusted folders) reads a folder;
``tables`` computes every section's numbers; ``plots`` draws them; ``report`` writes
a study's page, ``course`` a course suite's, ``compare`` several studies side by side.
"""

from __future__ import annotations

from .compare import write_comparison
from .course import is_course, write_course
from .errors import AnalysisError
from .load import Experiment, load, load_many
from .report import write_report

__all__ = [
    "AnalysisError",
    "Experiment",
    "is_course",
    "load",
    "load_many",
    "write_comparison",
    "write_course",
    "write_report",
]
