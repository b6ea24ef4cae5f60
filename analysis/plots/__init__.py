"""Then draw: each ``plot_*(data, ax=None) -> Axes`` takes what analysis/tables made.

- ``base``: the backend, new axes, the colours, literal text, empty figures;
- ``regression``: loss against lr, the brute force, the surface, the lr range test,
  the stability map;
- ``search``: learning curves, history, parallel coordinates, effects, importance;
- ``remedies``: paired differences, dose and response, the gap over epochs.

Every function is re-exported here: ``plots.plot_history(...)``.
"""

from __future__ import annotations

from .base import DIVERGED, STABLE, figure_of, has_data, literal_text, spans_decades
from .regression import (
    plot_brute_force,
    plot_lr_loss,
    plot_lr_range,
    plot_stability_map,
    plot_surface,
)
from .remedies import plot_differences, plot_dose_response, plot_gap_curves
from .search import (
    plot_effects,
    plot_history,
    plot_importance,
    plot_learning_curves,
    plot_parallel,
)

__all__ = [
    "DIVERGED",
    "STABLE",
    "figure_of",
    "has_data",
    "literal_text",
    "plot_brute_force",
    "plot_differences",
    "plot_dose_response",
    "plot_effects",
    "plot_gap_curves",
    "plot_history",
    "plot_importance",
    "plot_learning_curves",
    "plot_lr_loss",
    "plot_lr_range",
    "plot_parallel",
    "plot_stability_map",
    "plot_surface",
    "spans_decades",
]
