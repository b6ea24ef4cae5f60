"""Plain spec data -> a validated, frozen :class:`~study.specs.spec.Spec`, before Ray starts.

Every refusal is a :class:`SpecError` whose one-line message names the key, the
value and what is allowed. Reading YAML files, presets, suites and ``--set``
overrides is loading.py's job; the Spec's fields and bounds are spec.py's.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from typing import Any

import trainables
from study.errors import SpecError
from study.specs.space import ALGORITHMS, OPTUNA_ALGORITHMS, STARTUP_ALGORITHMS, parse_space
from study.specs.spec import (
    MAX_EPOCH_BUDGET,
    MAX_FUSE,
    MAX_GPU,
    MAX_SAMPLES,
    MAX_SEED,
    MAX_TRIALS,
    MIN_CPU,
    MODES,
    NAME_RE,
    SCHEDULERS,
    TOP_KEYS,
    Resources,
    Scheduler,
    Search,
    Spec,
)
from trainables.config import check_value, short

log = logging.getLogger(__name__)


def _fail(where: str, message: str) -> SpecError:
    return SpecError(f"{where}: {message}")


def _mapping(value: Any, where: str) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise _fail(where, f"must be a mapping, got {type(value).__name__} {short(value)}")
    return value


def _keys(value: Mapping[str, Any], allowed: tuple[str, ...], where: str) -> None:
    unknown = [str(k) for k in value if k not in allowed]
    if unknown:
        raise _fail(where, f"unknown key {short(unknown[0])}; allowed: {', '.join(allowed)}")


def _number(
    value: Any,
    where: str,
    *,
    low: float,
    integer: bool = False,
    low_open: bool = False,
    high: float | None = None,
) -> Any:
    kind = "an integer" if integer else "a number"
    ok_type = isinstance(value, int) if integer else isinstance(value, (int, float))
    infinite = isinstance(value, float) and not math.isfinite(value)
    if isinstance(value, bool) or not ok_type or infinite:
        raise _fail(where, f"must be {kind}, got {short(value)}")
    too_low = value <= low if low_open else value < low
    if too_low or (high is not None and value > high):
        bound = f"> {low:g}" if low_open else f">= {low:g}"
        upper = f" and <= {high:g}" if high is not None else ""
        raise _fail(where, f"must be {bound}{upper}, got {short(value)}")
    return value


def _choice(value: Any, allowed: tuple[str, ...], where: str) -> str:
    if value not in allowed:
        raise _fail(where, f"unknown value {short(value)}; allowed: {', '.join(allowed)}")
    return str(value)


def check_name(name: Any) -> str:
    """Experiment names become folder names: letters, digits, '.', '_', '-' only."""
    if not isinstance(name, str) or not NAME_RE.fullmatch(name) or ".." in name:
        raise SpecError(
            f"name={short(name)} is not a safe folder name; allowed: 1-100 letters, digits, "
            "'.', '_' or '-', starting with a letter or digit"
        )
    return name


def _search(raw: Any) -> Search:
    raw = _mapping(raw, "search")
    _keys(raw, ("algorithm", "seed", "n_startup_trials"), "search")
    algorithm = _choice(raw.get("algorithm", "optuna"), ALGORITHMS, "search.algorithm")
    seed = raw.get("seed", 0)
    if seed is not None:
        _number(seed, "search.seed", low=0, integer=True, high=MAX_SEED)
    if "n_startup_trials" in raw and algorithm not in STARTUP_ALGORITHMS:
        raise SpecError(
            f"search.n_startup_trials: applies to algorithms gp and optuna only, not {algorithm}"
            + (" (its model waits for d + 3 trials at a budget)" if algorithm == "bohb" else "")
        )
    startup = _number(
        raw.get("n_startup_trials", 10), "search.n_startup_trials", low=0, integer=True, high=10**6
    )
    return Search(algorithm, seed, startup)


def _scheduler(raw: Any) -> Scheduler:
    raw = _mapping(raw, "scheduler")
    _keys(raw, ("name", "max_t", "grace_period", "reduction_factor"), "scheduler")
    name = _choice(raw.get("name", "fifo"), SCHEDULERS, "scheduler.name")
    max_t = _number(raw.get("max_t", 100), "scheduler.max_t", low=1, integer=True)
    grace = _number(raw.get("grace_period", 1), "scheduler.grace_period", low=1, integer=True)
    factor = _number(
        raw.get("reduction_factor", 3), "scheduler.reduction_factor", low=1, low_open=True
    )
    if grace > max_t:
        raise SpecError(
            f"scheduler: grace_period <= max_t must hold, got grace_period={grace}, max_t={max_t}"
        )
    return Scheduler(name, max_t, grace, float(factor))


def _bohb_scheduler(
    raw: Any, info: trainables.TrainableInfo, config: Mapping[str, Any]
) -> Scheduler:
    """bohb brings Hyperband's brackets (study/search/brackets.py): ``scheduler.name:
    asha`` is refused, max_t defaults to the trainable's epochs, reduction_factor to 3."""
    raw = _mapping(raw, "scheduler")
    if raw.get("name", "fifo") == "asha":
        raise SpecError(
            "scheduler: search.algorithm bohb brings its own Hyperband brackets; drop "
            "scheduler.name asha (max_t, grace_period and reduction_factor still apply)"
        )
    if "max_t" not in raw:
        epochs = config.get("epochs")
        for row in trainables.config_help(info.name):
            if epochs is None and row["key"] == "epochs":
                epochs = row["default"]
        if isinstance(epochs, int) and not isinstance(epochs, bool) and epochs >= 1:
            raw = {**raw, "max_t": epochs}
    return _scheduler(raw)


