"""A new study or suite: validated, its folder claimed, then run.

Everything is checked before Ray starts (the spec, the data, the storage), so bad
input costs nothing. A study's folder is ``<storage>/<name>``, or the next free
``<name>-2``…, created and locked here; one.py runs the study in it, and a suite's
studies run one after another (suites.py).
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import yaml

from experiment_folder import SUITE_FILE
from study import interrupts, records
from study import storage as store
from study.errors import SpecError, StudyError
from study.execution import cluster
from study.run import suites
from study.run.one import run_one
from study.specs import Spec
from study.specs.loading import load_raw, spec_from_raw, suite_specs
from study.specs.validate import check_gpu, check_name
from study.storage.lock import try_lock
from trainables import InvalidConfig

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
    (storage/lock.py): a second run of the same spec at the same moment takes the next
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
        fd = try_lock(folder)
        if fd is None:  # another run claimed it first; its lock file makes it non-empty
            continue
        try:
            yield folder
        finally:
            os.close(fd)
        return


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
    ``URI/NAME`` as the study goes (study/storage/mirror.py).
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
                    run_one(spec, child, address, gpus_per_trial, report, mirror)
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
        return run_one(spec, folder, address, gpus_per_trial, report, _mirror(folder, where.remote))


def _storage_place(given: str | Path | None) -> store.Place:
    """Where the experiment folders go (study/storage/remote.py). A Ray Job's driver runs in a
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
