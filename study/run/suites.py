"""A suite's studies, one after another, in its folder.

A study that fails (no trial trained, no valid config, a crash) is written down in its
folder's failed.txt and the suite goes on: its other studies still run, and the command
exits 1 at the end naming the failed ones (StudiesFailed). A Ctrl-C or a full disk
stops the suite instead; ``study resume`` continues it. A course suite (``course: true``
in suite.yaml) gets its course page at the end (analysis/course.py), whatever failed.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Sequence
from pathlib import Path

from experiment_folder import FAILED_FILE
from study import interrupts, records
from study.errors import DiskFull, Interrupted, StudiesFailed
from study.specs import Spec
from study.storage import Mirror, lock

log = logging.getLogger(__name__)

# A failed study's line is cut to this many characters in failed.txt.
MAX_FAILURE_CHARS = 2000


def run_studies(
    folder: Path,
    specs: Sequence[Spec],
    step: Callable[[Spec, Path], bool],
    report: bool,
    mirror: Mirror | None = None,
) -> Path:
    """Run ``step`` on each study's folder (created where missing, locked while it
    runs; it says whether it ran the study, which a resume skips where it had ended),
    then write the course page of a course suite, and upload what the studies' own
    uploads missed (a suite with a storage URI); StudiesFailed where any study failed."""
    for spec in specs:
        child = folder / spec.name
        child.mkdir(exist_ok=True)
        try:
            with lock.hold(child):
                ran = step(spec, child)
        except Interrupted as exc:  # the suite is what resumes (its later studies too)
            raise Interrupted(folder, exc.unfinished) from None
        except DiskFull:
            raise
        except Exception as exc:  # this study failed; its results stay, the next one runs
            line = " ".join(str(exc).split())[:MAX_FAILURE_CHARS] or type(exc).__name__
            log.debug("study %s failed", spec.name, exc_info=True)
            log.error("study %s failed: %s; the suite goes on", spec.name, line)
            records.write_atomic(child / FAILED_FILE, (line + "\n").encode("utf-8"))
        else:
            if ran:  # it ended well this time (a resume that finished it)
                with contextlib.suppress(FileNotFoundError):
                    (child / FAILED_FILE).unlink()
    if report and _is_course(folder):
        write_course(folder)
    # What came after the last study's upload (a failed.txt, the course page) goes up too.
    if mirror is not None and not mirror.finish():
        log.warning("%s is not fully uploaded; upload it with: study sync %s", folder, folder)
    failed = [s.name for s in specs if (folder / s.name / FAILED_FILE).is_file()]
    if failed:
        raise StudiesFailed(
            f"{len(failed)} of {len(specs)} studies failed ({', '.join(failed)}); each one's "
            f"{FAILED_FILE} says why; the other results are in {folder}"
        )
    return folder


def _is_course(folder: Path) -> bool:
    from analysis import is_course

    return is_course(folder)


def write_course(folder: Path) -> Path | None:
    """The course page of the suite in ``folder``; a failure here loses no results, so it
    is logged, not raised (as for a study's report)."""
    import analysis

    interrupts.at("report", folder)
    try:
        out = analysis.write_course(folder)
    except Exception as exc:  # the studies' results stand whatever the page does
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        log.warning(
            "no course page for %s (%s: %s); 'study analyze %s' retries",
            folder,
            type(exc).__name__,
            first,
            folder,
        )
        return None
    log.info("course: %s", out / "index.html")
    return out
