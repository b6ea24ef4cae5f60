"""What each metric is, declared once, where a trainable is registered.

A :class:`Metric` says whether higher or lower is better (``goal``), whether a
study may optimise it (``objective``), whether ``trials.csv`` keeps its value at
the best epoch (``best``) and the range it lives in (``bounds``, which gives a
failed trial its worst value). Spec validation, the default ``mode``, the worst
value, the tables and the analysis all read these facts from the registry.
"""

from __future__ import annotations

from dataclasses import dataclass

MAX, MIN = "max", "min"


@dataclass(frozen=True)
class Metric:
    """One metric a trainable reports.

    ``goal``: ``"max"`` or ``"min"`` when one direction is better, None when neither
    is (a weight, a learning rate): a study of such a metric must say its ``mode``.
    """

    name: str
    goal: str | None = None
    objective: bool = True
    best: bool = True
    bounds: tuple[float, float] | None = None

    def __post_init__(self) -> None:
        if self.goal not in (MAX, MIN, None):
            raise ValueError(f"Metric {self.name!r}: goal must be 'max', 'min' or None")


def bookkeeping(name: str) -> Metric:
    """A reported value that is not a measure of quality: never optimised, no best/ column."""
    return Metric(name, None, objective=False, best=False)


def accuracy(name: str) -> Metric:
    return Metric(name, MAX, bounds=(0.0, 1.0))


def lower_better(name: str) -> Metric:
    return Metric(name, MIN)


def quantity(name: str) -> Metric:
    """A quantity with no better direction (a weight): may be a study metric with a mode."""
    return Metric(name, None)


# Every trainable reports these three (trainables/__init__.py's contract).
BASE_METRICS = (bookkeeping("epoch"), lower_better("loss"), bookkeeping("diverged"))

MNIST_METRICS = (
    accuracy("train_acc"),
    lower_better("val_loss"),
    accuracy("val_acc"),
    accuracy("test_acc"),
    lower_better("gap"),  # train_acc - val_acc: the generalisation gap
    Metric("lr", None, objective=False),  # the learning rate after decay, per epoch
    bookkeeping("time_s"),
    bookkeeping("samples_per_s"),
    Metric("best_epoch", None, objective=False),
    accuracy("best_val_acc"),
    accuracy("best_test_acc"),
    bookkeeping("stopped_early"),
)


LR_RANGE_METRICS = (
    lower_better("smoothed_loss"),  # the debiased exponential average of the batch loss
    Metric("lr", None, objective=False),
    Metric("diverged_lr", None, best=False),  # where the smoothed loss blew up
    Metric("suggested_lr", None, best=False),  # the steepest descent of the smoothed loss
    bookkeeping("stopped_early"),  # the test ended at the blow-up, as it should
)


def as_metric(item: Metric | str) -> Metric:
    """A plugin may list plain names: each becomes a metric with no declared direction."""
    return item if isinstance(item, Metric) else Metric(str(item))
