"""The trainables by name: what the study layer needs to know of each without running
it (:class:`TrainableInfo`), the built-ins, and how your own join them.

Importing this module does not import torch: each built-in's function is imported on
its first call (``_Lazy``), so validating a spec against the registry stays light.
Finding a trainable by name, by import path or in a plugin is lookup.py's job.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .common import Metrics
from .config import OPEN, InvalidConfig, describe
from .metrics import BASE_METRICS, LR_RANGE_METRICS, MNIST_METRICS, Metric, as_metric, quantity
from .model_configs import (
    CnnConfig,
    LinearWBConfig,
    LinearWConfig,
    LossLandscapeConfig,
    LrRangeConfig,
    MnistConfig,
)

Trainable = Callable[..., Metrics]


class _Lazy:
    """A trainable function imported on first call, so that importing the registry (and
    validating a spec against it) does not import torch."""

    def __init__(self, module: str, name: str) -> None:
        self.module, self.__name__ = module, name
        self.__qualname__ = name

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        fn = getattr(importlib.import_module(self.module, __package__), self.__name__)
        return fn(*args, **kwargs)

    def __repr__(self) -> str:
        return f"<trainable {self.__name__} from trainables{self.module}>"


# The keys in which fused group members may differ (trainables/fused.py says why these;
# the fused modules import torch and this one must not, so the names live here).
NETWORK_KEYS = (
    "lr",
    "momentum",
    "weight_decay",
    "dropout",
    "lr_decay",
    "early_stop_patience",
    "seed",
)


REGRESSION_KEYS = ("lr", "w0", "b0", "seed")


# A regression member costs a few floats: a whole preset fits one group.
AUTO_FUSE_REGRESSION = 512


@dataclass(frozen=True)
class TrainableInfo:
    """A trainable with what the study layer needs to know about it without running it."""

    name: str
    fn: Trainable
    config: type
    # Besides epoch, loss and diverged (BASE_METRICS). A plugin may give plain names:
    # they become metrics with no declared direction (trainables/metrics.py).
    metrics: tuple[Metric | str, ...]
    checkpoints: bool  # accepts a ``checkpoint=`` Checkpointer and resumes from it
    summary: str
    # Fused trial groups (trainables/fused.py): ``group(configs, report, ...)`` trains
    # many configs in one process; ``member_keys`` are the keys in which a group's
    # members may differ ("*": every key). None: the trainable runs one config at a time.
    group: Callable[..., dict[int, Metrics]] | None = None
    member_keys: tuple[str, ...] | None = None
    # ``fuse: auto`` on CPUs: members per group, as measured (BENCHMARKS.md section 12).
    auto_fuse_cpu: int = 16
    # The batch orders its fused path offers (``fuse_data``): "own" (each member its
    # seed's) and, for trainables that shuffle, "shared" (``shared_order=True``).
    fuse_data: tuple[str, ...] = ("own",)
    # "harness": fn follows this module's contract. "ray": a plain Ray Tune function
    # (``raw(config)`` calling ray.tune.report), whose config keys and metrics nobody
    # declared (config OPEN): a spec may name any key and metric (ray_form.py).
    kind: str = "harness"
    raw: Callable[..., Any] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "metrics", tuple(as_metric(m) for m in self.metrics))

    def metric_facts(self) -> dict[str, Metric]:
        """Every metric this trainable reports, by name, the base three first."""
        own: tuple[Metric, ...] = tuple(as_metric(m) for m in self.metrics)
        return {m.name: m for m in (*BASE_METRICS, *own)}

    def config_keys(self) -> list[str]:
        """The config keys this trainable accepts (none declared: ``open_config``)."""
        return [row["key"] for row in describe(self.config)]

    @property
    def open_config(self) -> bool:
        """Whether any key goes (its config is undeclared: a plain Ray Tune function)."""
        return self.config is OPEN


REGISTRY: dict[str, TrainableInfo] = {
    info.name: info
    for info in (
        TrainableInfo(
            "linear_w",
            _Lazy(".regression", "linear_w"),
            LinearWConfig,
            (quantity("w"), quantity("grad")),
            False,
            "y = w·x by per-sample SGD (seed 5.1.2 / 5.2)",
            _Lazy(".fused_regression", "linear_w_group"),
            REGRESSION_KEYS,
            AUTO_FUSE_REGRESSION,
        ),
        TrainableInfo(
            "linear_wb",
            _Lazy(".regression", "linear_wb"),
            LinearWBConfig,
            (quantity("w"), quantity("b")),
            False,
            "y = w·x + b, manual SGD (5.2) or nn.Linear + optim.SGD (5.4)",
            _Lazy(".fused_regression", "linear_wb_group"),
            REGRESSION_KEYS,
            AUTO_FUSE_REGRESSION,
        ),
        TrainableInfo(
            "loss_landscape",
            _Lazy(".regression", "loss_landscape"),
            LossLandscapeConfig,
            (quantity("w"), quantity("b")),
            False,
            "brute-force MSE at one (w, b), the seed's 穷举法",
            _Lazy(".fused_regression", "loss_landscape_group"),
            ("*",),
            AUTO_FUSE_REGRESSION,
        ),
        TrainableInfo(
            "mnist_mlp",
            _Lazy(".mnist", "mnist_mlp"),
            MnistConfig,
            MNIST_METRICS,
            True,
            "the seed's 784-512-256-128-64-10 MLP on MNIST",
            _Lazy(".fused", "mnist_mlp_group"),
            NETWORK_KEYS,
            fuse_data=("own", "shared"),
        ),
        TrainableInfo(
            "mnist_cnn",
            _Lazy(".mnist", "mnist_cnn"),
            CnnConfig,
            MNIST_METRICS,
            True,
            "the classic small CNN with configurable Conv2d settings",
            _Lazy(".fused", "mnist_cnn_group"),
            NETWORK_KEYS,
            fuse_data=("own", "shared"),
        ),
        TrainableInfo(
            "lr_range",
            _Lazy(".lr_range", "lr_range"),
            LrRangeConfig,
            LR_RANGE_METRICS,
            False,
            "the lr range test (lr_find) on the MLP or CNN: one short run, lr growing per batch",
        ),
    )
}


TRAINABLES: dict[str, Trainable] = {name: info.fn for name, info in REGISTRY.items()}


def add(info: TrainableInfo) -> None:
    """Add ``info`` under its name, to the registry and to TRAINABLES (its function)."""
    REGISTRY[info.name] = info
    TRAINABLES[info.name] = info.fn


def register(info: TrainableInfo) -> None:
    """Add a trainable to the registry (your own model, or a test's); names must be new."""
    if info.name in REGISTRY:
        raise InvalidConfig(f"a trainable named {info.name!r} is already registered")
    add(info)


def register_own(info: TrainableInfo, fn: Callable[..., Any]) -> None:
    """Register a decorated function under its own name too, unless that name belongs to
    another function (a built-in, another module's): re-running a module (a notebook
    cell) replaces its own entry. Its import path always works (:func:`get`)."""
    held = REGISTRY.get(info.name)
    if held is not None:
        old = getattr(held.fn, "__wrapped__", None)
        same = old is not None and (old.__module__, old.__qualname__) == (
            fn.__module__,
            fn.__qualname__,
        )
        if not same:
            return
    add(info)
