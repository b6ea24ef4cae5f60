"""Search spaces as data: ``{param: {distribution: args}}`` -> Ray Tune domains.

Distributions: ``uniform: [low, high]``, ``loguniform: [low, high]``,
``int: [low, high]`` (both ends included), ``choice: [a, b, ...]``,
``grid: [a, b, ...]`` and ``grid_range: [start, stop, step]`` (stop included when
it lies on the step, so ``[0.0, 4.0, 0.1]`` gives the seed's 41 values). The two
grid forms go with the grid (or random) algorithm, the others with optuna or random.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from experiment_folder import decode_choice, is_encoded
from study.errors import SpecError
from trainables.config import check_value, short

if TYPE_CHECKING:
    import trainables

ALGORITHMS = ("optuna", "random", "grid", "gp", "bohb")
# The searchers that model the results as an Optuna study (its journal, its constraints),
# over distributions, not grids: Optuna's TPE, its Gaussian process, and BOHB's TPE per
# budget (study/search/bohb.py).
OPTUNA_ALGORITHMS = ("optuna", "gp", "bohb")
# Those with a random start-up of n_startup_trials (bohb waits for enough observations
# at a budget instead).
STARTUP_ALGORITHMS = ("optuna", "gp")
DISTRIBUTIONS = ("uniform", "loguniform", "int", "choice", "grid", "grid_range")
GRID = ("grid", "grid_range")
MAX_GRID = 100_000


@dataclass(frozen=True)
class Dimension:
    """One searched parameter: its distribution and that distribution's arguments."""

    name: str
    kind: str
    args: tuple[Any, ...]

    def to_dict(self) -> dict[str, list[Any]]:
        return {self.kind: list(self.args)}

    def values(self) -> list[Any]:
        """The finite set of values (grid, grid_range, choice); [] for continuous ones."""
        if self.kind == "grid_range":
            return grid_range(*self.args)
        if self.kind in ("grid", "choice"):
            return list(self.args)
        return []

    def bounds(self) -> list[Any]:
        """Values that must each be valid for the trainable: the ends, or every listed value."""
        if self.kind in ("uniform", "loguniform", "int"):
            return list(self.args)
        return self.values()

    def to_ray(self) -> Any:
        from ray import tune

        if self.kind == "uniform":
            return tune.uniform(*self.args)
        if self.kind == "loguniform":
            return tune.loguniform(*self.args)
        if self.kind == "int":
            return tune.randint(self.args[0], self.args[1] + 1)  # Ray's high is exclusive
        if self.kind == "choice":
            return tune.choice(list(range(len(self.args))) if self.encoded else list(self.args))
        return tune.grid_search(list(range(len(self.values()))) if self.encoded else self.values())

    @property
    def encoded(self) -> bool:
        """Whether sampled values are indices into the choices (experiment_folder.is_encoded)."""
        return is_encoded(self.values())

    def decode(self, sampled: Any) -> Any:
        """The value a sampled index stands for (identity for plain values)."""
        return decode_choice(self.to_dict(), sampled)


def grid_range(start: float, stop: float, step: float) -> list[float]:
    """start, start+step, ... up to stop (included when on the step), rounded to 12 digits."""
    count = math.floor((stop - start) / step + 1e-9) + 1
    return [round(start + i * step, 12) for i in range(count)]


def _numbers(args: Any, where: str, count: int | None) -> tuple[float, ...]:
    if not isinstance(args, (list, tuple)) or (count is not None and len(args) != count):
        raise SpecError(f"{where}: needs a list of {count} numbers, got {short(args)}")
    for a in args:
        if isinstance(a, bool) or not isinstance(a, (int, float)) or not math.isfinite(a):
            raise SpecError(f"{where}: needs finite numbers, got {short(a)}")
    return tuple(args)


def parse_dimension(name: str, raw: Any, algorithm: str) -> Dimension:
    where = f"space.{name}"
    if not isinstance(raw, Mapping) or len(raw) != 1:
        raise SpecError(
            f"{where}: must be one distribution such as {{loguniform: [1e-4, 1.0]}}, "
            f"got {short(raw)}; allowed: {', '.join(DISTRIBUTIONS)}"
        )
    ((kind, args),) = raw.items()
    if kind not in DISTRIBUTIONS:
        raise SpecError(
            f"{where}: unknown distribution {short(kind)}; allowed: {', '.join(DISTRIBUTIONS)}"
        )
    where = f"{where}.{kind}"
    if kind in ("uniform", "loguniform", "int"):
        low, high = _numbers(args, where, 2)
        if kind == "int" and not (float(low).is_integer() and float(high).is_integer()):
            raise SpecError(f"{where}: needs whole numbers, got {list(args)}")
        if low >= high:
            raise SpecError(f"{where}: low < high must hold, but got (low={low}, high={high})")
        if kind == "loguniform" and low <= 0:
            raise SpecError(
                f"{where}: low > 0 must hold for a log scale, but got (low={low}, high={high})"
            )
        args = (int(low), int(high)) if kind == "int" else (float(low), float(high))
    elif kind == "grid_range":
        start, stop, step = _numbers(args, where, 3)
        if step <= 0 or stop < start:
            raise SpecError(f"{where}: needs start <= stop and step > 0, got {list(args)}")
        if (stop - start) / step >= MAX_GRID:
            raise SpecError(f"{where}: more than {MAX_GRID} values; use a larger step")
        args = (start, stop, step)
    else:
        if not isinstance(args, (list, tuple)) or not args:
            raise SpecError(f"{where}: needs a non-empty list of values, got {short(args)}")
        if len(args) > MAX_GRID:
            raise SpecError(f"{where}: more than {MAX_GRID} values")
        args = tuple(args)
    if kind in GRID and algorithm in OPTUNA_ALGORITHMS:
        raise SpecError(
            f"{where}: grid distributions go with search.algorithm grid or random, not {algorithm}"
        )
    if kind not in GRID and algorithm == "grid":
        raise SpecError(
            f"{where}: search.algorithm grid needs grid or grid_range for every parameter"
        )
    return Dimension(name, kind, args)


def parse_space(
    raw: Any, info: trainables.TrainableInfo, algorithm: str, fixed: set[str]
) -> dict[str, Dimension]:
    """Validate a space against the trainable: known keys, sane bounds, values it accepts."""
    if raw is None:
        raw = {}
    if not isinstance(raw, Mapping):
        raise SpecError(f"space: must be a mapping of parameter to distribution, got {short(raw)}")
    space: dict[str, Dimension] = {}
    for name, dist in raw.items():
        key = str(name)
        if not info.open_config and key not in info.config_keys():
            raise SpecError(
                f"space.{key}: {info.name} has no config key {short(key)}; "
                f"allowed keys: {', '.join(info.config_keys())}"
            )
        if key in fixed:
            raise SpecError(f"space.{key}: also fixed in config; search it or fix it, not both")
        dim = parse_dimension(key, dist, algorithm)
        for value in dim.bounds():
            problem = check_value(info.config, info.name, key, value)
            if problem:
                raise SpecError(f"space.{key}: {problem}")
        space[key] = dim
    return space
