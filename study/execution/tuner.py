"""Running a compiled study on Ray Tune: a new Tuner, or one restored from its folder.

The trainable is study/trial's adapter with the plan attached; the searcher and the
scheduler come from study/search/registry.py; the callbacks are the terminal
lines (progress.py) and the durable records (durability.py). This module decides
nothing about specs and writes no tables.
"""

from __future__ import annotations

import contextlib
import functools
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any, NamedTuple

from study.errors import StudyError
from study.execution import old_paths
from study.search.registry import METRIC, make_scheduler, make_searcher, param_space
from study.specs import Resources, Spec
from study.specs.plan import TrialPlan
from study.storage import Uploads
from study.trial import run_group, run_trial


def _trainable(plan: TrialPlan, resources: Resources) -> Any:
    from ray import tune

    fn = tune.with_parameters(run_group if plan.fuse > 1 else run_trial, plan=plan)
    if plan.fuse > 1 and float(resources.gpu) == 0:  # a group: its members' CPUs
        return tune.with_resources(fn, functools.partial(_group_request, plan))
    return tune.with_resources(fn, {"cpu": resources.cpu, "gpu": float(resources.gpu)})


def _group_request(plan: TrialPlan, config: dict[str, Any]) -> Any:
    """What a fused group's Ray trial asks for, from the members its config lists."""
    from ray.tune import PlacementGroupFactory

    from experiment_folder import listed_members
    from study.specs.plan import group_cpus

    cpus = group_cpus(len(listed_members(config)), plan.cpus, plan.cluster_cpus)
    return PlacementGroupFactory([{"CPU": cpus}])


def _run_config(spec: Spec, folder: Path, uploads: Uploads) -> Any:
    from ray import tune
    from ray.tune.logger import CSVLoggerCallback, JsonLoggerCallback

    from study.execution.budget import FirstTrialBudget
    from study.execution.durability import DurableRecords
    from study.execution.epochs import EpochCount
    from study.execution.nodes import NodeWatch
    from study.execution.progress import TrialLines

    storage_path, storage_filesystem = uploads.ray_storage(folder)
    return tune.RunConfig(
        name=folder.name,
        stop=FirstTrialBudget(spec.time_budget_s) if spec.time_budget_s else None,
        storage_path=storage_path,
        storage_filesystem=storage_filesystem,
        verbose=0,
        callbacks=[
            JsonLoggerCallback(),
            CSVLoggerCallback(),
            DurableRecords(),
            EpochCount(),
            TrialLines(spec),
            NodeWatch(spec.max_failures or 0),
        ],
        failure_config=tune.FailureConfig(max_failures=spec.max_failures or 0),
        checkpoint_config=tune.CheckpointConfig(num_to_keep=1),
    )


