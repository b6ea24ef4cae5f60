"""Your own trainables: the ``@trainable`` decorator, and what the harness does with the
reports of a function it did not write.

A decorated function takes a plain dict (its defaults filled in, validated as a built-in
config is) and calls ``report`` with whatever it measured. The harness counts ``epoch``
where a report has none, decides ``diverged`` (a non-finite loss or metric, or a loss
above OVERFLOW_LOSS, as for the built-ins) and then ends the function, so a user's loop
needs no bookkeeping of its own (README, "Your own trainables"). Plain Ray Tune
functions get the same rules (ray_form.py).
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from .common import OVERFLOW_LOSS, Checkpointer, Metrics, Report, diverged, emit
from .config import InvalidConfig, config_class, parse_config, settings, short
from .metrics import Metric, as_metric

INFO = "__trainable__"  # the attribute a decorated function carries its TrainableInfo in


class StopTraining(BaseException):
    """Raised by :class:`Watched` once a report diverged, to end the user's function.
    A BaseException, so that the function's own ``except Exception`` lets it through."""


def _number(value: Any) -> Any:
    """A reported value as a plain number where it is one (a 0-d tensor or numpy scalar
    becomes a float or int); anything else as it is."""
    item = getattr(value, "item", None)
    if callable(item) and not isinstance(value, (str, bytes)):
        try:
            return item()
        except (ValueError, RuntimeError, TypeError):  # not a single number
            return value
    return value


def _bad(value: Any, is_loss: bool) -> bool:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return False
    return not math.isfinite(value) or (is_loss and abs(value) > OVERFLOW_LOSS)


class Watched:
    """The ``report`` a user's function is given: each call's metrics, with ``epoch``
    counted where missing (from ``start``) and ``diverged`` decided, go to ``report``.
    A non-finite ``loss`` or watched metric, or a loss above OVERFLOW_LOSS, is reported
    once as a divergence (the last finite values, ``diverged: True``, the reason), and
    then :class:`StopTraining` ends the function. ``final`` is the last report sent."""

    def __init__(self, report: Report | None, watch: Sequence[str] = (), start: int = 0) -> None:
        self.report = report
        self.watch = ("loss", *(w for w in watch if w != "loss"))
        self.count = start
        self.last: Metrics = {}
        self.final: Metrics = {}
        self.calls = 0

    def next_epoch(self, metrics: Mapping[str, Any]) -> int:
        """The epoch the report ``metrics`` is (its own, or the next count)."""
        epoch = _number(metrics.get("epoch")) if isinstance(metrics, Mapping) else None
        is_number = isinstance(epoch, (int, float)) and not isinstance(epoch, bool)
        return int(epoch) if is_number and math.isfinite(epoch) else self.count + 1

    def __call__(self, metrics: Mapping[str, Any]) -> None:
        if not isinstance(metrics, Mapping):
            raise InvalidConfig(
                f"report() takes a dict of metric names to values, got {type(metrics).__name__}"
            )
        out = {str(k): _number(v) for k, v in metrics.items()}
        self.calls += 1
        self.count = out["epoch"] = self.next_epoch(out)
        bad = [k for k in self.watch if k in out and _bad(out[k], k == "loss")]
        if bad or out.get("diverged") is True:
            why = (
                f"{bad[0]} = {short(out[bad[0]])} (not finite, or a loss above 1e20)"
                if bad
                else "the function reported diverged: True"
            )
            self.final = diverged(self.report, out["epoch"], self.last, why)
            raise StopTraining
        out.setdefault("diverged", False)
        self.last = {k: v for k, v in out.items() if k not in ("epoch", "diverged")}
        self.final = emit(self.report, out)


def _takes(fn: Callable[..., Any], name: str) -> bool:
    try:
        return name in inspect.signature(fn).parameters
    except (TypeError, ValueError):  # a builtin without a signature
        return False


def as_metrics(metrics: Mapping[str, str | None] | Sequence[Metric | str]) -> tuple[Metric, ...]:
    """``{"val_acc": "max"}`` or ``[Metric(...), "name"]`` as Metric facts."""
    if isinstance(metrics, Mapping):
        out = []
        for name, goal in metrics.items():
            try:
                out.append(Metric(str(name), goal))
            except ValueError as exc:
                raise InvalidConfig(str(exc)) from None
        return tuple(out)
    if isinstance(metrics, str):
        return (as_metric(metrics),)
    return tuple(as_metric(m) for m in metrics)


def trainable(
    fn: Callable[..., Any] | None = None,
    *,
    metrics: Mapping[str, str | None] | Sequence[Metric | str] = (),
    config: Mapping[str, Any] | type | None = None,
    summary: str = "",
    name: str | None = None,
) -> Any:
    """Make ``fn(config, report)`` a trainable the harness can run and search.

    ``metrics``: what it reports besides ``loss``, as ``{"val_acc": "max"}`` (a goal of
    "max", "min" or None) or Metric objects. ``config``: a dict of defaults (a key's type
    is its default's; :func:`trainables.config.param` adds a range and a doc), and ``fn``
    gets a dict; or a frozen config dataclass, and ``fn`` gets its instance. ``fn`` may
    leave out ``report`` and return its metrics instead, and may take ``checkpoint`` (a
    Checkpointer) to resume. The result is ``fn`` made into the
    harness's contract, ``f(config=None, report=None, checkpoint=None) -> dict``, and is
    named in a spec as ``module:function`` (or by its name, once its module is
    imported)."""
    if fn is None:
        return functools.partial(
            trainable, metrics=metrics, config=config, summary=summary, name=name
        )
    from .registry import TrainableInfo, register_own

    label: str = name or str(getattr(fn, "__name__", "trainable"))
    facts = as_metrics(metrics)
    typed = isinstance(config, type)
    if typed and not dataclasses.is_dataclass(config):
        raise InvalidConfig(f"{label}: config= takes a dict of defaults or a dataclass")
    cls = config if isinstance(config, type) else config_class(dict(config or {}), label)
    takes_report, takes_checkpoint = _takes(fn, "report"), _takes(fn, "checkpoint")
    watch = tuple(m.name for m in facts)

    @functools.wraps(fn)
    def run(
        config: Mapping[str, Any] | None = None,
        report: Report | None = None,
        checkpoint: Checkpointer | None = None,
    ) -> Metrics:
        parsed: Any = parse_config(cls, config, label)
        # A dict of defaults gives a dict; a config dataclass gives its instance.
        values = parsed if typed else settings(parsed)
        watched = Watched(report, watch)
        kwargs: dict[str, Any] = {}
        if takes_report:
            kwargs["report"] = watched
        if takes_checkpoint:
            kwargs["checkpoint"] = checkpoint
        try:
            returned = fn(values, **kwargs)
            if watched.calls == 0 and isinstance(returned, Mapping):
                watched(returned)  # a function that returns its metrics reports them once
        except StopTraining:
            pass
        return watched.final

    info = TrainableInfo(
        label,
        run,
        cls,
        facts,
        takes_checkpoint,
        summary or (inspect.getdoc(fn) or "").split("\n")[0] or f"{label} (your own)",
    )
    setattr(run, INFO, info)
    register_own(info, fn)
    return run
