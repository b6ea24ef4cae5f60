"""Reading specs: a mapping, a YAML file, a preset or a suite -> validated Specs.

YAML is read with a SafeLoader (data only: no tags, no eval) that also refuses a
key given twice. ``--set`` overrides are applied to the plain data before it is
validated (validate.py), so an override is checked like any other value.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from experiment_folder import MAX_DOCUMENT_VALUES, SUITE_FILE, too_large
from study.errors import SpecError
from study.specs import presets
from study.specs.spec import TOP_KEYS, Spec
from study.specs.validate import build_spec
from trainables.config import NumberLoader, short

MAX_SPEC_BYTES = 1_000_000  # a spec file; presets are about 1 KB

__all__ = ["SUITE_FILE", "apply_overrides", "load_raw", "load_spec", "read_yaml", "suite_specs"]


class _SpecLoader(NumberLoader):
    """yaml.SafeLoader (data only: no tags that build objects) that reads ``1e-3`` as a
    number and refuses a key given twice in one mapping, which YAML would silently
    resolve to the last one."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue  # '<<: *base' merges; keys given here then override, as YAML means
            key = self.construct_object(key_node, deep=deep)
            try:
                duplicate = key in seen
                seen.add(key)
            except TypeError:  # unhashable: SafeLoader's own error follows
                continue
            if duplicate:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {short(key)}", key_node.start_mark
                )
        return super().construct_mapping(node, deep=deep)


def read_yaml(path: Path) -> Any:
    """A YAML document as plain data, or SpecError (one line) for an unreadable, bad or
    oversized file (more than MAX_SPEC_BYTES, or more than MAX_DOCUMENT_VALUES values
    once its aliases are expanded: a 430-byte "billion laughs" spec is refused)."""
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_SPEC_BYTES + 1)
        if len(data) > MAX_SPEC_BYTES:
            raise SpecError(f"{path}: larger than {MAX_SPEC_BYTES:,} bytes; not a spec")
        text = data.decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError(f"{path}: cannot read the spec: {exc.__class__.__name__}: {exc}") from None
    try:
        document = yaml.load(text, Loader=_SpecLoader)  # a SafeLoader: data only
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or exc.__class__.__name__
        raise SpecError(f"{path}: not valid YAML{where}: {str(problem)[:200]}") from None
    except RecursionError:
        raise SpecError(f"{path}: nested too deeply to be a spec") from None
    except ValueError as exc:  # a number past Python's digit limit
        raise SpecError(f"{path}: not a spec: {str(exc)[:120]}") from None
    if too_large(document):
        raise SpecError(
            f"{path}: expands to more than {MAX_DOCUMENT_VALUES:,} values "
            "(YAML aliases?); a spec is far smaller"
        )
    return document


# Top-level keys that are YAML scratch space (for anchors: ``x-base: &base {...}``), as
# in docker-compose files: dropped before validation.
SCRATCH_PREFIX = "x-"
# Spec keys that --set KEY=VALUE sets by name (the others are mappings: a.b=v).
SET_BY_NAME = tuple(k for k in TOP_KEYS if k not in ("config", "space", "variants"))


def without_scratch(raw: Mapping[Any, Any]) -> dict[Any, Any]:
    """The spec without its ``x-`` keys."""
    return {k: v for k, v in raw.items() if not str(k).startswith(SCRATCH_PREFIX)}


def apply_overrides(raw: Mapping[str, Any], sets: Mapping[str, Any]) -> dict[str, Any]:
    """Apply ``--set`` values: ``key=v`` fixes a trainable config key (and stops searching it),
    or sets a top-level spec key (``num_samples``, ``time_budget_s``...); ``a.b=v`` sets
    spec key ``b`` inside ``a`` (``scheduler.max_t=5``)."""
    out = copy.deepcopy(dict(raw))
    for key, value in sets.items():
        if key in SET_BY_NAME:
            out[key] = value
        elif "." in key:
            *parents, leaf = key.split(".")
            node = out
            for part in parents:
                child = node.get(part)
                if child is None:
                    child = node[part] = {}
                if not isinstance(child, dict):
                    raise SpecError(f"--set {key}: {short(part)} is not a mapping in this spec")
                node = child
            node[leaf] = value
        else:
            config = out.get("config") or {}
            if not isinstance(config, dict):
                raise SpecError("config: must be a mapping")
            out["config"] = {**config, key: value}
            space = out.get("space")
            if isinstance(space, dict):
                out["space"] = {k: v for k, v in space.items() if k != key}
    return out


