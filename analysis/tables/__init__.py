"""Compute first: every section of a report as DataFrames and plain data (tests check
these), before anything is drawn (analysis/plots) or written (analysis/report).

Each function takes an :class:`~analysis.load.Experiment` and returns what its figure
or table shows, or an empty frame / None when the experiment lacks the data for it
(the report then leaves the section out).

- ``overview``: the summary, the best and top trials, what could not train;
- ``effects``: each parameter's effect on the metric; ``stability``: where lr diverges;
- ``exact``: the regressions' exact answers; ``curves``: per-epoch and per-trial curves;
- ``fidelity``: like with like (one fidelity, repeat seeds, t intervals);
- ``importance``, ``remedies``, ``divergence_fit``: what cannot train and which
  parameter matters, remedies paired by seed, the networks' fitted divergence model.

The functions of the first five are re-exported here: ``tables.summary(exp)``.
"""

from __future__ import annotations

from .curves import (
    learning_curves,
    lr_range_curves,
    optimisation_history,
    parallel_coordinates,
    trial_order,
)
from .effects import CONV, EFFECT_BINS, conv_effects, dimension, param_effects
from .exact import (
    DATA_KEYS,
    EXACT,
    OVERFLOW_GROWTH,
    Surface,
    brute_force_curve,
    data_floor,
    loss_floor,
    loss_surface,
    stability_agreement,
    stable_intervals,
)
from .overview import (
    best_trial,
    column,
    infeasibility,
    invalid_trials,
    metric_values,
    summary,
    top_trials,
    varying,
)
from .stability import boundary, lr_points, stability_boundary, stability_map

__all__ = [
    "CONV",
    "DATA_KEYS",
    "EFFECT_BINS",
    "EXACT",
    "OVERFLOW_GROWTH",
    "Surface",
    "best_trial",
    "boundary",
    "brute_force_curve",
    "column",
    "conv_effects",
    "data_floor",
    "dimension",
    "infeasibility",
    "invalid_trials",
    "learning_curves",
    "loss_floor",
    "loss_surface",
    "lr_points",
    "lr_range_curves",
    "metric_values",
    "optimisation_history",
    "parallel_coordinates",
    "param_effects",
    "stability_agreement",
    "stability_boundary",
    "stability_map",
    "stable_intervals",
    "summary",
    "top_trials",
    "trial_order",
    "varying",
]
