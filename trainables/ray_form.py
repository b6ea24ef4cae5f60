"""Plain Ray Tune function trainables, run unchanged: ``def train_fn(config): ...
tune.report({...})``, as Ray's docs write them.

Every way of calling Ray Tune's report (``tune.report``, ``ray.tune.report``, ``from
ray.tune import report``) ends in ``get_session().report(metrics, checkpoint=...)``
(ray/tune/trainable/trainable_fn_utils.py, Ray 2.60). :func:`captured` takes that call
for a block:

- inside a Tune trial (``study run``), on the trial's own session object, so that the
  harness sees each report first and hands it on (study/trial/solo.py);
- outside Ray (``python -m trainables``), with a stand-in session, so that the function
  runs without Ray at all and ``tune.get_checkpoint()`` answers None.

This is the one module of trainables/ that touches Ray, and only when such a function
runs: the user's function imported Ray already.
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from .common import Metrics, Report
from .config import OPEN, parse_config
from .own import StopTraining, Watched

OnReport = Callable[[dict[str, Any], Any], None]  # (metrics, checkpoint or None)


class _StandIn:
    """What Ray's report and get_checkpoint read of a session, outside Ray."""

    world_rank = None  # a Tune session, not a Train worker's
    loaded_checkpoint = None
    trial_id = trial_name = experiment_name = "local"

    def __init__(self, on_report: OnReport) -> None:
        self.on_report = on_report

    def report(self, metrics: dict[str, Any], checkpoint: Any = None, **_: Any) -> None:
        self.on_report(metrics, checkpoint)


@contextlib.contextmanager
def captured(on_report: OnReport) -> Iterator[Any]:
    """For the block, Ray Tune's report calls ``on_report(metrics, checkpoint)``. Yields
    the trial session's own report (to hand results on to) inside a Tune trial, else
    None."""
    from ray.train._internal import session as ray_session

    live = ray_session.get_session()
    if live is None:
        stand_in = _StandIn(on_report)
        ray_session._session = stand_in  # type: ignore[assignment]
        try:
            yield None
        finally:
            if ray_session._session is stand_in:
                ray_session._session = None
        return
    original = live.report
    live.report = lambda metrics, checkpoint=None, **_: on_report(metrics, checkpoint)  # type: ignore[method-assign]
    try:
        yield original
    finally:
        vars(live).pop("report", None)


def run_captured(
    fn: Callable[[dict[str, Any]], Any], config: dict[str, Any], watched: Watched
) -> Metrics:
    """``fn(config)`` without Ray: each report goes to ``watched``; the last one sent."""
    with captured(lambda metrics, _checkpoint: watched(metrics)), contextlib.suppress(StopTraining):
        fn(config)
    return watched.final


def loaded_checkpoint() -> Any:
    """The checkpoint a Tune trial was restored from (None on a fresh start or outside Ray)."""
    from ray.train._internal import session as ray_session

    live = ray_session.get_session()
    return None if live is None else live.loaded_checkpoint


def ray_function(fn: Callable[..., Any], path: str) -> Any:
    """The TrainableInfo of a plain Ray Tune function ``fn(config)`` that calls
    ``ray.tune.report``: its config keys and metrics are not declared (OPEN), and run
    alone it is called with Ray's report captured (:func:`run_captured`)."""
    from .registry import TrainableInfo

    def run(config: Mapping[str, Any] | None = None, report: Report | None = None) -> Metrics:
        values: Any = parse_config(OPEN, config, path)
        return run_captured(fn, values, Watched(report))

    return TrainableInfo(
        path,
        run,
        OPEN,
        (),
        False,
        (inspect.getdoc(fn) or "").split("\n")[0] or "a plain Ray Tune function",
        kind="ray",
        raw=fn,
    )
