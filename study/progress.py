"""One terminal line per finished trial, instead of Ray Tune's progress tables."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from ray import tune

from experiment_folder import ERROR_FILE, RUNNING, decode_params, error_line

from .spec import Spec

log = logging.getLogger("study.progress")


def _fmt(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


class TrialLines(tune.Callback):
    """Logs ``trial <id> <status> <metric>=<value> <params>`` as each trial ends."""

    def __init__(self, spec: Spec) -> None:
        self.metric = spec.metric
        self.space = {name: dim.to_dict() for name, dim in spec.space.items()}
        self.variants = dict(spec.variants)
        self.params = list(spec.space) + (["variant"] if spec.variants else [])
        self.done = 0

    def _line(self, trial: Any, status: str, extra: str = "") -> None:
        self.done += 1
        result = trial.last_result or {}
        value = result.get(self.metric)
        shown = f"{self.metric}={_fmt(value)}" if value is not None else f"{self.metric}=-"
        config = decode_params(self.space, self.variants, trial.config)
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
        status = (trial.last_result or {}).get("status", "completed")
        self._line(trial, "stopped" if status == RUNNING else status)

    def on_trial_error(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        self._line(trial, "error", _last_error_line(trial))


def _last_error_line(trial: Any) -> str:
    """The 'Type: message' line of the trial's traceback (Ray keeps it in error.txt)."""
    try:
        text = Path(trial.local_path, ERROR_FILE).read_text(encoding="utf-8", errors="replace")
    except (OSError, TypeError):
        return "see error.txt in the trial folder"
    return error_line(text, limit=200)
