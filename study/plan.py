"""Compile a validated Spec into what its trials need: resources and a TrialPlan.

No Ray here: the cluster's GPU and CPU counts come in as numbers, so every rule
(``gpu: auto``, the per-trial seed, the config a trial runs with) is testable on
its own. The plan is small, because it travels to every worker.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import trainables
from experiment_folder import decode_params
from trainables.config import parse_config

from .errors import ClusterError
from .spec import Resources, Spec

AUTO_GPU_SHARE = 0.25  # resources.gpu: auto -> four small trials share one card


@dataclass(frozen=True)
class TrialPlan:
    """What every trial of a study shares (small: it travels to each worker)."""

    trainable: str
    metric: str
    worst: float
    fixed: dict[str, Any] = field(default_factory=dict)
    variants: dict[str, dict[str, Any]] = field(default_factory=dict)
    space: dict[str, Any] = field(default_factory=dict)  # name -> {kind: args}, to decode
    search_seed: int = 0
    use_gpu: bool = False
    cpus: float = 1.0
    checkpoint: bool = True
    # Fused groups (groups.py): members per Ray trial, and ASHA's (grace_period,
    # reduction_factor, max_t) applied inside each group; mode ranks members at a rung.
    fuse: int = 1
    cluster_cpus: float = 0.0  # the most CPUs a fused group asks for (groups.group_cpus)
    rungs: tuple[int, float, int] | None = None
    mode: str = "max"
    fuse_data: str = "own"
    rung_board: str | None = None  # the Ray actor's name (tuning.py), where ASHA runs fused


def resolve_resources(
    spec: Spec, gpus_per_trial: float | None, cluster_gpus: float, cluster_cpus: float
) -> Resources:
    """Each trial's CPUs and GPU share: ``gpu: auto`` resolved, requests checked against
    what the cluster has."""
    gpu = spec.resources.gpu if gpus_per_trial is None else gpus_per_trial
    if gpu == "auto":
        gpu = AUTO_GPU_SHARE if cluster_gpus > 0 else 0.0
    elif float(gpu) > 0 and cluster_gpus == 0:
        raise ClusterError(
            f"resources.gpu={gpu} per trial, but the Ray cluster has no GPUs; "
            "use gpu: 0 or gpu: auto"
        )
    if spec.resources.cpu > cluster_cpus:
        raise ClusterError(
            f"resources.cpu={spec.resources.cpu:g} per trial, but the cluster has "
            f"{cluster_cpus:g} CPUs"
        )
    return Resources(spec.resources.cpu, float(gpu))


def make_plan(
    spec: Spec, resources: Resources, fuse: int = 1, cluster_cpus: float = 0.0
) -> TrialPlan:
    s = spec.scheduler
    return TrialPlan(
        trainable=spec.trainable,
        metric=spec.metric,
        worst=spec.worst_value(),
        fixed=dict(spec.config),
        variants=dict(spec.variants),
        space={name: dim.to_dict() for name, dim in spec.space.items()},
        search_seed=spec.search.seed or 0,
        use_gpu=float(resources.gpu) > 0,
        cpus=resources.cpu,
        checkpoint=spec.checkpoint,
        fuse=fuse,
        cluster_cpus=cluster_cpus,
        rungs=(s.grace_period, s.reduction_factor, s.max_t) if s.name == "asha" else None,
        mode=spec.mode,
        fuse_data=spec.fuse_data,
    )


def trial_seed(search_seed: int, trial_id: str) -> int:
    """A per-trial seed from the search seed and Ray's trial id (recorded in trials.csv).

    Ray's ids are random per run (searchers draw uuids), so a rerun of one trial
    takes its recorded seed: ``--set seed=N``.
    """
    digest = hashlib.sha256(f"{search_seed}:{trial_id}".encode()).digest()
    return int.from_bytes(digest[:4], "big") % 2**31


def trial_config(plan: TrialPlan, sampled: dict[str, Any], trial_id: str) -> dict[str, Any]:
    """The trainable's config: fixed, then the variant's overrides, then the sampled values.

    A trainable that takes a ``seed`` gets a per-trial one (search seed and trial id)
    unless the spec fixes or searches it, so repeated configs are real repeats.
    A trainable with a ``device`` key runs where Ray placed it: cuda with a GPU share.
    """
    decoded = decode_params(plan.space, plan.variants, sampled)
    decoded.pop("variant", None)  # its overrides are in; the name is not a config key
    config = {**plan.fixed, **decoded}
    keys = trainables.get(plan.trainable).config_keys()
    if "seed" in keys and "seed" not in config:
        config["seed"] = trial_seed(plan.search_seed, trial_id)
    if "device" in keys and config.get("device", "auto") == "auto":
        config["device"] = "cuda" if plan.use_gpu else "cpu"
    return config


def check_proposal(plan: TrialPlan, sampled: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
    """The config a proposal would run with, and why it cannot be trained (None if it
    can): the trainable's own validation (its config parse, the Conv2d plan, the memory
    cap), without torch or data, so the searcher can skip it before any Ray trial."""
    config = trial_config(plan, sampled, trial_id="")
    info = trainables.get(plan.trainable)
    try:
        parse_config(info.config, config, info.name)
    except trainables.InvalidConfig as exc:
        return config, str(exc)
    return config, None
