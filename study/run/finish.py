"""A study's end, however it ended: the tables, the summary, the report, the upload.

The tables are written from Ray's results, its saved statuses and the ledger
(study/records), the Optuna journal is brought into line with them, and the report
is asked of ``analysis``; an interrupted or failed study's tables are written and
uploaded too, and then the exception that says so is raised.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Any

from experiment_folder import ERROR, INVALID, UNFINISHED
from study import interrupts, records
from study.errors import DISK_FULL_ERRNOS, DiskFull, Interrupted, NothingTrained, StudyError
from study.execution import tuner
from study.records import journal, ledger, members
from study.specs import Spec
from study.storage import Mirror, Uploads

log = logging.getLogger(__name__)


def _finish(
    fitted: tuple[Any, bool], spec: Spec, folder: Path, started: float, report: bool
) -> Path:
    """Write the tables, the wall time, the summary and the report; raise Interrupted when
    a Ctrl-C stopped the study or trials were left unfinished (after writing everything)."""
    results, stopped_by_sigint = fitted
    interrupts.at("tables", folder)
    ray_trials = _ray_trials(folder)
    statuses = {trial_id: t.status for trial_id, t in ray_trials.items()}
    folders = {t.folder: trial_id for trial_id, t in ray_trials.items()}
    failures = {tid: t.failures for tid, t in ray_trials.items()}
    group_of: dict[str, str] = {}
    if spec.fuse != 1:  # one Ray trial per group: its members are the trials (records/members.py)
        results, statuses, group_of = members.explode(results, statuses, folders)
        folders = {}
        failures = {mid: failures.get(group, 0) for mid, group in group_of.items()}
    trials, history = records.build_tables(
        results,
        spec,
        statuses,
        ledger.read(folder),
        ledger.read_invalid(folder),
        folders,
        folder,
    )
    trials = records.add_retries(trials, failures)
    if group_of:
        trials = members.add_group_column(trials, group_of)
    try:
        records.write_tables(folder, trials, history)
    except OSError as exc:
        if exc.errno in DISK_FULL_ERRNOS:
            raise DiskFull(exc.filename or "trials.csv", folder, len(ledger.read(folder))) from None
        raise
    records.clean_error_files(trials)
    _close_out_optuna(folder, trials, spec.search.algorithm == "gp")
    counts = records.log_summary(trials, spec, time.monotonic() - started, history)
    interrupted = stopped_by_sigint or counts[UNFINISHED] > 0
    records.add_wall_time(folder, time.monotonic() - started, interrupted)
    # (The folder itself is the command's last line: not logged here as well.)
    if report and len(trials) > counts[UNFINISHED]:  # something ran: a report to write
        interrupts.at("report", folder)
        write_report(folder)
    interrupts.at("done", folder)
    if interrupted:
        raise Interrupted(folder, counts[UNFINISHED])
    if len(trials) and counts[INVALID] == len(trials):
        reason = trials["reason"].astype(str).value_counts().index[0]
        raise StudyError(
            f"no valid config among {len(trials)} proposals; the results are in {folder}; "
            f"most common reason: {reason}"
        )
    if counts[ERROR] and counts[ERROR] + counts[INVALID] == len(trials):
        errors = trials.loc[trials["status"] == ERROR, "reason"].astype(str)
        reason = errors.value_counts().index[0] if len(errors) else ""
        log.info("no trial trained: all %d trial(s) raised an error", counts[ERROR])
        raise NothingTrained(
            f"no trial trained: {counts[ERROR]} of {len(trials)} trial(s) raised an error; "
            f"the results are in {folder}; most common reason: {reason}"
        )
    return folder


# Free space below which a write that went wrong is put down to a full disk.
NEARLY_FULL_BYTES = 64 * 1024


def _ray_trials(folder: Path) -> dict[str, tuner.RayTrial]:
    """Ray's view of each trial (tuner.ray_trials); where Ray could not save its state
    whole because the disk filled up, a DiskFull rather than Ray's JSON error (issue 21:
    'unexpected JSONDecodeError' after every trial had run). Ray's state unreadable for
    another reason: the tables are made from the results and the ledger alone."""
    try:
        return tuner.ray_trials(folder)
    except Exception as exc:
        if _nearly_full(folder):
            raise DiskFull("Ray's experiment state", folder, len(ledger.read(folder))) from None
        log.warning(
            "Ray's saved state in %s is unreadable (%s); the tables come from the results "
            "and finished.jsonl",
            folder,
            type(exc).__name__,
        )
        return {}


def _nearly_full(folder: Path) -> bool:
    try:
        info = os.statvfs(folder)
    except OSError:
        return False
    return info.f_bavail * info.f_frsize < NEARLY_FULL_BYTES


def _close_out_optuna(folder: Path, trials: Any, every_constraint: bool) -> None:
    """End the journal's trials as trials.csv ends them; a failure costs only the journal."""
    try:
        journal.close_out(folder, trials, every_constraint)
    except Exception as exc:
        log.warning("the Optuna journal in %s was not brought up to date: %s", folder, exc)


def write_report(folder: Path) -> Path | None:
    """The analysis report of a finished study; a failure here loses no results, so it is
    logged, not raised."""
    import analysis

    try:
        out = analysis.write_report(analysis.load(folder))
    except (analysis.AnalysisError, ValueError, OSError) as exc:
        log.warning("no report for %s: %s", folder, exc)
        return None
    except Exception as exc:  # any other failure: the results stand, the study succeeded
        log.warning(
            "no report for %s (%s: %s); the results are written: 'study analyze %s' retries",
            folder,
            type(exc).__name__,
            str(exc).strip().splitlines()[0] if str(exc).strip() else "",
            folder,
        )
        return None
    log.info("report: %s", out / "index.html")
    return out


def finish_and_upload(
    fitted: tuple[Any, bool],
    spec: Spec,
    folder: Path,
    started: float,
    report: bool,
    uploads: Uploads,
) -> Path:
    """_finish, with the storage URI's copy brought up to date at the end, whatever the
    end (an interrupted or failed study's tables are uploaded too)."""
    if uploads.ray_remote is not None:
        uploads.fetch_ray_files(folder)
    try:
        return _finish(fitted, spec, folder, started, report)
    finally:
        if uploads.mirror is not None:
            _upload_at_end(uploads.mirror)


def _upload_at_end(mirror: Mirror) -> None:
    if mirror.finish():
        log.info(
            "uploaded to %s: %d file(s) in %.2f s in all",
            mirror.remote.uri,
            mirror.uploads,
            mirror.seconds,
        )
    else:
        log.warning(
            "%s is not fully uploaded to %s; upload it with: study sync %s",
            mirror.folder,
            mirror.remote.uri,
            mirror.folder,
        )
