"""Continuing an interrupted study or suite, from its folder or its storage URI.

Resuming unpickles Ray's saved state, which can run code: the folder is checked
(study/storage/trust.py) and locked before anything in it is read. Then Ray Tune
restores the study: finished trials are kept, unfinished ones rerun from their last
checkpoint, and the searcher's state is restored.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from experiment_folder import RAY_UNFINISHED, SPEC_FILE, SUITE_FILE, TRIALS_FILE
from study import interrupts, records, storage
from study.errors import NotUploaded, StudyError
from study.execution import cluster, tuner
from study.records import journal
from study.run import suites
from study.run.one import resume_one, run_one
from study.specs import Resources, Spec, build_spec, parse_resources
from study.specs.loading import read_yaml
from study.storage import lock, trust

log = logging.getLogger(__name__)


def resume_study(
    experiment: str | Path, *, address: str | None = None, report: bool = True
) -> Path:
    """Continue an interrupted study: finished trials are kept, unfinished ones rerun
    (from their last checkpoint where the trainable checkpoints), and the searcher's
    state is restored by Ray Tune. A suite folder resumes each unfinished study and
    runs those that had not started. ``experiment`` may be a storage URI
    (``s3://bucket/prefix/NAME``): see working_copy.

    Resuming unpickles Ray's state in the folder (``tuner.pkl``, the searcher's), which
    can run code: a folder that another user owns or may write is refused
    (trust.check_owned). Everything is checked before Ray starts."""
    interrupts.start()
    address = cluster.resolve_address(address)
    if storage.is_uri(experiment):
        folder = working_copy(str(experiment))
    else:
        folder = Path(experiment).resolve()
    if (folder / SUITE_FILE).is_file():
        interrupts.at("start", suite=folder)
        trust.check_owned(folder)  # before anything in it is read or written
        with lock.hold(folder):
            return _resume_suite(folder, address, report, _mirror_of(folder))
    if not (folder / SPEC_FILE).is_file():
        raise StudyError(f"{folder}: not a study folder (no {SPEC_FILE} or {SUITE_FILE})")
    trust.check_owned(folder)
    with lock.hold(folder):
        spec, resources = _prepare_resume(folder)
        mirror = _mirror_of(folder)
        if _finished(folder):
            log.info(
                "nothing to resume: every trial of %s finished; its results and report are in it",
                folder,
            )
            _push_all(mirror)
            return folder
        with cluster.session(address):
            return resume_one(folder, spec, resources, report, mirror, address)


def working_copy(uri: str) -> Path:
    """The local working folder of the study (or suite) kept at ``uri``. Where this
    machine has one (it ran the study, perhaps while the storage was down), that copy
    is uploaded first and resumed: nothing it holds is lost. Otherwise the URI's copy,
    Ray's checkpoints included, is downloaded into it. A bucket is as trusted as
    whoever may write it: resuming from it unpickles Ray's state (README, "Security model")."""
    remote = storage.resolve(uri)
    folder = storage.working_root(remote.parent()) / remote.name
    if (folder / SPEC_FILE).is_file() or (folder / SUITE_FILE).is_file():
        # Uploaded whole once its lock is held (the resume's first upload).
        log.info("resuming this machine's working copy %s of %s", folder, remote.uri)
        storage.check(remote.parent())
        return folder
    if os.path.lexists(folder):
        raise StudyError(f"{folder}: in the way of {remote.uri}'s working copy; move it away")
    storage.check(remote.parent())
    log.info("downloading %s to %s", remote.uri, folder)
    return storage.download(remote, folder, checkpoints=True)


def _mirror_of(folder: Path) -> storage.Mirror | None:
    """The mirror of a folder whose study was run with a storage URI (spec.yaml's run
    section, or suite.yaml), None for a plain folder."""
    uri = stored_uri(folder)
    return None if uri is None else storage.Mirror(folder, storage.resolve(uri))


