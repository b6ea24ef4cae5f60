"""Compile a validated Spec into what its trials need: resources and a TrialPlan.

No Ray here: the cluster's GPU and CPU counts come in as numbers, so every rule
(``gpu: auto``, the per-trial seed, the config a trial runs with) is testable on
its own. The plan is small, because it travels to every worker.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import trainables
from experiment_folder import TRIAL_INDEX, decode_params
from study.errors import ClusterError
from study.specs.spec import AUTO_FUSE_GPU, Resources, Spec
from trainables.config import parse_config

log = logging.getLogger(__name__)

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
    search_seed: int | None = 0  # None: fresh trial seeds each run (search.seed: null)
    use_gpu: bool = False
    cpus: float = 1.0
    checkpoint: bool = True
    # Fused groups (study/search/fused.py): members per Ray trial, and ASHA's (grace_period,
    # reduction_factor, max_t) applied inside each group; mode ranks members at a rung.
    fuse: int = 1
    cluster_cpus: float = 0.0  # the most CPUs a fused group asks for (group_cpus)
    rungs: tuple[int, float, int] | None = None
    brackets: bool = False  # bohb: the rungs in Hyperband's brackets (study/search/brackets.py)
    mode: str = "max"
    fuse_data: str = "own"
    rung_board: str | None = None  # the Ray actor's name (tuner.py), where ASHA runs fused


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
        search_seed=spec.search.seed,
        use_gpu=float(resources.gpu) > 0,
        cpus=resources.cpu,
        checkpoint=spec.checkpoint,
        fuse=fuse,
        cluster_cpus=cluster_cpus,
        rungs=(s.grace_period, s.reduction_factor, s.max_t)
        if s.name == "asha" or spec.search.algorithm == "bohb"
        else None,
        brackets=spec.search.algorithm == "bohb",
        mode=spec.mode,
        fuse_data=spec.fuse_data,
    )


# Ray's BasicVariantGenerator (grid and random studies) names its trials with a random
# prefix and a counter of the trials it made: uuid_prefix + "%05d" % counter
# (ray/tune/search/basic_variant.py, Ray 2.60; tests/study/test_seeds.py checks it).
_RAY_COUNTER = re.compile(r"^[0-9a-f]+_(\d{5,})$")
_SAID_NO_INDEX: list[bool] = []


def trial_index(trial_id: str, sampled: Mapping[str, Any]) -> int | None:
    """The trial's place in the study's order of proposals: the index its searcher put
    in its config (Optuna's trial number; a fused member's place), else the counter that
    ends a grid or random trial's Ray id; None where neither is known."""
    index = sampled.get(TRIAL_INDEX)
    if isinstance(index, int) and not isinstance(index, bool):
        return index
    match = _RAY_COUNTER.match(trial_id)
    return int(match.group(1)) if match else None


def trial_seed(search_seed: int | None, index: int | None, trial_id: str = "") -> int:
    """A per-trial seed (recorded in trials.csv): from the search seed and the trial's
    index, so the same spec and search.seed give every trial the same seed each run
    (README, "Reproducible studies"). With search.seed null, or where the index is
    unknown, from Ray's trial id, which is random per run."""
    if search_seed is not None and index is None and trial_id and not _SAID_NO_INDEX:
        _SAID_NO_INDEX.append(True)
        log.warning("trial %s has no index: its seed comes from its random Ray id", trial_id)
    key = f"{search_seed}:{index}" if search_seed is not None and index is not None else trial_id
    digest = hashlib.sha256(key.encode()).digest()
    return int.from_bytes(digest[:4], "big") % 2**31


def trial_config(plan: TrialPlan, sampled: dict[str, Any], trial_id: str) -> dict[str, Any]:
    """The trainable's config: fixed, then the variant's overrides, then the sampled values.

    A trainable that takes a ``seed`` gets a per-trial one (search seed and trial index)
    unless the spec fixes or searches it, so repeated configs are real repeats.
    A trainable with a ``device`` key runs where Ray placed it: cuda with a GPU share.
    """
    index = trial_index(trial_id, sampled)
    decoded = decode_params(plan.space, plan.variants, sampled)
    decoded.pop("variant", None)  # its overrides are in; the name is not a config key
    config = {**plan.fixed, **decoded}
    keys = trainables.get(plan.trainable).config_keys()
    if "seed" in keys and "seed" not in config:
        config["seed"] = trial_seed(plan.search_seed, index, trial_id)
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


def group_cpus(members: int, cpu: float, cluster_cpus: float) -> float:
    """The CPUs a group of ``members`` trials asks for (each trial's ``cpu``): those of
    the trials it replaces, as many as the cluster has at most. Its stacked kernels use
    them as threads (measured: K = 16 MLPs 2.0x faster on 2 threads than on 1). With a
    GPU a group asks one trial's share (execution/tuner.py): sharing the card is the point."""
    return min(cpu * max(members, 1), max(cluster_cpus, cpu))


def fuse_size(fuse: int | str, trainable: str, cluster_gpus: float, gpu_share: float) -> int:
    """Members per group: ``fuse`` itself, or for ``auto`` the documented rule (README,
    "Fused trial groups"): on a GPU, AUTO_FUSE_GPU; on CPUs, the trainable's measured
    ``auto_fuse_cpu``."""
    if fuse != "auto":
        return int(fuse)
    if gpu_share > 0 and cluster_gpus > 0:
        return AUTO_FUSE_GPU
    return trainables.get(trainable).auto_fuse_cpu
