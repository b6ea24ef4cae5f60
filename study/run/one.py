"""One study on Ray, new or resumed: its plan, its Tuner, its end.

Both start.py (a new study, or a suite's) and resume.py come here once the folder
is claimed and the spec validated: the plan is compiled for the cluster's resources
(study/specs/plan.py), Ray Tune runs it (study/execution/tuner.py), and finish.py
writes the results.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from study import interrupts, records
from study.execution import cluster, tuner
from study.records import ledger
from study.run.finish import finish_and_upload
from study.specs import Resources, Spec
from study.specs.plan import fuse_size, make_plan, resolve_resources
from study.storage import Mirror, Uploads

log = logging.getLogger(__name__)


def _resources(spec: Spec, gpus_per_trial: float | None) -> Resources:
    return resolve_resources(spec, gpus_per_trial, cluster.cluster_gpus(), cluster.cluster_cpus())


def _fuse(spec: Spec, resources: Resources) -> int:
    """Members per fused group (fuse_size): ``auto`` resolved where the study runs."""
    size = fuse_size(spec.fuse, spec.trainable, cluster.cluster_gpus(), float(resources.gpu))
    if size > 1:
        log.info("fused: up to %d trials per Ray trial (fuse: %s)", size, spec.fuse)
    return size


def run_one(
    spec: Spec,
    folder: Path,
    address: str | None,
    gpus_per_trial: float | None,
    report: bool,
    mirror: Mirror | None = None,
) -> Path:
    """Run a new study in its claimed ``folder``: spec.yaml first, then every trial."""
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
    results = tuner.fit(spec, folder, plan, resources, cluster.cluster_cpus(), uploads)
    return finish_and_upload(results, spec, folder, started, report, uploads)


def _uploads(folder: Path, mirror: Mirror | None, address: str | None) -> Uploads:
    """What keeps the study's storage URI up to date (nothing for a plain folder). On a
    cluster Ray itself writes its state and checkpoints to the URI, where every node
    reaches them (Ray refuses a local storage_path for a worker's checkpoint); on a
    private Ray they stay in the working folder, which the mirror uploads, so a storage
    outage costs no trial (ARCHITECTURE.md, "Durable storage")."""
    if mirror is None:
        return Uploads()
    mirror.push()  # the spec (and a suite's suite.yaml) first
    ray_remote = mirror.remote_of(folder) if address is not None else None
    return Uploads(mirror, ray_remote)


def resume_one(
    folder: Path,
    spec: Spec,
    resources: Resources | None,
    report: bool,
    mirror: Mirror | None = None,
    address: str | None = None,
) -> Path:
    """Resume the study in ``folder`` (checked and locked by the caller): Ray's state
    repaired from the harness's copy where cut short, the trials the ledger ended
    marked so, then restored."""
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
    results = tuner.fit_restored(folder, plan, resources, uploads, spec.epoch_budget)
    return finish_and_upload(results, spec, folder, started, report, uploads)
