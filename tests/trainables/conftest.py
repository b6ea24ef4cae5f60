from __future__ import annotations

from typing import Any

import pytest

Metrics = dict[str, Any]

# Small but real: enough examples that a few epochs visibly learn.
TINY = {"train_limit": 512, "eval_limit": 200, "epochs": 2, "batch_size": 32}


class Recorder(list):
    """A report callable that keeps a copy of every metrics dict it is given."""

    def __call__(self, metrics: Metrics) -> None:
        self.append(dict(metrics))


@pytest.fixture
def report() -> Recorder:
    return Recorder()


@pytest.fixture
def tiny() -> dict[str, Any]:
    return dict(TINY)


def _without_timing(metrics: Metrics) -> Metrics:
    """Drop wall-clock metrics, which differ between otherwise identical runs."""
    return {k: v for k, v in metrics.items() if k not in ("time_s", "samples_per_s")}


@pytest.fixture
def without_timing():
    return _without_timing
