"""One terminal line per finished trial, instead of Ray Tune's progress tables."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from ray import tune

from . import ledger
from .space import decode
from .spec import Spec

log = logging.getLogger("study.progress")


def _fmt(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


class TrialLines(tune.Callback):
    """Logs ``trial <id> <status> <metric>=<value> <params>`` as each trial ends, and keeps
    the records that let ``study resume`` survive a SIGKILL (ledger.py)."""

    def __init__(self, spec: Spec) -> None:
        self.metric = spec.metric
        self.space = dict(spec.space)
        self.params = list(spec.space) + (["variant"] if spec.variants else [])
        self.done = 0
        self.backup = ledger.StateBackup()

    def on_step_end(self, iteration: int, trials: list[Any], **info: Any) -> None:
        """Ray saves its experiment state within a step: back up what it saved."""
        if trials:
            trial = trials[0]
            self.backup.after_step(Path(trial.local_experiment_path), Path(trial.path).parent)

    def _line(self, trial: Any, status: str, extra: str = "") -> None:
        self.done += 1
        result = trial.last_result or {}
        value = result.get(self.metric)
        shown = f"{self.metric}={_fmt(value)}" if value is not None else f"{self.metric}=-"
        config = decode(self.space, trial.config)
        params = " ".join(f"{k}={_fmt(config[k])}" for k in self.params if k in config)
        extra = extra or result.get("reason") or result.get("divergence") or ""
        log.info(
            "trial %s %-13s %s epoch=%s %s%s",
            trial.trial_id,
            status,
            shown,
            result.get("epoch", "-"),
            params,
            f"  ({extra})" if extra else "",
        )

    def on_trial_complete(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        _record(trial, "TERMINATED")  # durable before it is shown
        status = (trial.last_result or {}).get("status", "completed")
        self._line(trial, "stopped" if status == "running" else status)

    def on_trial_error(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        _record(trial, "ERROR")
        self._line(trial, "error", _last_error_line(trial))


def _record(trial: Any, ray_status: str) -> None:
    result = {k: v for k, v in (trial.last_result or {}).items() if k != "config"}
    ledger.record(Path(trial.path).parent, trial.trial_id, ray_status, result)


def _last_error_line(trial: Any) -> str:
    """The 'Type: message' line of the trial's traceback (Ray keeps it in error.txt)."""
    try:
        text = Path(trial.local_path, "error.txt").read_text(encoding="utf-8", errors="replace")
    except (OSError, TypeError):
        return "see error.txt in the trial folder"
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1][:200] if lines else ""
