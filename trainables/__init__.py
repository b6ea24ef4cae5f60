"""The seed's models as plain training functions: no Ray, runnable and testable alone.

Your own model joins them in one of three forms (README, "Your own trainables"): a
function decorated with :func:`trainable` (own.py), a plain Ray Tune function
(ray_form.py), or a TrainableInfo registered with :func:`register`. A spec names the
first two by import path, ``module:function`` (:func:`get` imports them).

``TRAINABLES`` maps a name to ``fn(config: dict, report: Callable[[dict], None] | None = None)
-> dict``. Each function validates its config first (raising :class:`InvalidConfig`,
a ValueError, that names the key, the value and what is allowed), calls ``report``
once per epoch with a metrics dict holding at least ``epoch`` (1-based), ``loss``
and ``diverged``, and returns the last metrics. Divergence never raises: the
trainable reports once more with ``diverged: True`` and the last finite values.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from .common import OVERFLOW_LOSS, Checkpointer, MemoryCheckpointer, Metrics, Report
from .config import (
    OPEN,
    DataUnavailable,
    InvalidConfig,
    describe,
    gather_assignments,
    parse_assignments,
    short,
)
from .metrics import (
    BASE_METRICS,
    LR_RANGE_METRICS,
    MNIST_METRICS,
    Metric,
    as_metric,
    quantity,
)
from .model_configs import (
    CnnConfig,
    LinearWBConfig,
    LinearWConfig,
    LossLandscapeConfig,
    LrRangeConfig,
    MnistConfig,
)

__all__ = [
    "OVERFLOW_LOSS",
    "REGISTRY",
    "TRAINABLES",
    "Checkpointer",
    "DataUnavailable",
    "InvalidConfig",
    "MemoryCheckpointer",
    "Metric",
    "Metrics",
    "Report",
    "TrainableInfo",
    "check_plugins",
    "gather_assignments",
    "get",
    "metric_facts",
    "parse_assignments",
    "register",
    "stable_lrs",
    "trainable",
]

Trainable = Callable[..., Metrics]


class _Lazy:
    """A trainable function imported on first call, so that importing the registry (and
    validating a spec against it) does not import torch."""

    def __init__(self, module: str, name: str) -> None:
        self.module, self.__name__ = module, name
        self.__qualname__ = name

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        fn = getattr(importlib.import_module(self.module, __name__), self.__name__)
        return fn(*args, **kwargs)

    def __repr__(self) -> str:
        return f"<trainable {self.__name__} from trainables{self.module}>"


PLUGINS_ENV = "STUDY_HARNESS_TRAINABLES"
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


def _put(info: TrainableInfo) -> None:
    """Add ``info`` under its name, to the registry and to TRAINABLES (its function)."""
    REGISTRY[info.name] = info
    TRAINABLES[info.name] = info.fn


def register(info: TrainableInfo) -> None:
    """Add a trainable to the registry (your own model, or a test's); names must be new."""
    if info.name in REGISTRY:
        raise InvalidConfig(f"a trainable named {info.name!r} is already registered")
    _put(info)


# Import paths resolved in this process: path -> its module's name, which study ships to
# a cluster's nodes as it ships plugins (study.cluster.plugin_runtime_env).
IMPORTED: dict[str, str] = {}


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
    _put(info)


def _import(module: str) -> tuple[Any, str]:
    """Import ``module`` as ``python -m`` would find it: on sys.path, then in the current
    folder (a console script's sys.path lacks it). (The module, "") or (None, why not)."""
    try:
        if importlib.util.find_spec(module.split(".")[0]) is None and (os.getcwd() not in sys.path):
            sys.path.append(os.getcwd())
        return importlib.import_module(module), ""
    except Exception as exc:  # the module, or something it imports, is missing or broken
        missing = isinstance(exc, ModuleNotFoundError) and exc.name == module.split(".")[0]
        why = (
            "no such module in the current folder or on sys.path"
            if missing
            else f"importing it failed: {type(exc).__name__}: {str(exc)[:160]}"
        )
        return None, why


def _by_path(path: str) -> TrainableInfo:
    """The trainable at import path ``module:function``: a decorated function's own
    info, or a plain Ray Tune function ``fn(config)`` taken as it is."""
    from .own import INFO
    from .ray_form import ray_function

    module, _, attr = path.partition(":")
    if not module or not attr or not all(p.isidentifier() for p in (*module.split("."), attr)):
        raise InvalidConfig(
            f"trainable {short(path)}: an import path is module:function, "
            "e.g. my_model:train (module and function Python names)"
        )
    found, why = _import(module)
    if why:
        raise InvalidConfig(f"trainable {short(path)}: module {module!r}: {why}")
    fn = getattr(found, attr, None)
    if not callable(fn):
        raise InvalidConfig(f"trainable {short(path)}: module {module!r} has no function {attr!r}")
    own = getattr(fn, INFO, None)
    info = own if isinstance(own, TrainableInfo) else None
    if info is None:  # a function the module registered itself (the dataclass form)
        info = next((i for i in REGISTRY.values() if i.fn is fn), None)
    if info is None:
        info = ray_function(fn, path)
    info = replace(info, name=path)
    _put(info)
    IMPORTED[path] = module
    return info


def plugin_modules() -> list[str]:
    """The module names in $STUDY_HARNESS_TRAINABLES (comma-separated), in order."""
    return [m for m in (m.strip() for m in os.environ.get(PLUGINS_ENV, "").split(",")) if m]


_PLUGIN_ERRORS: list[str] = []


def _load_plugins() -> None:
    """Import the modules named in $STUDY_HARNESS_TRAINABLES; each registers its
    trainables. Local Ray workers inherit the variable; on a cluster that ``study`` joins,
    the driver ships it and the modules (study.cluster.plugin_runtime_env).

    A module is looked for as ``python -m`` would: on sys.path, then in the current
    folder (a console script's sys.path lacks it). One that cannot be imported is
    remembered, not raised here (this runs on import): :func:`check_plugins` says so
    in one line."""
    for module in plugin_modules():
        why = _import(module)[1]
        if why:
            _PLUGIN_ERRORS.append(f"${PLUGINS_ENV}: module {module[:100]!r}: {why}")


def check_plugins() -> None:
    """InvalidConfig (one line) if a module named in $STUDY_HARNESS_TRAINABLES did not
    import."""
    if _PLUGIN_ERRORS:
        raise InvalidConfig(_PLUGIN_ERRORS[0])


def get(name: str) -> TrainableInfo:
    """The registered trainable ``name``, or the one at import path ``module:function``
    (imported on first use), or InvalidConfig listing the names that exist."""
    try:
        return REGISTRY[name]
    except (KeyError, TypeError):
        if isinstance(name, str) and ":" in name:
            return _by_path(name)
        builtin = ", ".join(n for n in REGISTRY if ":" not in n)
        raise InvalidConfig(
            f"unknown trainable {short(name)}; allowed: {builtin}, or module:function for your own"
        ) from None


def metric_names(name: str) -> tuple[str, ...]:
    """Every metric ``name`` reports."""
    return tuple(get(name).metric_facts())


def metric_facts(name: str) -> dict[str, Metric]:
    """What each metric of trainable ``name`` is (direction, objective, best column)."""
    return get(name).metric_facts()


def stable_lrs(
    name: str, config: dict[str, Any] | None, low: float, high: float
) -> list[tuple[float, float]]:
    """The learning rates in [low, high] at which regression ``name`` trains stably, as
    sorted, disjoint intervals, computed exactly (trainables/stability.py; no torch)."""
    from .stability import stable_lrs as exact

    return exact(name, config, low, high)


def accepts(name: str) -> list[str]:
    return get(name).config_keys()


def config_help(name: str) -> list[dict[str, Any]]:
    return describe(get(name).config)


from .own import trainable  # noqa: E402  (it registers into the registry above)

_load_plugins()
