"""A validated study, frozen: :class:`Spec` and its parts, the keys a spec may hold and
the bounds it must stay within (README, "Bounds"). validate.py makes one from plain
data; loading.py reads that data from files, presets, suites and ``--set``.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field, replace
from typing import Any

import trainables
from study.specs.space import STARTUP_ALGORITHMS, Dimension

SCHEDULERS = ("asha", "fifo")
MODES = ("max", "min")
NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")  # matched whole (fullmatch)
MAX_SAMPLES = 100_000
# Bounds a spec must stay within (README, "Bounds"): more trials than this would fill
# the disk with trial folders long before they ran; a CPU share below MIN_CPU would
# start hundreds of trials at once on a laptop.
MAX_TRIALS = 100_000
MIN_CPU = 0.1
# Retries per trial on a cluster unless the spec says: one retry from its last
# checkpoint finishes a trial lost with its node (measured on a 2-node loopback cluster).
CLUSTER_MAX_FAILURES = 1
MAX_SEED = 2**32 - 1  # numpy's and Optuna's generators take 32-bit seeds
MAX_GPU = 64
MAX_EPOCH_BUDGET = 10**9  # trial-epochs; far past any study that fits a disk
TOP_KEYS = (
    "name",
    "trainable",
    "metric",
    "mode",
    "num_samples",
    "search",
    "scheduler",
    "resources",
    "max_concurrent",
    "max_failures",
    "time_budget_s",
    "epoch_budget",
    "config",
    "space",
    "variants",
    "checkpoint",
    "fuse",
    "fuse_data",
    "description",
)
MAX_FUSE = 4096  # members per fused group (a Ray trial); README, "Bounds"
# fuse: auto on a GPU, members per group: HFTA's scale, where one small trial leaves
# the card idle (on CPUs each trainable says: TrainableInfo.auto_fuse_cpu).
AUTO_FUSE_GPU = 64


@dataclass(frozen=True)
class Search:
    algorithm: str = "optuna"
    seed: int | None = 0
    # optuna and gp only: random trials before the model is used (Optuna's default).
    n_startup_trials: int = 10


@dataclass(frozen=True)
class Scheduler:
    name: str = "fifo"
    max_t: int = 100
    grace_period: int = 1
    reduction_factor: float = 3.0


@dataclass(frozen=True)
class Resources:
    cpu: float = 1.0
    gpu: float | str = 0.0  # a share of one GPU, or "auto"


@dataclass(frozen=True)
class Spec:
    """A validated study: what to train, what to search, how to schedule and where to run."""

    name: str
    trainable: str
    metric: str
    mode: str
    num_samples: int = 1
    search: Search = field(default_factory=Search)
    scheduler: Scheduler = field(default_factory=Scheduler)
    resources: Resources = field(default_factory=Resources)
    max_concurrent: int | None = None
    # Retries per trial after an error. None: by where it runs, resolved when it starts
    # (on_cluster): 0 on a private local Ray, CLUSTER_MAX_FAILURES on a cluster.
    max_failures: int | None = None
    time_budget_s: float | None = None
    # Trial-epochs after which no new trial starts (search/epoch_budget.py); None: none.
    epoch_budget: int | None = None
    config: dict[str, Any] = field(default_factory=dict)
    space: dict[str, Dimension] = field(default_factory=dict)
    variants: dict[str, dict[str, Any]] = field(default_factory=dict)
    checkpoint: bool = True
    # Trials trained together in one Ray trial (study/search/fused.py); 1 = one per Ray trial.
    fuse: int | str = 1
    # Fused groups' batch order: "own" (each member its seed's) or "shared" (README).
    fuse_data: str = "own"
    description: str = ""

    def on_cluster(self, joined: bool) -> Spec:
        """The spec as it runs: ``max_failures`` unset becomes 0 on a private local Ray
        and CLUSTER_MAX_FAILURES on a cluster (issue 22: a trial lost with its node was
        an error by default, where one retry from its checkpoint finishes it)."""
        if self.max_failures is not None:
            return self
        return replace(self, max_failures=CLUSTER_MAX_FAILURES if joined else 0)

    def _search_dict(self) -> dict[str, Any]:
        out = vars(self.search).copy()
        if self.search.algorithm not in STARTUP_ALGORITHMS:
            out.pop("n_startup_trials")  # optuna's and gp's key: refused for the others
        return out

    def to_dict(self) -> dict[str, Any]:
        """The resolved spec as plain data (what ``spec.yaml`` holds)."""
        out: dict[str, Any] = {
            "name": self.name,
            "trainable": self.trainable,
            "metric": self.metric,
            "mode": self.mode,
            "num_samples": self.num_samples,
            "search": self._search_dict(),
            "scheduler": vars(self.scheduler).copy(),
            "resources": vars(self.resources).copy(),
            "max_concurrent": self.max_concurrent,
            "max_failures": self.max_failures,
            "time_budget_s": self.time_budget_s,
            "epoch_budget": self.epoch_budget,
            "config": copy.deepcopy(self.config),
            "space": {k: d.to_dict() for k, d in self.space.items()},
            "variants": copy.deepcopy(self.variants),
            "checkpoint": self.checkpoint,
            "fuse": self.fuse,
            "fuse_data": self.fuse_data,
            "description": self.description,
        }
        return out

    def trial_count(self) -> int:
        """How many trials the study will run: num_samples, times every grid's size,
        times the variants."""
        count = self.num_samples * max(1, len(self.variants))
        for dim in self.space.values():
            if dim.kind in ("grid", "grid_range"):
                count *= len(dim.values())
        return count

    def worst_value(self) -> float:
        """The finite value a diverged or invalid trial reports to the searcher and scheduler.

        A bounded metric (an accuracy) gets the bound on its bad side, 0 (max) or 1
        (min); any other metric gets +-OVERFLOW_LOSS, the divergence threshold itself.
        """
        facts = trainables.metric_facts(self.trainable).get(self.metric)
        if facts is not None and facts.bounds is not None:
            low, high = facts.bounds
            return low if self.mode == "max" else high
        return -trainables.OVERFLOW_LOSS if self.mode == "max" else trainables.OVERFLOW_LOSS
