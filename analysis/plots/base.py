"""What every figure shares: the non-interactive backend (Agg; nothing here calls
``plt.show()``), new axes, the colours of diverged and stable trials, literal text,
and whether a figure drew anything at all.
"""

from __future__ import annotations

from typing import Any

import matplotlib
import matplotlib.ticker

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure


def literal_text() -> Any:
    """A context in which labels are drawn literally: a '$' in a variant name is text,
    not mathtext (which fails on '$x' and would end the report). Figures are made in it."""
    return plt.rc_context({"text.parse_math": False})


DIVERGED = "#d62728"


STABLE = "#1f77b4"


def axes(ax: Axes | None, size: tuple[float, float] = (6.4, 4.2)) -> Axes:
    if ax is not None:
        return ax
    _, new = plt.subplots(figsize=size, layout="constrained")
    return new


def legend_below(ax: Axes) -> None:
    """The legend under the axes, where it hides no point (markers pinned to an edge)."""
    ax.legend(
        loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=3, fontsize="small", frameon=False
    )


def spans_decades(values: Any, ratio: float = 100.0) -> bool:
    """Whether positive values span more than ``ratio`` (two decades): a log axis then."""
    v = pd.to_numeric(pd.Series(values), errors="coerce").dropna()
    return bool(len(v)) and bool((v > 0).all()) and float(v.max() / v.min()) > ratio


def figure_of(drawn: Any) -> Figure:
    """The Figure of an Axes or Figure."""
    return drawn if isinstance(drawn, Figure) else drawn.figure


def has_data(fig: Figure) -> bool:
    """Whether any of the figure's axes draws something (a line, points, bars, an image)."""
    return any(ax.lines or ax.collections or ax.patches or ax.images for ax in fig.get_axes())
