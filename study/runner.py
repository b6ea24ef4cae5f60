"""Running and resuming studies: the pipeline spec -> plan -> Ray -> experiment folder.

Each stage has a module of its own (ARCHITECTURE.md): loading.py reads specs and
suites, plan.py compiles a Spec into what trials need, tuning.py runs on Ray,
records.py writes the tables. This module only strings them together, and asks
``analysis`` for the report at the end.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Iterator, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import yaml

from experiment_folder import (
    ERROR,
    INVALID,
    RAY_UNFINISHED,
    SPEC_FILE,
    SUITE_FILE,
    TRIALS_FILE,
    UNFINISHED,
)
from trainables import InvalidConfig

from . import (
    cluster,
    folder_lock,
    groups,
    interrupts,
    ledger,
    optuna_storage,
    records,
    suites,
    trust,
    tuning,
)
from . import storage as store
from .errors import (
    DISK_FULL_ERRNOS,
    DiskFull,
    Interrupted,
    NothingTrained,
    NotUploaded,
    SpecError,
    StudyError,
)
from .loading import load_raw, read_yaml, spec_from_raw, suite_specs
from .plan import make_plan, resolve_resources
from .spec import Resources, Spec, build_spec, check_gpu, check_name, parse_resources

log = logging.getLogger(__name__)

DEFAULT_STORAGE = Path("studies")


def experiment_dir(storage: Path, name: str, remote: store.Remote | None = None) -> Path:
    """``<storage>/<name>``, or ``<name>-2``, ``-3``... so an earlier study is never
    overwritten: here, nor under the storage URI the folder is mirrored to."""
    check_name(name)
    folder = storage / name

    def taken(folder: Path) -> bool:
        if folder.exists() and any(folder.iterdir()):
            return True
        return remote is not None and not remote.child(folder.name).is_empty()

    n = 2
    while taken(folder):
        folder = storage / f"{name}-{n}"
        n += 1
    if folder.name != name:
        where = remote.uri if remote is not None else str(storage)
        log.info("%s/%s exists; writing to %s", where, name, folder.name)
    return folder


@contextlib.contextmanager
def claimed(root: Path, name: str, remote: store.Remote | None = None) -> Iterator[Path]:
    """A new experiment folder (experiment_dir's name), created and locked for the block
    (folder_lock.py): a second run of the same spec at the same moment takes the next
    name rather than this folder. An unwritable storage is one line."""
    while True:
        folder = experiment_dir(root, name, remote)
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StudyError(
                f"--storage {root}: cannot create {folder.name} there "
                f"({exc.strerror or type(exc).__name__})"
            ) from None
        fd = folder_lock.try_lock(folder)
        if fd is None:  # another run claimed it first; its lock file makes it non-empty
            continue
        try:
            yield folder
        finally:
            os.close(fd)
        return


def _resources(spec: Spec, gpus_per_trial: float | None) -> Resources:
    return resolve_resources(spec, gpus_per_trial, cluster.cluster_gpus(), cluster.cluster_cpus())


def _fuse(spec: Spec, resources: Resources) -> int:
    """Members per fused group (groups.fuse_size): ``auto`` resolved where the study runs."""
    size = groups.fuse_size(spec.fuse, spec.trainable, cluster.cluster_gpus(), float(resources.gpu))
    if size > 1:
        log.info("fused: up to %d trials per Ray trial (fuse: %s)", size, spec.fuse)
    return size


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
    if spec.fuse != 1:  # one Ray trial per group: its members are the trials (groups.py)
        results, statuses, group_of = groups.explode(results, statuses, folders)
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
        trials = groups.add_group_column(trials, group_of)
    try:
        records.write_tables(folder, trials, history)
    except OSError as exc:
        if exc.errno in DISK_FULL_ERRNOS:
            raise DiskFull(exc.filename or "trials.csv", folder, len(ledger.read(folder))) from None
        raise
    records.clean_error_files(trials)
    _close_out_optuna(folder, trials)
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


def _ray_trials(folder: Path) -> dict[str, tuning.RayTrial]:
    """Ray's view of each trial (tuning.ray_trials); where Ray could not save its state
    whole because the disk filled up, a DiskFull rather than Ray's JSON error (issue 21:
    'unexpected JSONDecodeError' after every trial had run). Ray's state unreadable for
    another reason: the tables are made from the results and the ledger alone."""
    try:
        return tuning.ray_trials(folder)
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


def _close_out_optuna(folder: Path, trials: Any) -> None:
    """End the journal's trials as trials.csv ends them; a failure costs only the journal."""
    try:
        optuna_storage.close_out(folder, trials)
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


