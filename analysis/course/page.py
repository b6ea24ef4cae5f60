"""A course suite's page: the study note's claims, each beside what its study measured.

One chapter per section of the study note *pytorch_learn*, in its order, each backed
by one study of the suite, found by its folder name (note.py's CHAPTERS). A chapter
states the note's claim in our words; regressions.py and networks.py measure it and
give the verdict. A chapter whose study failed says so and links its failed.txt; one
whose study is missing or cannot be read says that; the other chapters render as
usual. The page is written like a report (analysis/report's write_sections):
index.html self-contained, course.md, PNGs and CSVs.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path

import yaml

from experiment_folder import COURSE_DIR, FAILED_FILE, REPORT_DIR, SPEC_FILE, SUITE_FILE

from .. import plots
from ..errors import AnalysisError
from ..files import read_regular
from ..load import load
from ..report import Section, write_sections
from .note import CHAPTERS, Chapter

log = logging.getLogger(__name__)

MAX_FAILURE_BYTES = 10_000


def is_course(folder: str | Path) -> bool:
    """Whether ``folder`` is a course suite (``course: true`` in its suite.yaml); read as
    any file of a folder that may be hostile (files.read_regular)."""
    folder = Path(folder)
    if not (folder / SUITE_FILE).is_file() or (folder / SPEC_FILE).exists():
        return False
    data = read_regular(folder / SUITE_FILE, folder, [])
    try:
        raw = yaml.safe_load(data) if data is not None else None
    except yaml.YAMLError:
        return False
    return isinstance(raw, dict) and raw.get("course") is True


def write_course(
    folder: str | Path,
    out: str | Path | None = None,
    form: str = "both",
    reports: Mapping[str, Path] | None = None,
) -> Path:
    """Write the course page of the suite in ``folder`` into ``out`` (default
    ``<folder>/course``): one chapter per CHAPTERS entry. ``reports`` maps a study's name
    to its report's index.html where it is not ``<folder>/<study>/report``."""
    folder = Path(folder)
    target = Path(out) if out is not None else folder / COURSE_DIR
    sections = [_intro(folder)]
    with plots.literal_text():
        for chapter in CHAPTERS:
            report = (reports or {}).get(
                chapter.study, folder / chapter.study / REPORT_DIR / "index.html"
            )
            sections.append(_chapter(folder, chapter, report, target))
    return write_sections(
        f"The study note as one course ({folder.name})",
        sections,
        target,
        form,
        owned=out is None,
        md_name="course.md",
        findings_title="The verdicts, chapter by chapter",
    )


def _intro(folder: Path) -> Section:
    section = Section("How to read this page")
    section.text.append(
        "Each chapter takes one claim of the study note (pytorch_learn), in the note's order, "
        "and puts it beside what a study of this suite measured. The verdict is computed from "
        "the study's tables: **confirmed** (the claim holds as stated), **refined** (it holds "
        "with a condition or a number the measurement adds), **contradicted** (the "
        "measurement says otherwise) or **not settled** (the study cannot tell)."
    )
    section.text.append(
        "Every chapter links its study's full report. Numbers come from this run; a smaller "
        "course (course-quick) measures less and may settle less."
    )
    return section


def _chapter(folder: Path, chapter: Chapter, report: Path, target: Path) -> Section:
    title = f"§{chapter.section} {chapter.title}"
    study = folder / chapter.study
    section = Section(title)
    section.text.append(f"**The note:** {chapter.claim}")
    if os.path.islink(study):  # a folder that may be hostile: its links are not followed
        section.text.append(f"**Not measured:** {chapter.study} is a link, not a study folder.")
        section.findings.append(f"§{chapter.section} {chapter.title}: **not measured**.")
        return section
    failed = study / FAILED_FILE
    if os.path.lexists(failed):
        why = read_regular(failed, folder, []) or b""
        line = " ".join(why[:MAX_FAILURE_BYTES].decode("utf-8", "replace").split())
        section.text.append(f"**This chapter's study failed:** {line or 'no reason recorded'}")
        section.findings.append(f"§{chapter.section} {chapter.title}: **its study failed**.")
        section.links.append(("why it failed", _href(failed, target)))
        if report.is_file():
            section.links.append(("the study's report", _href(report, target)))
        return section
    if not (study / SPEC_FILE).is_file():
        section.text.append(f"**Not measured:** this suite has no study {chapter.study}.")
        section.findings.append(f"§{chapter.section} {chapter.title}: **not measured**.")
        return section
    try:
        exp = load(study)
        if exp.spec.get("trainable") != chapter.trainable:
            raise AnalysisError(
                f"{chapter.study} trains {exp.spec.get('trainable')}, not {chapter.trainable}"
            )
        measured = chapter.measure(exp)
    except Exception as exc:  # one chapter that cannot be measured; the others still render
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        log.warning("course: chapter %s not measured (%s)", chapter.study, first)
        section.text.append(f"**Not measured:** {first[:300]}")
        section.findings.append(f"§{chapter.section} {chapter.title}: **not measured**.")
    else:
        section.text.append("**Measured:** " + " ".join(measured.answer))
        reason = _sentence(measured.reason)
        section.text.append(f"**Verdict: {measured.verdict}.** {reason}")
        section.findings.append(
            f"§{chapter.section} {chapter.title}: **{measured.verdict}**: {reason}"
        )
        section.figures.extend(measured.figures)
        section.tables.extend(measured.tables)
    if report.is_file():
        section.links.append(("the study's full report", _href(report, target)))
    return section


def _sentence(text: str) -> str:
    text = text.strip()
    return (text[:1].upper() + text[1:]).rstrip(".") + "."


def _href(path: Path, target: Path) -> str:
    return Path(os.path.relpath(path, target)).as_posix()
