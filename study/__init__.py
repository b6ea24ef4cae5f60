"""Ray Tune + Optuna studies over the trainables, from a YAML spec or a preset.

``run_study(spec_or_path, **overrides) -> Path`` runs one and returns its folder;
``resume_study(folder)`` continues an interrupted one. Errors derive from
:class:`StudyError` (spec problems are :class:`SpecError`).

The runner and its imports (pandas, Ray) load on first use, not with the package:
``study``'s command line starts in a blink, and a Ctrl-C during its start is caught
by the command, not printed as a traceback from an import.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from study.errors import ClusterError, Interrupted, NothingTrained, SpecError, StudyError

if TYPE_CHECKING:
    from study.run.resume import resume_study
    from study.run.start import run_study
    from study.specs.loading import load_spec
    from study.specs.spec import Spec

_LAZY = {
    "load_spec": ".specs.loading",
    "resume_study": ".run.resume",
    "run_study": ".run.start",
    "Spec": ".specs.spec",
}


def __getattr__(name: str) -> Any:
    """On first use, every lazy name is bound at once: importing a submodule binds its
    own name on the package (``load`` the module over ``load`` the function), so all
    submodules are imported before the names are set."""
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    modules = {m: importlib.import_module(m, __name__) for m in set(_LAZY.values())}
    for lazy, module in _LAZY.items():
        globals()[lazy] = getattr(modules[module], lazy)
    return globals()[name]


__all__ = [
    "ClusterError",
    "Interrupted",
    "NothingTrained",
    "Spec",
    "SpecError",
    "StudyError",
    "load_spec",
    "resume_study",
    "run_study",
]
