"""The course: a course suite's studies read as one walk through the study note.

- ``note``: the note's claims, chapter by chapter, in our words;
- ``regressions`` and ``networks``: each chapter measured against its study, with a
  computed verdict (``verdicts``: the four verdicts and their thresholds);
- ``page``: the course page; ``plots``: its figures.
"""

from __future__ import annotations

from .note import CHAPTERS, Chapter
from .page import is_course, write_course
from .verdicts import VERDICTS, Measured

__all__ = ["CHAPTERS", "VERDICTS", "Chapter", "Measured", "is_course", "write_course"]
