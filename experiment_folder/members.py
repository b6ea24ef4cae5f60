"""A fused group's results and config: the members a group lists, the result each member
reported inside the group's, and whether a member has ended (study's fused groups,
ARCHITECTURE.md).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from experiment_folder.statuses import RUNNING

__all__ = [
    "MAX_MEMBERS_TEXT",
    "MEMBERS",
    "ended",
    "is_group",
    "listed_members",
    "member_results",
]

# A group's config lists its members under this key ([{"id", "params"}]); each of its
# results carries, as JSON text, the results its members reported in that epoch.
MEMBERS = "members"
MAX_MEMBERS_TEXT = 50_000_000  # a results line bigger than this is not one we wrote


def member_results(result: Mapping[str, Any] | None) -> dict[str, dict[str, Any]]:
    """A fused group's result: member id -> the result that member reported in it; {}
    for anything that is not a group result the harness wrote (a damaged line)."""
    text = (result or {}).get(MEMBERS)
    if not isinstance(text, str) or len(text) > MAX_MEMBERS_TEXT:
        return {}
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {str(k): v for k, v in data.items() if isinstance(v, dict)}


def listed_members(config: Mapping[str, Any] | None) -> dict[str, dict[str, Any]]:
    """A fused group's config: member id -> the params it was proposed with."""
    items = (config or {}).get(MEMBERS)
    if not isinstance(items, list):
        return {}
    return {
        str(m["id"]): dict(m["params"]) if isinstance(m.get("params"), dict) else {}
        for m in items
        if isinstance(m, dict) and "id" in m
    }


def is_group(result_or_config: Mapping[str, Any] | None) -> bool:
    return bool(result_or_config) and MEMBERS in result_or_config  # type: ignore[operator]


def ended(result: Mapping[str, Any]) -> bool:
    """Whether a member's result is its last (it is no longer running)."""
    return result.get("status") not in (RUNNING, None)
