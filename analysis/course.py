"""A course suite's page: the study note's claims, each beside what its study measured.

One chapter per section of the note (``../shared/seed/pytorch_learn.md``), in its
order, each backed by one study of the suite, found by its folder name (CHAPTERS).
A chapter states the note's claim in our words; chapters.py measures it and gives the
verdict. A chapter whose study failed says so and links its failed.txt; one whose
study is missing or cannot be read says that; the other chapters render as usual.
The page is written like a report (report.py's write_sections): index.html
self-contained, course.md, PNGs and CSVs.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import yaml

from experiment_folder import COURSE_DIR, FAILED_FILE, REPORT_DIR, SPEC_FILE, SUITE_FILE

from . import chapters, plots
from .chapters import VERDICTS, Measured
from .errors import AnalysisError
from .files import read_regular
from .load import Experiment, load
from .report import Section, write_sections

log = logging.getLogger(__name__)

__all__ = ["CHAPTERS", "VERDICTS", "Chapter", "is_course", "write_course"]

MAX_FAILURE_BYTES = 10_000


@dataclass(frozen=True)
class Chapter:
    study: str  # the study's folder name in the suite
    section: str  # the note's section
    title: str
    claim: str  # the note's claim, in our words
    trainable: str
    measure: Callable[[Experiment], Measured]


CHAPTERS: tuple[Chapter, ...] = (
    Chapter(
        "ch1-brute-force",
        "2",
        "Brute force",
        "Trying every w from 0 to 4 in steps of 0.1 and keeping the smallest MSE finds the "
        "w of y = 2x: w = 2, where the loss is 0.",
        "loss_landscape",
        chapters.measure_brute_force,
    ),
    Chapter(
        "ch2-loss-surface",
        "3",
        "The loss surface on a meshgrid",
        "numpy.meshgrid lays out every (w, b) pair of a grid; the MSE drawn over it for "
        "points of y = 2x + 0.5 is lowest at (w, b) = (2, 0.5).",
        "loss_landscape",
        chapters.measure_surface,
    ),
    Chapter(
        "ch3-sgd-w",
        "5.1.2",
        "SGD on y = w·x",
        "The per-sample SGD loop (w = 1 to start, lr 0.01, 100 epochs over x = 1, 2, 3) "
        "brings w to 2.",
        "linear_w",
        chapters.measure_sgd_w,
    ),
    Chapter(
        "ch4-divergence",
        "5.2",
        "A learning rate too large diverges",
        "On the note's data with the outlier y = 1000, a learning rate that is too large "
        "makes SGD blow up to nan/inf.",
        "linear_w",
        chapters.measure_divergence,
    ),
    Chapter(
        "ch5-wb-sgd",
        "5.2",
        "SGD on y = w·x + b",
        "On ten random points of y = 2x + 0.5, SGD with lr 0.001 for 10,000 epochs "
        "finds w = 2 and b = 0.5.",
        "linear_wb",
        chapters.measure_wb_sgd,
    ),
    Chapter(
        "ch6-reduction",
        "5.4",
        "nn.Linear with MSELoss(reduction='sum')",
        "An nn.Linear(1, 1) trained with MSELoss(reduction='sum') and SGD(lr=0.01) on "
        "x = 1, 2, 3 fits y = 2x.",
        "linear_wb",
        chapters.measure_reduction,
    ),
    Chapter(
        "ch7-remedies",
        "6.4",
        "Five remedies for overfitting",
        "Weight decay, momentum, a decaying learning rate, early stopping and dropout "
        "each counter overfitting.",
        "mnist_mlp",
        chapters.measure_remedies,
    ),
    Chapter(
        "ch8-mlp",
        "7",
        "The MNIST MLP",
        "The 784-512-256-128-64-10 MLP trained with SGD (lr 0.01, momentum 0.5, batch 64) "
        "for 10 epochs classifies MNIST digits well.",
        "mnist_mlp",
        chapters.measure_mlp,
    ),
    Chapter(
        "ch9-conv2d",
        "8",
        "Conv2d's output size and settings",
        "A Conv2d with kernel size k maps a width w to w − k + 1; stride, padding, dilation "
        "and groups are its other settings, and some combinations cannot work.",
        "mnist_cnn",
        chapters.measure_conv,
    ),
)

# --- the page ---------------------------------------------------------------------------


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
