"""Typed, validated trainable configs.

Each trainable declares its config as a frozen dataclass whose fields are made
with :func:`param`. :func:`parse_config` turns the plain dict a user, a YAML spec
or a searcher hands over into that dataclass, or raises :class:`InvalidConfig`
naming the key, the value and what is allowed. Validation happens before any
data is touched or any training starts, so a bad config costs nothing.
"""

from __future__ import annotations

import dataclasses
import math
import re
import reprlib
import types
import typing
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, TypeVar

import yaml

__all__ = [
    "OPEN",
    "DataUnavailable",
    "InvalidConfig",
    "check_value",
    "config_class",
    "describe",
    "param",
    "parse_assignments",
    "parse_config",
]

C = TypeVar("C")


_SHORT = reprlib.Repr()
_SHORT.maxstring = _SHORT.maxother = 60
_SHORT.maxlist = _SHORT.maxtuple = _SHORT.maxdict = 6
_SHORT.maxlevel = 3
_SHORT.maxlong = 40


def short(value: Any) -> str:
    """A bounded repr for error messages: a 36 MB value (a YAML alias bomb, a
    400-digit number) still gives one short line, computed without the full repr."""
    return _SHORT.repr(value)


class NumberLoader(yaml.SafeLoader):
    """yaml.SafeLoader (data only) that reads ``1e-3`` as a number, as people type it.

    YAML 1.1, which PyYAML follows, wants a dot and a signed exponent (``1.0e-3``)
    and otherwise reads the text as a string."""


NumberLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?[0-9][0-9_]*(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


class InvalidConfig(ValueError):
    """A trainable config that cannot be trained: unknown key, wrong type or bad value."""


class DataUnavailable(InvalidConfig):
    """The data set named in a config is not on this machine (and cannot be downloaded)."""


# A check takes (name, coerced value) and returns an error text or None.
Check = Callable[[str, Any], "str | None"]


def param(
    default: Any,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
    choices: Sequence[Any] | None = None,
    check: Check | None = None,
    doc: str = "",
) -> Any:
    """A config field with its default, its allowed range or choices, and a one-line doc.

    ``low``/``high`` bound numbers (and every element of a list of numbers);
    ``*_open`` makes a bound exclusive. ``check`` is an extra validator for values
    a range cannot describe (the regression ``data`` key, for example).
    """
    meta = {
        "low": low,
        "high": high,
        "low_open": low_open,
        "high_open": high_open,
        "choices": tuple(choices) if choices is not None else None,
        "check": check,
        "doc": doc,
    }
    if isinstance(default, (list, dict)):
        frozen = default  # copied per instance by default_factory
        return dataclasses.field(default_factory=lambda: _copy(frozen), metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def _copy(value: Any) -> Any:
    if isinstance(value, list):
        return [_copy(v) for v in value]
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    return value


class OPEN:
    """The config of a trainable that declares none (a plain Ray Tune function): any key
    and value pass, as the function reads them. :func:`parse_config` returns a dict."""


def config_class(defaults: Mapping[str, Any], trainable: str) -> type:
    """A frozen config dataclass from a dict of defaults (the ``@trainable`` decorator's
    ``config=``): each key's type is its default's (an int default also takes whole
    floats, a float one takes ints); a value made with :func:`param` keeps its range and
    doc. A None default takes any value."""
    fields = []
    for key, value in defaults.items():
        if not isinstance(key, str) or not key.isidentifier():
            raise InvalidConfig(f"{trainable}: config key {short(key)} must be a Python name")
        field = value if isinstance(value, dataclasses.Field) else param(value)
        default = field.default
        if default is dataclasses.MISSING and field.default_factory is not dataclasses.MISSING:
            default = field.default_factory()
        fields.append((key, _type_of(default, f"{trainable}: config {key}"), field))
    return dataclasses.make_dataclass(f"{trainable.replace(':', '_')}_config", fields, frozen=True)


def _type_of(default: Any, where: str) -> Any:
    """The type a config key takes, from its default."""
    if default is None:
        return Any
    if isinstance(default, (bool, int, float, str)):
        return type(default)
    if isinstance(default, list) and default:
        kinds = {_type_of(v, where) for v in default}
        if len(kinds) == 1 and (kind := kinds.pop()) in (bool, int, float, str):
            return list[kind]  # type: ignore[valid-type]
        if kinds <= {int, float}:
            return list[float]
    raise InvalidConfig(
        f"{where}: default {short(default)} has no config type; allowed: a number, "
        "true/false, text, a non-empty list of those, or None (any value)"
    )


def parse_config(cls: type[C], config: Mapping[str, Any] | None, trainable: str) -> C:
    """Validate ``config`` against the dataclass ``cls``; fill defaults for missing keys.
    (:class:`OPEN`: the mapping itself, as a dict.)"""
    if config is None:
        config = {}
    if not isinstance(config, Mapping):
        raise InvalidConfig(
            f"{trainable}: config must be a mapping of key to value, got {type(config).__name__}"
        )
    if cls is OPEN:
        return dict(config)  # type: ignore[return-value]
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}  # type: ignore[arg-type]
    unknown = sorted(str(k) for k in config if k not in fields)
    if unknown:
        raise InvalidConfig(
            f"{trainable}: unknown config key {short(unknown[0])}; "
            f"allowed keys: {', '.join(fields)}"
        )
    hints = typing.get_type_hints(cls)
    values = {}
    for name, value in config.items():
        field = fields[name]
        coerced = _coerce(trainable, name, value, hints[name])
        _check_meta(trainable, name, coerced, field.metadata)
        values[name] = coerced
    try:
        return cls(**values)
    except InvalidConfig:
        raise
    except (TypeError, ValueError) as exc:  # cross-field checks in __post_init__
        raise InvalidConfig(f"{trainable}: {exc}") from None


def _type_name(tp: Any) -> str:
    if tp is Any or tp is object:
        return "see allowed"  # checked by the key's own check (its doc says what it takes)
    if isinstance(tp, type):
        return tp.__name__
    return str(tp).replace("typing.", "")


_WRONG = object()  # _convert's "not of this type"
MAX_INT = 2**63  # no config number is larger; beyond it float() overflows


def _coerce(trainable: str, name: str, value: Any, tp: Any) -> Any:
    """Return ``value`` converted to ``tp``, or raise InvalidConfig for a wrong type."""
    if isinstance(value, float) and not math.isfinite(value):
        raise InvalidConfig(f"{trainable}: {name}={short(value)} must be a finite number")
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_INT:
        raise InvalidConfig(
            f"{trainable}: {name}={short(value)} is out of range; allowed: |{name}| <= 2**63"
        )
    options = (
        typing.get_args(tp) if typing.get_origin(tp) in (typing.Union, types.UnionType) else (tp,)
    )
    for option in options:
        converted = _convert(value, option)
        if converted is not _WRONG:
            return converted
    raise InvalidConfig(
        f"{trainable}: {name}={short(value)} has the wrong type "
        f"({type(value).__name__}); allowed: {_type_name(tp)}"
    )


def _convert(value: Any, tp: Any) -> Any:
    """``value`` as ``tp`` (a plain type or list[...]), or _WRONG."""
    is_number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if tp is Any or tp is object:
        return value
    if typing.get_origin(tp) is list:
        (item_tp,) = typing.get_args(tp)
        if not isinstance(value, (list, tuple)) or not value:
            return _WRONG
        items = [_convert(v, item_tp) for v in value]
        return _WRONG if any(i is _WRONG for i in items) else items
    if tp is type(None):
        return None if value is None else _WRONG
    if tp is bool:
        return value if isinstance(value, bool) else _WRONG
    if tp is int:
        # Searchers and YAML sometimes hand over 64.0 for 64: accept whole floats.
        if is_number and float(value).is_integer():
            return int(value)
        return _WRONG
    if tp is float:
        return float(value) if is_number else _WRONG
    if tp is str:
        return value if isinstance(value, str) else _WRONG
    return _WRONG


def _check_meta(trainable: str, name: str, value: Any, meta: Mapping[str, Any]) -> None:
    choices = meta.get("choices")
    if choices is not None and value not in choices:
        allowed = ", ".join(repr(c) for c in choices)
        raise InvalidConfig(
            f"{trainable}: {name}={short(value)} is not allowed; allowed: {allowed}"
        )
    numbers = value if isinstance(value, list) else [value]
    for number in numbers:
        is_number = isinstance(number, (int, float)) and not isinstance(number, bool)
        if is_number and not _in_range(number, meta):
            allowed = _range_text(name, meta)
            raise InvalidConfig(
                f"{trainable}: {name}={short(value)} is out of range; allowed: {allowed}"
            )
    check = meta.get("check")
    if check is not None:
        problem = check(name, value)
        if problem:
            raise InvalidConfig(f"{trainable}: {problem}")


def _in_range(x: float, meta: Mapping[str, Any]) -> bool:
    low, high = meta.get("low"), meta.get("high")
    if low is not None and (x <= low if meta.get("low_open") else x < low):
        return False
    return not (high is not None and (x >= high if meta.get("high_open") else x > high))


def _bound(x: float) -> str:
    """A bound as people write it: 4294967295 (not 4.29497e+09), 1e+06, 0.5."""
    if float(x).is_integer() and abs(x) < 1e12:
        return str(int(x))
    return f"{x:g}"


def _range_text(name: str, meta: Mapping[str, Any]) -> str:
    parts = []
    low, high = meta.get("low"), meta.get("high")
    if low is not None:
        parts.append(f"{_bound(low)} {'<' if meta.get('low_open') else '<='} ")
    parts.append(name)
    if high is not None:
        parts.append(f" {'<' if meta.get('high_open') else '<='} {_bound(high)}")
    return "".join(parts)


def describe(cls: type) -> list[dict[str, Any]]:
    """One row per config key: name, type, default, allowed values and doc (for CLIs and docs).
    No rows for :class:`OPEN`, whose keys nobody declared."""
    if cls is OPEN:
        return []
    hints = typing.get_type_hints(cls)
    rows = []
    for f in dataclasses.fields(cls):
        if not f.init:  # derived, not a key a user sets
            continue
        factory: Any = f.default_factory
        default = f.default if f.default is not dataclasses.MISSING else factory()
        meta = f.metadata
        if meta.get("choices") is not None:
            allowed = ", ".join(repr(c) for c in meta["choices"])
        elif meta.get("low") is not None or meta.get("high") is not None:
            allowed = _range_text(f.name, meta)
        elif hints[f.name] is Any:  # a key with a check of its own: its doc says what it takes
            allowed = str(meta.get("doc", ""))
        else:
            allowed = ""
        rows.append(
            {
                "key": f.name,
                "type": _type_name(hints[f.name]),
                "default": default,
                "allowed": allowed,
                "doc": meta.get("doc", ""),
            }
        )
    return rows


def settings(cfg: Any) -> dict[str, Any]:
    """A parsed config's keys and values, defaults included."""
    if isinstance(cfg, dict):  # an OPEN config
        return dict(cfg)
    return {f.name: getattr(cfg, f.name) for f in dataclasses.fields(cfg) if f.init}


def group_key(config: Mapping[str, Any], member_keys: Iterable[str]) -> str:
    """What the members of one fused group share: every key but ``member_keys``
    (``"*"``: all may differ), as text. Configs with equal keys may train together."""
    skip = set(member_keys)
    if "*" in skip:
        return ""
    return repr(sorted((k, repr(v)) for k, v in config.items() if k not in skip))


def check_value(cls: type, trainable: str, key: str, value: Any) -> str | None:
    """Check one key's type and range on its own (no cross-key checks); the problem or None.

    The study layer uses this to refuse a bad fixed value or search bound before any
    trial runs, while combinations (Conv2d sizes) are left to each trial.
    """
    if cls is OPEN:
        return None  # undeclared: the function reads what it reads
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    if key not in fields:
        return f"{trainable} has no config key {short(key)}; allowed keys: {', '.join(fields)}"
    try:
        coerced = _coerce(trainable, key, value, typing.get_type_hints(cls)[key])
        _check_meta(trainable, key, coerced, fields[key].metadata)
    except InvalidConfig as exc:
        return str(exc)
    return None


def gather_assignments(
    groups: list[list[str]], positional: str | None
) -> tuple[list[str], str | None]:
    """``--set`` values as the command lines take them: several after one flag
    (``--set a=1 b=2``) or the flag repeated. A last value without ``=`` when the
    positional argument is missing is that argument (``--set lr=0.1 linear_w``)."""
    items = [item for group in groups for item in group]
    if positional is None and items and "=" not in items[-1]:
        positional = items.pop()
    return items, positional


def parse_assignments(items: list[str]) -> dict[str, Any]:
    """``key=value`` pairs, values read as YAML (``lr=0.1``, ``lr=1e-3``, ``channels=[8,16]``)."""
    config: dict[str, Any] = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or not key:
            raise InvalidConfig(f"--set {short(item)}: expected key=value")
        try:
            config[key] = yaml.load(text, Loader=NumberLoader)  # a SafeLoader: data only
        except yaml.YAMLError:
            raise InvalidConfig(f"--set {short(item)}: the value is not valid YAML") from None
    return config