def stored_uri(folder: Path) -> str | None:
    """The storage URI a working folder is kept at (spec.yaml's run section, or
    suite.yaml); None for a plain folder."""
    if (folder / SUITE_FILE).is_file():
        raw = read_yaml(folder / SUITE_FILE)
        uri = raw.get("storage") if isinstance(raw, dict) else None
    else:
        uri = records.run_info(folder).get("storage")
    if uri is not None and not (isinstance(uri, str) and storage.is_uri(uri)):
        raise StudyError(f"{folder}: its storage {uri!r} is not a storage URI")
    return uri


def _push_all(mirror: storage.Mirror | None) -> None:
    if mirror is not None and not mirror.push():
        raise NotUploaded(mirror)


def sync_study(experiment: str | Path) -> str:
    """Upload a working folder to the storage URI its study was run with (what an
    outage left local); the URI."""
    folder = Path(experiment).resolve()
    if not ((folder / SPEC_FILE).is_file() or (folder / SUITE_FILE).is_file()):
        raise StudyError(f"{folder}: not a study folder (no {SPEC_FILE} or {SUITE_FILE})")
    mirror = _mirror_of(folder)
    if mirror is None:
        raise StudyError(f"{folder}: run with a local --storage; there is no URI to sync to")
    with lock.hold(folder):
        _push_all(mirror)
    log.info("%s: %d file(s) uploaded", mirror.remote.uri, mirror.uploads)
    return mirror.remote.uri


def _resume_suite(
    folder: Path, address: str | None, report: bool, mirror: storage.Mirror | None
) -> Path:
    """Resume each unfinished study of a suite, and run those that had not started."""
    raw = read_yaml(folder / SUITE_FILE)
    specs = [build_spec(part) for part in (raw or {}).get("suite", [])]
    started = {
        spec.name: _prepare_resume(folder / spec.name)
        for spec in specs
        if (folder / spec.name / SPEC_FILE).is_file()
    }
    if len(started) == len(specs) and all(_finished(folder / name) for name in started):
        log.info("nothing to resume: every study of %s finished; results in it", folder)
        _push_all(mirror)
        return folder

    def step(spec: Spec, child: Path) -> bool:
        if spec.name not in started:  # interrupted before it
            run_one(spec, child, address, None, report, mirror)
        elif not _finished(child):
            resume_one(child, *started[spec.name], report, mirror, address)
        else:
            return False  # ended before (a failed one keeps its failed.txt)
        return True

    with cluster.session(address):
        return suites.run_studies(folder, specs, step, report, mirror)


def _finished(folder: Path) -> bool:
    """Whether a study ended and wrote its tables: trials.csv is there and Ray's state
    has no trial left to run. (A study killed before it wrote trials.csv is unfinished,
    whatever Ray's state says: resuming writes the tables.)"""
    if not (folder / TRIALS_FILE).is_file() or records.was_interrupted(folder):
        return False
    try:
        statuses = tuner.ray_statuses(folder)
    except Exception:  # Ray's state unreadable: let the resume repair it and say why
        return False
    return bool(statuses) and not set(statuses.values()) & set(RAY_UNFINISHED)


def _prepare_resume(folder: Path) -> tuple[Spec, Resources | None]:
    """The study's spec and the resources it ran with, validated as a new spec is
    (spec.yaml may have been edited); None where they must be asked of the cluster.
    The caller has checked the folder (trust.check_owned: a suite's walk covers its
    studies), so the tree is walked once."""
    # Before anything can append to the journal: a torn last record is cut back, a
    # damaged one before it is one line (nothing changed).
    journal.repair_tail(folder)
    raw = read_yaml(folder / SPEC_FILE)
    if not isinstance(raw, dict):
        raise StudyError(f"{folder / SPEC_FILE}: not a spec")
    run_info = raw.pop("run", None) or {}
    spec = build_spec(raw)
    ran = run_info.get("resources") if isinstance(run_info, dict) else None
    resources = parse_resources(ran) if ran is not None else None
    if resources is not None and resources.gpu == "auto":
        resources = None
    return spec, resources