def fit(
    spec: Spec,
    folder: Path,
    plan: TrialPlan,
    resources: Resources,
    cpus: float,
    uploads: Uploads | None = None,
) -> tuple[Any, bool]:
    """Run every trial of a new study: Ray's ResultGrid, and whether a Ctrl-C stopped it.
    ``cpus``: the cluster's; ``uploads``: where a storage URI's copy is kept up to date."""
    from ray import tune

    max_concurrent = spec.max_concurrent or max(1, int(cpus // resources.cpu))
    fused = plan.fuse > 1
    plan, _board = _rung_board(plan)  # held until the study ends: the actor lives as long
    tuner = tune.Tuner(
        _trainable(plan, resources),
        # A fused study's groups come from its searcher alone (study/search/fused.py).
        param_space={} if fused else param_space(spec),
        tune_config=tune.TuneConfig(
            metric=METRIC,
            mode=spec.mode,
            # Fused: at most one group per trial; the searcher says when all are out.
            num_samples=spec.trial_count() if fused else spec.num_samples,
            search_alg=make_searcher(spec, max_concurrent, plan, folder),
            # Fused: ASHA runs inside each group (study/search/rungs.py); Ray sees FIFO.
            scheduler=make_scheduler(spec) if not fused else make_scheduler(spec, fifo=True),
            # One worker process runs trial after trial: no process start-up per
            # trial, and a data set loaded once per worker (ARCHITECTURE.md, "Facts":
            # 3 s -> 0.25 s per trivial trial).
            reuse_actors=True,
        ),
        run_config=_run_config(spec, folder, uploads or Uploads()),
    )
    return _fit(tuner, folder, uploads or Uploads(), spec.epoch_budget)


def _rung_board(plan: TrialPlan) -> tuple[TrialPlan, Any]:
    """For a fused study under ASHA: the plan naming a new rung board (a Ray actor that
    every group asks at its rungs, study/search/rungs.py), and the actor's handle, which keeps
    it alive. Otherwise the plan as it is, and None."""
    if plan.fuse <= 1 or plan.rungs is None:
        return plan, None
    import ray

    from study.search.rungs import RungBoard

    name = f"study-harness-rungs-{uuid.uuid4().hex[:12]}"
    actor = ray.remote(num_cpus=0)(RungBoard)
    handle = actor.options(name=name).remote(plan.rungs[1], plan.mode)
    return replace(plan, rung_board=name), handle


def _fit(tuner: Any, folder: Path, uploads: Uploads, budget: int | None) -> tuple[Any, bool]:
    """Ray Tune's fit, with what the callbacks write for (the folder, its uploads, the
    trial-epochs counted against ``budget``, where there is one)."""
    from study.execution.durability import active
    from study.execution.progress import routed_logging
    from study.interrupts import tune_saw_sigint
    from study.search.epoch_budget import TrialEpochs, counting

    with contextlib.ExitStack() as stack:
        saw = stack.enter_context(tune_saw_sigint())
        stack.enter_context(routed_logging())
        stack.enter_context(active(folder, uploads))
        if budget is not None:
            stack.enter_context(counting(TrialEpochs(budget)))
        results = tuner.fit()
    return results, saw[0]


def fit_restored(
    folder: Path,
    plan: TrialPlan,
    resources: Resources,
    uploads: Uploads | None = None,
    epoch_budget: int | None = None,
) -> tuple[Any, bool]:
    """Continue the study saved in ``folder`` (or, on a cluster with a storage URI, in
    its place there): finished trials kept, unfinished rerun from their checkpoints,
    the searcher's state restored by Ray Tune. As fit()."""
    from ray import tune

    from study.records.ledger import restoring

    old_paths.install()  # a folder written before study/ was grouped (issue 33)
    uploads = uploads or Uploads()
    path, filesystem = str(folder), None
    if uploads.ray_remote is not None:
        path, filesystem = uploads.ray_remote.path, uploads.ray_remote.fs
    if not tune.Tuner.can_restore(path, storage_filesystem=filesystem):
        raise StudyError(f"{folder}: Ray Tune has no experiment state to resume here")
    # A resumed fused study's rung board starts empty: its groups are judged against
    # the rung values recorded since the resume (README, "Fused trial groups").
    plan, _board = _rung_board(plan)  # held until the study ends: the actor lives as long
    with restoring(folder):
        tuner = tune.Tuner.restore(
            path,
            storage_filesystem=filesystem,
            trainable=_trainable(plan, resources),
            resume_unfinished=True,
            resume_errored=False,
            restart_errored=False,
        )
        return _fit(tuner, folder, uploads, epoch_budget)


class RayTrial(NamedTuple):
    """A trial as Ray's saved state has it."""

    status: str  # TERMINATED, ERROR, or PENDING/RUNNING when the study was interrupted
    folder: str  # the name of its trial folder
    failures: int  # how often it failed and was retried (or given up)


def ray_statuses(folder: Path) -> dict[str, str]:
    """Ray Tune's own status of each trial, read back from the experiment folder."""
    return {trial_id: t.status for trial_id, t in ray_trials(folder).items()}


def ray_trials(folder: Path) -> dict[str, RayTrial]:
    """trial_id -> its RayTrial, from the experiment folder."""
    from ray import tune

    old_paths.install()  # Ray's state may hold pickles that name study's old modules
    return {
        t.trial_id: RayTrial(t.status, Path(str(t.path)).name, int(t.num_failures or 0))
        for t in tune.ExperimentAnalysis(str(folder)).trials
    }
