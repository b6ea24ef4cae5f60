"""What every trainable shares: the report callable, divergence rules and checkpoint hooks."""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Mapping
from typing import Any, Protocol

Metrics = dict[str, Any]
Report = Callable[[Metrics], None]

# A loss above this counts as diverged even while it is still finite. Squared
# errors grow geometrically once SGD overshoots, and float32 overflows to inf at
# about 3.4e38; by 1e20 no run in this project has ever come back, so stopping
# here saves the epochs between "hopeless" and "inf" and keeps the last values
# representable in every table and plot.
OVERFLOW_LOSS = 1e20


def is_bad(*values: float) -> bool:
    """True when any value is nan/inf, or (for the first value, the loss) above OVERFLOW_LOSS."""
    if not values:
        return False
    if not all(math.isfinite(v) for v in values):
        return True
    return abs(values[0]) > OVERFLOW_LOSS


def emit(report: Report | None, metrics: Metrics) -> Metrics:
    """Send one epoch's metrics to ``report`` (if any) and return them."""
    if report is not None:
        report(metrics)
    return metrics


def diverged(
    report: Report | None, epoch: int, last_finite: Mapping[str, Any], reason: str
) -> Metrics:
    """Report the divergence once: the epoch it happened in and the last finite values seen."""
    metrics = {**last_finite, "epoch": epoch, "diverged": True, "divergence": reason}
    return emit(report, metrics)


class Checkpointer(Protocol):
    """Where a trainable keeps its state between epochs (the study layer backs it with Ray).

    ``restore`` returns the state last saved, or None on a fresh start; ``save`` is
    called after each epoch, before that epoch is reported.
    """

    def restore(self) -> dict[str, Any] | None: ...

    def save(self, state: dict[str, Any]) -> None: ...


class MemoryCheckpointer:
    """A Checkpointer that keeps the last state in memory (tests, notebooks)."""

    def __init__(self, state: dict[str, Any] | None = None) -> None:
        self.state = state
        self.saves = 0

    def restore(self) -> dict[str, Any] | None:
        return self.state

    def save(self, state: dict[str, Any]) -> None:
        # Deep copy: a state dict holds the live tensors that the next epoch changes.
        self.state = copy.deepcopy(state)
        self.saves += 1
