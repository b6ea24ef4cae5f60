"""The seed's models as plain training functions: no Ray, runnable and testable alone.

Your own model joins them in one of three forms (README, "Your own trainables"): a
function decorated with :func:`trainable` (own.py), a plain Ray Tune function
(ray_form.py), or a TrainableInfo registered with :func:`register`. A spec names the
first two by import path, ``module:function`` (:func:`get` imports them).

The registry is registry.py's; the lookup by name, import path or plugin is
lookup.py's; this package re-exports them. ``TRAINABLES`` maps a name to
``fn(config: dict, report: Callable[[dict], None] | None = None) -> dict``. Each
function validates its config first (raising :class:`InvalidConfig`, a ValueError,
that names the key, the value and what is allowed), calls ``report`` once per epoch
with a metrics dict holding at least ``epoch`` (1-based), ``loss`` and ``diverged``,
and returns the last metrics. Divergence never raises: the trainable reports once
more with ``diverged: True`` and the last finite values.
"""

from __future__ import annotations

from .common import OVERFLOW_LOSS, Checkpointer, MemoryCheckpointer, Metrics, Report
from .config import DataUnavailable, InvalidConfig, gather_assignments, parse_assignments
from .metrics import Metric
from .registry import REGISTRY, TRAINABLES, TrainableInfo, register

__all__ = [
    "IMPORTED",
    "OVERFLOW_LOSS",
    "PLUGINS_ENV",
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
    "config_help",
    "gather_assignments",
    "get",
    "metric_facts",
    "metric_names",
    "parse_assignments",
    "plugin_modules",
    "register",
    "stable_lrs",
    "trainable",
]

# Last: the decorator registers into the registry above, and importing lookup.py loads
# the plugins of $STUDY_HARNESS_TRAINABLES, which use the names bound above.
from .lookup import (
    IMPORTED,
    PLUGINS_ENV,
    check_plugins,
    config_help,
    get,
    metric_facts,
    metric_names,
    plugin_modules,
    stable_lrs,
)
from .own import trainable