def run_study(
    spec_or_path: Any,
    *,
    name: str | None = None,
    storage: str | Path | None = None,
    num_samples: int | None = None,
    set: Mapping[str, Any] | None = None,  # mirrors the CLI's --set
    address: str | None = None,
    gpus_per_trial: float | None = None,
    report: bool = True,
) -> Path:
    """Run a study (or a suite of studies) from a mapping, a YAML path or a preset name.

    Everything is validated before Ray starts. Returns the experiment folder (for a
    suite, the folder holding one experiment folder per study); with ``report`` each
    study's folder gets ``report/index.html`` and ``report/report.md``. With a storage
    URI (``s3://bucket/prefix``) the folder is the local working copy, mirrored to
    ``URI/NAME`` as the study goes (storage.py).
    """
    interrupts.start()
    raw, found_as = load_raw(spec_or_path)
    if gpus_per_trial is not None:
        gpus_per_trial = float(check_gpu(gpus_per_trial, "--gpus-per-trial"))
    address = cluster.resolve_address(address)
    where = _storage_place(storage)
    if isinstance(raw, Mapping) and "suite" in raw:
        specs = suite_specs(raw, set, num_samples)
        for spec in specs:
            _check_data(spec, address)
        suite_name = check_name(name or raw.get("name") or found_as or "suite")
        if where.remote is not None:
            store.check(where.remote)
        # Ray first: an --address that nothing answers at leaves nothing written.
        with cluster.session(address), claimed(where.root, suite_name, where.remote) as folder:
            interrupts.at("start", suite=folder)
            mirror = _mirror(folder, where.remote)
            suite = {
                "suite": [s.to_dict() for s in specs],
                "description": raw.get("description", ""),
                "course": bool(raw.get("course", False)),
            }
            if mirror is not None:
                suite["storage"] = mirror.remote.uri
            records.write_atomic(
                folder / SUITE_FILE, yaml.safe_dump(suite, sort_keys=False).encode("utf-8")
            )
            return suites.run_studies(
                folder,
                specs,
                lambda spec, child: bool(
                    _run_one(spec, child, address, gpus_per_trial, report, mirror)
                ),
                report,
                mirror,
            )
    spec = spec_from_raw(raw, set, num_samples)
    if name is not None:
        spec = replace(spec, name=check_name(name))
    _check_data(spec, address)
    if where.remote is not None:
        store.check(where.remote)
    with cluster.session(address), claimed(where.root, spec.name, where.remote) as folder:
        interrupts.at("start", folder)
        return _run_one(
            spec, folder, address, gpus_per_trial, report, _mirror(folder, where.remote)
        )


def _storage_place(given: str | Path | None) -> store.Place:
    """Where the experiment folders go (storage.place). A Ray Job's driver runs in a
    copy of its working_dir inside Ray's session folder, which Ray deletes: a relative
    storage there would lose the results with the job (issue 22), so it is refused."""
    where = store.place(given or DEFAULT_STORAGE)
    if where.remote is None and cluster.in_ray_job() and not where.root.is_absolute():
        raise StudyError(
            f"--storage {where.root}: relative to the Ray job's working_dir, which Ray deletes "
            "with the job; give a storage URI (s3://BUCKET/PREFIX) or an absolute path "
            "that outlives it (a shared folder)"
        )
    return store.Place(where.root.resolve(), where.remote)


def _mirror(folder: Path, remote: store.Remote | None) -> store.Mirror | None:
    return None if remote is None else store.Mirror(folder, remote.child(folder.name))


def _check_data(spec: Spec, address: str | None) -> None:
    """Refuse a local study whose fixed data set is missing, rather than run N invalid trials.

    On a cluster (``--address``) the workers may hold data this machine lacks, so each
    trial checks for itself there.
    """
    dataset = spec.config.get("dataset")
    if address or dataset != "mnist" or "dataset" in spec.space:
        return
    from trainables.data import check_available

    try:
        check_available(dataset, spec.config.get("data_root"), bool(spec.config.get("download")))
    except InvalidConfig as exc:
        raise SpecError(f"config.dataset: {exc}") from None


def _run_one(
    spec: Spec,
    folder: Path,
    address: str | None,
    gpus_per_trial: float | None,
    report: bool,
    mirror: store.Mirror | None = None,
) -> Path:
    started = time.monotonic()
    spec = spec.on_cluster(joined=address is not None)
    resources = _resources(spec, gpus_per_trial)
    plan = make_plan(spec, resources, _fuse(spec, resources), cluster.cluster_cpus())
    interrupts.at("trials", folder)
    run: dict[str, Any] = {"address": address, "resources": vars(resources)}
    if mirror is not None:
        run["storage"] = mirror.remote_of(folder).uri
    records.write_spec(folder, spec, run)
    log.info(
        "study %s: %s, %s search, %s scheduler, num_samples=%d -> %s",
        spec.name,
        spec.trainable,
        spec.search.algorithm,
        spec.scheduler.name,
        spec.num_samples,
        folder,
    )
    uploads = _uploads(folder, mirror, address)
    results = tuning.fit(spec, folder, plan, resources, cluster.cluster_cpus(), uploads)
    return _finish_and_upload(results, spec, folder, started, report, uploads)