def load_raw(spec_or_path: Any) -> tuple[Any, str | None]:
    """Plain spec data from a mapping, a Spec, a YAML file or a preset name, and the name
    it was found under (the preset's or the file's stem)."""
    if isinstance(spec_or_path, Spec):
        return spec_or_path.to_dict(), None
    if isinstance(spec_or_path, Mapping):
        return dict(spec_or_path), None
    path = Path(str(spec_or_path))
    if path.is_file():
        return read_yaml(path), path.stem
    if str(spec_or_path) in presets.names():
        return presets.load(str(spec_or_path)), str(spec_or_path)
    raise SpecError(
        f"{spec_or_path!s:.100}: no such spec file or preset; presets: {', '.join(presets.names())}"
    )


def load_spec(
    spec_or_path: Any, sets: Mapping[str, Any] | None = None, num_samples: int | None = None
) -> Spec:
    """A Spec from a mapping, a YAML file or a preset name, with overrides applied."""
    raw, _ = load_raw(spec_or_path)
    return spec_from_raw(raw, sets, num_samples)


def spec_from_raw(raw: Any, sets: Mapping[str, Any] | None, num_samples: int | None) -> Spec:
    if not isinstance(raw, Mapping):
        raise SpecError(f"spec: must be a mapping, got {type(raw).__name__}")
    if "suite" in raw:
        raise SpecError("spec: this is a suite of studies; run it with study run / run_study")
    raw = apply_overrides(without_scratch(raw), sets or {})
    if num_samples is not None:
        raw["num_samples"] = num_samples
    config = raw.get("config")
    if isinstance(config, dict) and isinstance(config.get("data_root"), str):
        # Ray runs each trial in its own folder: a relative path would point elsewhere.
        config["data_root"] = str(Path(config["data_root"]).expanduser().resolve())
    try:
        return build_spec(raw)
    except SpecError as exc:
        for key in sets or {}:
            if str(exc).startswith(f"config.{key}:") and "has no config key" in str(exc):
                raise SpecError(
                    f"--set {key}: {str(exc).split(': ', 1)[1]}; --set also takes the spec "
                    f"keys {', '.join(SET_BY_NAME)} by name, and nested ones by path "
                    "(scheduler.max_t=5)"
                ) from None
        raise


# A suite file's keys; ``course: true`` also writes the course page (analysis/course.py).
SUITE_KEYS = ("suite", "name", "description", "course")


def suite_specs(
    raw: Mapping[str, Any], sets: Mapping[str, Any] | None, num_samples: int | None
) -> list[Spec]:
    """The studies of a suite, validated: each part is a spec, or ``{preset: NAME, ...}`` with
    spec keys that replace the preset's (``config`` is merged key by key)."""
    raw = without_scratch(raw)
    parts = raw.get("suite")
    unknown = [k for k in raw if k not in SUITE_KEYS]
    if unknown:
        raise SpecError(f"suite: unknown key {short(unknown[0])}; allowed: {', '.join(SUITE_KEYS)}")
    if not isinstance(raw.get("course", False), bool):
        raise SpecError(f"course: must be true or false, got {short(raw['course'])}")
    if not isinstance(parts, list) or not parts:
        raise SpecError("suite: must be a non-empty list of presets or specs")
    specs = []
    for i, part in enumerate(parts):
        if not isinstance(part, Mapping):
            raise SpecError(f"suite[{i}]: must be a mapping, got {short(part)}")
        if "preset" in part:
            if part["preset"] not in presets.names():
                raise SpecError(
                    f"suite[{i}].preset: unknown preset {short(part['preset'])}; "
                    f"allowed: {', '.join(presets.names())}"
                )
            base = presets.load(part["preset"])
            for key, value in part.items():  # spec keys over the preset's; config merges
                if key == "config" and isinstance(value, Mapping):
                    base["config"] = {**(base.get("config") or {}), **value}
                elif key != "preset":
                    base[key] = value
        else:
            base = dict(part)
        try:
            specs.append(spec_from_raw(base, sets, num_samples))
        except SpecError as exc:
            label = part.get("preset") or part.get("name") or ""
            raise SpecError(f"suite[{i}] ({str(label)[:60]}): {exc}") from None
    names = [s.name for s in specs]
    if len(set(names)) != len(names):
        raise SpecError(f"suite: study names must differ, got {names}")
    return specs
