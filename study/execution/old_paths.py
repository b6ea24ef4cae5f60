"""The module paths of study/'s flat layout, for the folders it wrote (issue 33).

Ray pickles the harness's objects by their module path: the callbacks and the
stopper in ``tuner.pkl``, the searchers in ``searcher-state-*.pkl`` and
``search_gen_state-*.json``, the Optuna journal's lock with them. Until study/ was
grouped by stage (release 0.1.0, commit bb7c85b) those paths were ``study.<module>``;
a folder written then names them, and ``study resume`` must still find them. So
while Ray's state is read, each old module path stands for a module of its own that
looks a name up in the modules that took that module's contents, on first use.
Nothing is imported before a pickle asks for it.

Old paths that are packages now (study.storage, study.records, study.trial)
re-export what was pickled from them, so they need no stand-in.
tests/study/test_old_folders.py resumes folders written by the flat layout.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import Any

# Each old module -> the modules its contents went to, in the order they are asked.
MOVED: dict[str, tuple[str, ...]] = {
    "study.budget": ("study.execution.budget",),
    "study.cluster": ("study.execution.cluster",),
    "study.durability": ("study.execution.durability",),
    "study.folder_lock": ("study.storage.lock",),
    "study.group_search": ("study.search.fused",),
    "study.groups": (
        "study.search.fused",
        "study.search.rungs",
        "study.records.members",
        "study.specs.plan",
        "study.execution.progress",
        "experiment_folder",
    ),
    "study.ledger": ("study.records.ledger",),
    "study.loading": ("study.specs.loading",),
    "study.nodes": ("study.execution.nodes",),
    "study.optuna_search": ("study.search.optuna_search",),
    "study.optuna_storage": ("study.records.journal",),
    "study.plan": ("study.specs.plan",),
    "study.progress": ("study.execution.progress",),
    "study.runner": ("study.run.start", "study.run.resume", "study.run.one", "study.run.finish"),
    "study.searchers": ("study.search.registry",),
    "study.space": ("study.specs.space",),
    "study.spec": ("study.specs.spec", "study.specs.validate"),
    "study.suites": ("study.run.suites",),
    "study.trust": ("study.storage.trust",),
    "study.tuning": ("study.execution.tuner",),
    "study.variants": ("study.search.variants",),
}


class _OldModule(types.ModuleType):
    """An old module path: its names are found in the modules that hold them now."""

    def __init__(self, name: str, homes: tuple[str, ...]) -> None:
        super().__init__(name, f"study's flat layout: now in {', '.join(homes)}")
        self._homes = homes

    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("__"):
            raise AttributeError(attr)
        for home in self._homes:
            module = importlib.import_module(home)
            if hasattr(module, attr):
                return getattr(module, attr)
        raise AttributeError(f"{self.__name__}.{attr} was not kept when study/ was regrouped")


def install() -> None:
    """Make every old module path importable (what pickle's find_class does); a path
    something else already holds is left to it."""
    for old, homes in MOVED.items():
        sys.modules.setdefault(old, _OldModule(old, homes))
