"""A spec, from what the user wrote to what every trial needs: the first stage.

- ``loading``: a mapping, a YAML file, a preset or a suite, with ``--set`` overrides;
- ``spec`` and ``validate``: the frozen :class:`Spec` and the validation that makes one;
- ``space``: search-space distributions -> Ray Tune domains;
- ``plan``: a Spec compiled into resources and a :class:`~study.specs.plan.TrialPlan`,
  the config and seed of each trial; ``presets``: the shipped specs.

No Ray here. May import: study.errors, experiment_folder, trainables (without torch).
"""

from study.specs.loading import load_spec
from study.specs.spec import (
    MAX_TRIALS,
    TOP_KEYS,
    Resources,
    Scheduler,
    Search,
    Spec,
)
from study.specs.validate import build_spec, check_gpu, check_name, parse_resources

__all__ = [
    "MAX_TRIALS",
    "TOP_KEYS",
    "Resources",
    "Scheduler",
    "Search",
    "Spec",
    "build_spec",
    "check_gpu",
    "check_name",
    "load_spec",
    "parse_resources",
]
