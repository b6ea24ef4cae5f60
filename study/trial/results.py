"""What a trial sends to Ray: each result with its objective and status, and the state
saved with it as a Ray checkpoint.

- every result carries ``objective``, the spec's metric, never nan: a diverged or
  invalid trial reports the spec's finite worst value instead, so Optuna's TPE
  learns where training blows up and ASHA never sees nan
  (ARCHITECTURE.md, "Facts": Ray's OptunaSearch drops nan results);
- ``status`` is ``running`` per epoch and ``diverged``, ``early_stopped``,
  ``invalid`` or ``completed`` on the last result; ``stopped`` (by the scheduler)
  and ``error`` are decided from Ray's side when the tables are written.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import trainables
from experiment_folder import COMPLETED, DIVERGED, EARLY_STOPPED, RUNNING
from study.specs.plan import TrialPlan, trial_index

log = logging.getLogger(__name__)


STATE_FILE = "state.pt"


class RayCheckpointer:
    """A trainables.Checkpointer on Ray Tune's checkpoints: the state saved after an epoch
    rides on that epoch's ``tune.report``, so a result and its state are never apart."""

    def __init__(self) -> None:
        self.pending: dict[str, Any] | None = None

    def restore(self) -> dict[str, Any] | None:
        import torch
        from ray import tune

        checkpoint = tune.get_checkpoint()
        if checkpoint is None:
            return None
        with checkpoint.as_directory() as folder:
            # weights_only: tensors and plain data, never arbitrary pickled objects.
            state: dict[str, Any] = torch.load(Path(folder) / STATE_FILE, weights_only=True)
        progress = state.get("progress") if isinstance(state, dict) else None
        epoch = progress.get("epoch", "?") if isinstance(progress, dict) else "?"
        log.info("trial restored from its checkpoint (after epoch %s)", epoch)
        return state

    def save(self, state: dict[str, Any]) -> None:
        self.pending = state


def index(trial_id: str, sampled: dict[str, Any]) -> int:
    """The trial's index in its study (plan.trial_index), -1 where unknown."""
    index = trial_index(trial_id, sampled)
    return -1 if index is None else index


def objective(plan: TrialPlan, metrics: dict[str, Any]) -> float:
    """The spec's metric as searchers see it: the spec's finite worst value where the
    trial diverged or the metric is missing or nan."""
    value = metrics.get(plan.metric)
    bad = metrics.get("diverged") or not isinstance(value, (int, float)) or value != value
    return plan.worst if bad else float(value)  # type: ignore[arg-type]


def epoch_status(metrics: dict[str, Any], epochs: int | None) -> str:
    """The status a result reports: the trainable's own ending, or running / completed."""
    if metrics.get("diverged"):
        return DIVERGED
    if metrics.get("stopped_early"):
        return EARLY_STOPPED
    if epochs is None or metrics.get("epoch", 0) >= epochs:
        return COMPLETED
    return RUNNING


class Outbox:
    """Where a trial's results go to Ray: at once, or (``hold``) one behind, so that the
    last result of a function that returned says "completed" rather than "running".
    A held result keeps the state saved with it (the trainable's, or the checkpoint a
    plain Ray function passed, copied, since its folder is the function's to delete)."""

    def __init__(self, checkpointer: RayCheckpointer | None, hold: bool) -> None:
        self.checkpointer = checkpointer
        self.hold = hold
        self.held: tuple[dict[str, Any], Any, str | None] | None = None
        self.send: Any = None  # a plain Ray function's trial session report (or tune.report)

    def put(self, result: dict[str, Any], ray_checkpoint: Any = None) -> None:
        if not self.hold:
            self._send(result, self._state(), ray_checkpoint)
            return
        self.flush()
        copied = None
        if ray_checkpoint is not None:
            copied = tempfile.mkdtemp(prefix="held-checkpoint-")
            ray_checkpoint.to_directory(copied)
        self.held = (result, self._state(), copied)
        if result.get("status") != RUNNING:  # diverged, early stopped: nothing follows
            self.flush()

    def _state(self) -> dict[str, Any] | None:
        if self.checkpointer is None:
            return None
        state, self.checkpointer.pending = self.checkpointer.pending, None
        return state

    def flush(self, last: str | None = None) -> None:
        if self.held is None:
            return
        result, state, copied = self.held
        self.held = None
        if last is not None and result.get("status") == RUNNING:
            result = {**result, "status": last}
        try:
            checkpoint = None
            if copied is not None:
                from ray import tune

                checkpoint = tune.Checkpoint.from_directory(copied)
            self._send(result, state, checkpoint)
        finally:
            if copied is not None:
                shutil.rmtree(copied, ignore_errors=True)

    def _send(self, result: dict[str, Any], state: Any, ray_checkpoint: Any) -> None:
        from ray import tune

        send = self.send or tune.report
        if state is None:
            send(result, checkpoint=ray_checkpoint)
            return
        import torch

        with tempfile.TemporaryDirectory() as folder:
            torch.save(state, os.path.join(folder, STATE_FILE))
            send(result, checkpoint=tune.Checkpoint.from_directory(folder))


def default_epochs(info: trainables.TrainableInfo) -> int | None:
    """The trainable's default ``epochs`` (None when it has no epochs, like loss_landscape)."""
    for row in trainables.config_help(info.name):
        if row["key"] == "epochs":
            return int(row["default"])
    return None