def parse_resources(raw: Any) -> Resources:
    raw = _mapping(raw, "resources")
    _keys(raw, ("cpu", "gpu"), "resources")
    cpu = _number(raw.get("cpu", 1), "resources.cpu", low=MIN_CPU, high=1024)
    gpu = check_gpu(raw.get("gpu", 0), "resources.gpu")
    return Resources(float(cpu), gpu)


def check_gpu(gpu: Any, where: str) -> float | str:
    """A GPU share per trial: 0 … 64, whole above 1, or 'auto'."""
    if gpu == "auto":
        return "auto"
    if isinstance(gpu, str):
        raise SpecError(f"{where}: must be a number >= 0 or 'auto', got {short(gpu)}")
    gpu = _number(gpu, where, low=0, high=MAX_GPU)
    if gpu > 1 and not float(gpu).is_integer():
        raise SpecError(f"{where}: a share above 1 must be whole, got {short(gpu)}")
    return float(gpu)


def _trainable_config(info: trainables.TrainableInfo, raw: Any, where: str) -> dict[str, Any]:
    """Check each fixed value on its own (type and range); combinations are checked per trial."""
    config = dict(_mapping(raw, where))
    for key, value in config.items():
        problem = check_value(info.config, info.name, str(key), value)
        if problem:
            raise SpecError(f"{where}.{key}: {problem}")
    return config


_SAID_UNDECLARED: set[str] = set()  # trainables whose undeclared parts were told once


def _metric(info: trainables.TrainableInfo, metric: Any) -> trainables.Metric:
    facts = info.metric_facts()
    if info.open_config and isinstance(metric, str):
        # A plain Ray Tune function declares nothing: take the spec's word, and say once
        # what the harness cannot check.
        known = metric in facts
        if info.name not in _SAID_UNDECLARED:
            _SAID_UNDECLARED.add(info.name)
            log.warning(
                "%s is a plain Ray Tune function: its config keys are not declared, so the "
                "spec's keys go to it unchecked%s (README, 'Your own trainables')",
                info.name,
                "" if known else f", and mode decides the direction of {metric}",
            )
        if not known:
            return trainables.Metric(metric)
    allowed = tuple(name for name, m in facts.items() if m.objective)
    if metric not in allowed:
        raise SpecError(
            f"metric={short(metric)} is not a metric {info.name} reports; "
            f"allowed: {', '.join(allowed)}"
        )
    return facts[metric]


def _mode(raw: Any, metric: trainables.Metric) -> str:
    """The spec's mode; by default the metric's own goal (max for a metric with none)."""
    if raw is None:
        return metric.goal or "max"
    mode = _choice(raw, MODES, "mode")
    if metric.goal is not None and mode != metric.goal:
        better = "higher" if metric.goal == "max" else "lower"
        log.warning(
            "mode: %s, but %s is better %s: this study looks for the worst trials",
            mode,
            metric.name,
            better,
        )
    return mode


