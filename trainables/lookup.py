"""A trainable found by what a spec calls it: a registered name, an import path
``module:function`` (imported on first use, as ``python -m`` would find it), or a module
named in ``$STUDY_HARNESS_TRAINABLES`` (a plugin, imported when this module is).

Ray workers inherit the variable; on a cluster the driver ships the modules
(study/execution/cluster.py, ``plugin_runtime_env``).
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from dataclasses import replace
from typing import Any

from .config import InvalidConfig, describe, short
from .metrics import Metric
from .registry import REGISTRY, TrainableInfo, add

PLUGINS_ENV = "STUDY_HARNESS_TRAINABLES"


# Import paths resolved in this process: path -> its module's name, which study ships to
# a cluster's nodes as it ships plugins (study.cluster.plugin_runtime_env).
IMPORTED: dict[str, str] = {}


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
    add(info)
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


_load_plugins()
