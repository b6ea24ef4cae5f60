"""Ray Tune + Optuna studies over the trainables, from a YAML spec or a preset.

``run_study(spec_or_path, **overrides) -> Path`` runs one and returns its folder;
``resume_study(folder)`` continues an interrupted one. Errors derive from
:class:`StudyError` (spec problems are :class:`SpecError`).
"""

from __future__ import annotations

from .errors import ClusterError, Interrupted, SpecError, StudyError
from .loading import load_spec
from .runner import resume_study, run_study
from .spec import Spec

__all__ = [
    "ClusterError",
    "Interrupted",
    "Spec",
    "SpecError",
    "StudyError",
    "load_spec",
    "resume_study",
    "run_study",
]