def _fuse(info: trainables.TrainableInfo, raw: Any) -> int | str:
    """``fuse``: members per fused group, a whole number >= 1 or 'auto'; above 1 only for
    a trainable with a fused path (TrainableInfo.group)."""
    if raw == "auto":
        fuse: int | str = "auto"
    elif isinstance(raw, str) or (isinstance(raw, float) and not raw.is_integer()):
        raise SpecError(f"fuse: must be a whole number >= 1 or 'auto', got {short(raw)}")
    else:
        fuse = int(_number(raw, "fuse", low=1, high=MAX_FUSE))
    if fuse != 1 and info.group is None:
        fusable = ", ".join(name for name, i in trainables.REGISTRY.items() if i.group)
        raise SpecError(
            f"fuse: {info.name} has no fused path, so only fuse: 1 is allowed; "
            f"fusable trainables: {fusable}"
        )
    return fuse


def _fuse_data(info: trainables.TrainableInfo, raw: Any, fuse: int | str) -> str:
    """``fuse_data``: own, or shared where the trainable's fused path offers it."""
    value = _choice(raw, ("own", "shared"), "fuse_data")
    if value not in info.fuse_data:
        raise SpecError(
            f"fuse_data: {info.name} has no shared batch order (it does not shuffle, or has "
            f"no fused path); allowed: {', '.join(info.fuse_data)}"
        )
    if value == "shared" and fuse == 1:
        raise SpecError("fuse_data: shared applies to fused groups; set fuse above 1 or auto")
    return value


def build_spec(raw: Any) -> Spec:
    """Validate plain data (a loaded YAML document) into a Spec."""
    raw = _mapping(raw, "spec")
    _keys(raw, TOP_KEYS, "spec")
    for required in ("trainable", "metric"):
        if required not in raw:
            raise SpecError(f"spec: missing key {short(required)}")
    try:
        info = trainables.get(raw["trainable"])
    except trainables.InvalidConfig as exc:
        raise SpecError(f"trainable: {exc}") from None
    search = _search(raw.get("search"))
    config = _trainable_config(info, raw.get("config"), "config")
    variants = {
        str(name): _trainable_config(info, overrides, f"variants.{name}")
        for name, overrides in _mapping(raw.get("variants"), "variants").items()
    }
    if variants and search.algorithm in OPTUNA_ALGORITHMS:
        raise SpecError(
            f"variants: named variants need search.algorithm grid or random, not {search.algorithm}"
        )
    space = parse_space(raw.get("space"), info, search.algorithm, set(config))
    num_samples = _number(
        raw.get("num_samples", 1), "num_samples", low=1, integer=True, high=MAX_SAMPLES
    )
    max_concurrent = raw.get("max_concurrent")
    if max_concurrent is not None:
        _number(max_concurrent, "max_concurrent", low=1, integer=True, high=4096)
    time_budget = raw.get("time_budget_s")
    if time_budget is not None:
        time_budget = float(_number(time_budget, "time_budget_s", low=0, low_open=True))
    epoch_budget = raw.get("epoch_budget")
    if epoch_budget is not None:
        _number(epoch_budget, "epoch_budget", low=1, integer=True, high=MAX_EPOCH_BUDGET)
    checkpoint = raw.get("checkpoint", True)
    if not isinstance(checkpoint, bool):
        raise SpecError(f"checkpoint: must be true or false, got {short(checkpoint)}")
    description = raw.get("description", "")
    if not isinstance(description, str):
        raise SpecError("description: must be text")
    metric = _metric(info, raw["metric"])
    fuse = _fuse(info, raw.get("fuse", 1))
    fuse_data = _fuse_data(info, raw.get("fuse_data", "own"), fuse)
    spec = Spec(
        # An import path's default name is its function's (module:fn -> fn).
        name=check_name(raw.get("name", info.name.rpartition(":")[2])),
        trainable=info.name,
        metric=metric.name,
        mode=_mode(raw.get("mode"), metric),
        num_samples=num_samples,
        search=search,
        scheduler=_bohb_scheduler(raw.get("scheduler"), info, config)
        if search.algorithm == "bohb"
        else _scheduler(raw.get("scheduler")),
        resources=parse_resources(raw.get("resources")),
        max_concurrent=max_concurrent,
        max_failures=None
        if raw.get("max_failures") is None
        else _number(raw["max_failures"], "max_failures", low=0, integer=True, high=100),
        time_budget_s=time_budget,
        epoch_budget=epoch_budget,
        config=config,
        space=space,
        variants=variants,
        checkpoint=checkpoint and info.checkpoints,
        fuse=fuse,
        fuse_data=fuse_data,
        description=description,
    )
    if spec.trial_count() > MAX_TRIALS:
        raise SpecError(
            f"spec: {spec.trial_count():,} trials (num_samples {num_samples} x grid points x "
            f"variants); allowed: at most {MAX_TRIALS:,}"
        )
    return spec
