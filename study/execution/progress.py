"""One line per finished trial and a live status line, instead of Ray Tune's tables.

On a terminal, a tqdm bar at the bottom updates in place: trials done / total,
running, counts by status, the best value so far, elapsed time and an estimate of
the time left; the per-trial lines scroll above it (tuner.py routes logging
through tqdm while a study runs). When output is not a terminal (CI, a log file),
the per-trial lines stay as they are and a summary line is logged every
``SUMMARY_EVERY`` trials or ``SUMMARY_SECONDS`` seconds.
"""

from __future__ import annotations

import contextlib
import logging
import math
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from ray import tune

from experiment_folder import (
    COMPLETED,
    DIVERGED,
    ERROR,
    ERROR_FILE,
    FAILED,
    RUNNING,
    SCORED,
    STOPPED,
    decode_params,
    ended,
    error_line,
    is_group,
    listed_members,
    member_results,
)
from study.search import epoch_budget
from study.specs import Spec

log = logging.getLogger("study.progress")

SUMMARY_EVERY = 10  # trials, when output is not a terminal
SUMMARY_SECONDS = 60.0


def _fmt(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def live() -> bool:
    """Whether the status line can update in place (stdout and stderr are terminals)."""
    return sys.stdout.isatty() and sys.stderr.isatty()


@contextlib.contextmanager
def routed_logging() -> Iterator[None]:
    """While a study runs on a terminal, log lines print above the status line."""
    if not live():
        yield
        return
    from tqdm.contrib.logging import logging_redirect_tqdm

    with logging_redirect_tqdm(loggers=[logging.getLogger()]):
        yield


def _duration(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "?"
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


class TrialLines(tune.Callback):
    """Logs ``trial <id> <status> <metric>=<value> <params>`` as each trial ends, and keeps
    the status line (or, off a terminal, the periodic summary) up to date."""

    def __init__(self, spec: Spec, live: bool | None = None) -> None:
        self.metric = spec.metric
        self.mode = spec.mode
        self.space = {name: dim.to_dict() for name, dim in spec.space.items()}
        self.variants = dict(spec.variants)
        self.params = list(spec.space) + (["variant"] if spec.variants else [])
        self.budget = spec.time_budget_s
        self.total = spec.trial_count()
        self.live = live
        self._reset()

    def _reset(self) -> None:
        self.done = 0
        # trial_id -> (objective, metric, epoch) at its best epoch so far: the value the
        # line, the summary and the report all show (experiment_folder.metric_values).
        self.best_epoch: dict[str, tuple[float, Any, Any]] = {}
        self.lined: set[str] = set()  # trials whose line was logged
        self.finished_before: set[str] = set()  # ended before this run (a resume)
        self.counts: Counter[str] = Counter()
        self.best: float | None = None
        self.bar: Any = None
        self.started = time.monotonic()
        self.done_at_start: int | None = None
        self.last_summary = (0, self.started)

    def __getstate__(self) -> dict[str, Any]:  # Ray pickles callbacks with the tuner
        return {**self.__dict__, "bar": None}

    def setup(
        self,
        stop: Any = None,
        num_samples: int | None = None,
        total_num_samples: int | None = None,
        **info: Any,
    ) -> None:
        self._reset()
        self.total = total_num_samples or self.total
        if self.live if self.live is not None else live():
            from tqdm import tqdm

            self.bar = tqdm(total=self.total, unit="trial", dynamic_ncols=True, file=sys.stderr)

    def on_experiment_end(self, trials: list[Any], **info: Any) -> None:
        # Trials ended with the experiment (the time budget ran out) get their line too;
        # those that had ended before a resume had theirs in the earlier run.
        for trial in trials if self.budget else []:
            if is_group(trial.config) and trial.status == "TERMINATED":
                self._close_group(trial, trials, STOPPED, "the time budget ran out")
            elif (
                trial.trial_id not in self.lined
                and trial.trial_id not in self.finished_before
                and trial.status == "TERMINATED"
            ):
                if trial.last_result:
                    self._line(trial, STOPPED, "the time budget ran out")
                else:
                    self._line(trial, STOPPED, "not started before the time budget ran out")
        if self.bar is not None:
            self.bar.close()
            self.bar = None
        else:
            self._summary(trials, ended=True)

    def on_trial_start(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        self._update(trials)

    def _finished(self, trials: list[Any]) -> int:
        """Trials ended so far: Ray's, or for a fused study the members lined."""
        if any(is_group(t.config) for t in trials):
            return len(self.lined)
        return sum(1 for t in trials if t.status in ("TERMINATED", "ERROR"))

    def _update(self, trials: list[Any]) -> None:
        finished = self._finished(trials)
        if self.done_at_start is None:  # a resumed study starts with finished trials
            self.done_at_start = finished - self.done
            self.finished_before = {
                t.trial_id for t in trials if t.status in ("TERMINATED", "ERROR")
            } - self.lined
            self._count_before(trials)
        if self.bar is not None:
            self.bar.update(finished - self.bar.n)
            self.bar.set_postfix_str(self.status(trials), refresh=True)
        else:
            self._summary(trials)

    def _count_before(self, trials: list[Any]) -> None:
        """A resumed study's counts include the trials that ended before the interrupt,
        by the status their last result (restored by Ray) gave. (A fused study's members
        are counted as their lines come.)"""
        for trial in trials:
            if trial.trial_id not in self.finished_before or is_group(trial.config):
                continue
            status = str((trial.last_result or {}).get("status") or COMPLETED)
            if trial.status == "ERROR":
                status = ERROR
            self.counts[STOPPED if status == RUNNING else status] += 1

    def status(self, trials: list[Any]) -> str:
        running = sum(1 for t in trials if t.status == "RUNNING")
        counts = ", ".join(f"{n} {k}" for k, n in sorted(self.counts.items()))
        best = f"best {self.metric}={_fmt(self.best)}" if self.best is not None else "no best yet"
        spent = epoch_budget.current()
        epochs = f"{spent.spent:,} of {spent.budget:,} trial-epochs; " if spent else ""
        return f"{running} running; {counts or 'none finished'}; {epochs}{best}"

    def _summary(self, trials: list[Any], ended: bool = False) -> None:
        """The periodic progress line off a terminal; at the study's end (``ended``),
        always, with nothing left (an epoch budget can end it before the total)."""
        finished = self._finished(trials)
        now = time.monotonic()
        last_done, last_time = self.last_summary
        due = finished - last_done >= SUMMARY_EVERY or now - last_time >= SUMMARY_SECONDS
        if not (ended or (due and finished > last_done)):
            return
        self.last_summary = (finished, now)
        elapsed = now - self.started
        new = finished - (self.done_at_start or 0)
        left = elapsed / new * max(self.total - finished, 0) if new > 0 else math.inf
        log.info(
            "progress: %d/%d trials done, %s; %s elapsed, about %s left",
            finished,
            self.total,
            self.status(trials),
            _duration(elapsed),
            _duration(left) if finished < self.total and not ended else "0s",
        )

    def on_trial_result(
        self, iteration: int, trials: list[Any], trial: Any, result: dict[str, Any], **info: Any
    ) -> None:
        if is_group(result):  # a fused group: its members' epochs, and their ends
            for mid, member in member_results(result).items():
                one = member_trial(trial, mid, member)
                self.on_trial_result(iteration, trials, one, member)
                if ended(member) and mid not in self.lined:
                    self._line(one, str(member.get("status")))
            self._update(trials)
            return
        objective = result.get("objective", result.get(self.metric))
        if not isinstance(objective, (int, float)) or result.get("status") == DIVERGED:
            return
        seen = self.best_epoch.get(trial.trial_id)
        if seen is None or (objective > seen[0] if self.mode == "max" else objective < seen[0]):
            self.best_epoch[trial.trial_id] = (
                float(objective),
                result.get(self.metric),
                result.get("epoch"),
            )

    def _shown(self, trial: Any, status: str) -> tuple[Any, str]:
        """The trial's value at its best epoch and how the line shows it (with the final
        value when that differs)."""
        result = trial.last_result or {}
        if result:  # the last result is an epoch too (and may be the only one seen)
            self.on_trial_result(0, [], trial, result)
        final, final_epoch = result.get(self.metric), result.get("epoch", "-")
        best = self.best_epoch.get(trial.trial_id)
        if status in (*FAILED, ERROR) or best is None:
            text = f"{self.metric}={_fmt(final)}" if final is not None else f"{self.metric}=-"
            return None, f"{text} epoch={final_epoch}"
        _, value, epoch = best
        text = f"{self.metric}={_fmt(value)} at epoch {epoch}"
        if epoch != final_epoch:
            text += f" (final {_fmt(final)} at epoch {final_epoch})"
        return value, text

    def _line(self, trial: Any, status: str, extra: str = "") -> None:
        self.lined.add(trial.trial_id)
        self.done += 1
        self.counts[status] += 1
        result = trial.last_result or {}
        value, shown = self._shown(trial, status)
        config = decode_params(self.space, self.variants, trial.config)
        params = " ".join(f"{k}={_fmt(config[k])}" for k in self.params if k in config)
        extra = extra or result.get("reason") or result.get("divergence") or ""
        if status in SCORED and isinstance(value, (int, float)):
            better = self.best is None or (
                value > self.best if self.mode == "max" else value < self.best
            )
            if better and math.isfinite(value):
                self.best = float(value)
        log.info(
            "trial %s %-13s %s %s%s",
            trial.trial_id,
            status,
            shown,
            params,
            f"  ({extra})" if extra else "",
        )

    def on_trial_complete(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        if is_group(trial.config):
            self._close_group(trial, trials, STOPPED)
            return
        status = (trial.last_result or {}).get("status", COMPLETED)
        self._line(trial, STOPPED if status == RUNNING else status)
        self._update(trials)

    def on_trial_error(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        if is_group(trial.config):
            self._close_group(trial, trials, ERROR, _last_error_line(trial))
            return
        self._line(trial, ERROR, _last_error_line(trial))
        self._update(trials)

    def _close_group(self, trial: Any, trials: list[Any], status: str, extra: str = "") -> None:
        """A fused group's Ray trial ended: a line for each member that had none (its
        last result is the group's, when Ray sent that here rather than as a result)."""
        last = member_results(trial.last_result)
        for mid in listed_members(trial.config):
            if mid in self.lined:
                continue
            member = last.get(mid, {})
            one = member_trial(trial, mid, member)
            if ended(member) and status != ERROR:
                self._line(one, str(member.get("status")))
            else:
                self._line(one, status, extra)
        self._update(trials)


def member_trial(group_trial: Any, mid: str, result: dict[str, Any]) -> Any:
    """A member as the callbacks see a Ray trial: its id, its last result, its params,
    its group's folder."""
    params = listed_members(group_trial.config).get(mid, {})
    return SimpleNamespace(
        trial_id=mid,
        last_result=result,
        config=params,
        path=group_trial.path,
        local_path=getattr(group_trial, "local_path", None),
        local_experiment_path=getattr(group_trial, "local_experiment_path", None),
        status="TERMINATED",
    )


def _last_error_line(trial: Any) -> str:
    """The 'Type: message' line of the trial's traceback (Ray keeps it in error.txt)."""
    try:
        text = Path(trial.local_path, ERROR_FILE).read_text(encoding="utf-8", errors="replace")
    except (OSError, TypeError):
        return "see error.txt in the trial folder"
    return error_line(text, limit=200)