def _uploads(folder: Path, mirror: store.Mirror | None, address: str | None) -> store.Uploads:
    """What keeps the study's storage URI up to date (nothing for a plain folder). On a
    cluster Ray itself writes its state and checkpoints to the URI, where every node
    reaches them (Ray refuses a local storage_path for a worker's checkpoint); on a
    private Ray they stay in the working folder, which the mirror uploads, so a storage
    outage costs no trial (ARCHITECTURE.md, "Durable storage")."""
    if mirror is None:
        return store.Uploads()
    mirror.push()  # the spec (and a suite's suite.yaml) first
    ray_remote = mirror.remote_of(folder) if address is not None else None
    return store.Uploads(mirror, ray_remote)


def _finish_and_upload(
    fitted: tuple[Any, bool],
    spec: Spec,
    folder: Path,
    started: float,
    report: bool,
    uploads: store.Uploads,
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


def _upload_at_end(mirror: store.Mirror) -> None:
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
    if store.is_uri(experiment):
        folder = working_copy(str(experiment))
    else:
        folder = Path(experiment).resolve()
    if (folder / SUITE_FILE).is_file():
        interrupts.at("start", suite=folder)
        trust.check_owned(folder)  # before anything in it is read or written
        with folder_lock.hold(folder):
            return _resume_suite(folder, address, report, _mirror_of(folder))
    if not (folder / SPEC_FILE).is_file():
        raise StudyError(f"{folder}: not a study folder (no {SPEC_FILE} or {SUITE_FILE})")
    trust.check_owned(folder)
    with folder_lock.hold(folder):
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
            return _resume_one(folder, spec, resources, report, mirror, address)


def working_copy(uri: str) -> Path:
    """The local working folder of the study (or suite) kept at ``uri``. Where this
    machine has one (it ran the study, perhaps while the storage was down), that copy
    is uploaded first and resumed: nothing it holds is lost. Otherwise the URI's copy,
    Ray's checkpoints included, is downloaded into it. A bucket is as trusted as
    whoever may write it: resuming from it unpickles Ray's state (README, "Security model")."""
    remote = store.resolve(uri)
    folder = store.working_root(remote.parent()) / remote.name
    if (folder / SPEC_FILE).is_file() or (folder / SUITE_FILE).is_file():
        # Uploaded whole once its lock is held (the resume's first upload).
        log.info("resuming this machine's working copy %s of %s", folder, remote.uri)
        store.check(remote.parent())
        return folder
    if os.path.lexists(folder):
        raise StudyError(f"{folder}: in the way of {remote.uri}'s working copy; move it away")
    store.check(remote.parent())
    log.info("downloading %s to %s", remote.uri, folder)
    return store.download(remote, folder, checkpoints=True)


def _mirror_of(folder: Path) -> store.Mirror | None:
    """The mirror of a folder whose study was run with a storage URI (spec.yaml's run
    section, or suite.yaml), None for a plain folder."""
    uri = stored_uri(folder)
    return None if uri is None else store.Mirror(folder, store.resolve(uri))


def stored_uri(folder: Path) -> str | None:
    """The storage URI a working folder is kept at (spec.yaml's run section, or
    suite.yaml); None for a plain folder."""
    if (folder / SUITE_FILE).is_file():
        raw = read_yaml(folder / SUITE_FILE)
        uri = raw.get("storage") if isinstance(raw, dict) else None
    else:
        uri = records.run_info(folder).get("storage")
    if uri is not None and not (isinstance(uri, str) and store.is_uri(uri)):
        raise StudyError(f"{folder}: its storage {uri!r} is not a storage URI")
    return uri


def _push_all(mirror: store.Mirror | None) -> None:
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
    with folder_lock.hold(folder):
        _push_all(mirror)
    log.info("%s: %d file(s) uploaded", mirror.remote.uri, mirror.uploads)
    return mirror.remote.uri


def _resume_suite(
    folder: Path, address: str | None, report: bool, mirror: store.Mirror | None
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
            _run_one(spec, child, address, None, report, mirror)
        elif not _finished(child):
            _resume_one(child, *started[spec.name], report, mirror, address)
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
        statuses = tuning.ray_statuses(folder)
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
    optuna_storage.repair_tail(folder)
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


def _resume_one(
    folder: Path,
    spec: Spec,
    resources: Resources | None,
    report: bool,
    mirror: store.Mirror | None = None,
    address: str | None = None,
) -> Path:
    started = time.monotonic()
    resources = resources or _resources(spec, None)
    plan = make_plan(spec, resources, _fuse(spec, resources), cluster.cluster_cpus())
    interrupts.at("trials", folder)
    run = records.run_info(folder)
    # On a cluster with a storage URI Ray uploaded its own state (ledger.repair_state).
    ledger.repair_state(folder, prefer_backup=bool(run.get("address") and run.get("storage")))
    ledger.mark_finished(folder)
    log.info("resuming %s", folder)
    uploads = _uploads(folder, mirror, address)
    results = tuning.fit_restored(folder, plan, resources, uploads)
    return _finish_and_upload(results, spec, folder, started, report, uploads)
