"""The function Ray Tune runs for each trial: a thin adapter around a plain trainable.

It is the only place where a trainable meets Ray. It builds the trial's config
(plan.py: fixed values, the named variant, the sampled values, a per-trial seed,
the device Ray assigned), runs the trainable with a ``report`` that forwards each
epoch to ``tune.report`` and a checkpointer backed by Ray's checkpoints, and
translates what happened into a status:

- the first result of each run carries the config the trial runs with
  (``trial_config``, as JSON text), which the tables read back;
- every result carries ``objective``, the spec's metric, never nan: a diverged or
  invalid trial reports the spec's finite worst value instead, so Optuna's TPE
  learns where training blows up and ASHA never sees nan
  (ARCHITECTURE.md, "Facts": Ray's OptunaSearch drops nan results);
- ``status`` is ``running`` per epoch and ``diverged``, ``early_stopped``,
  ``invalid`` or ``completed`` on the last result; ``stopped`` (by the scheduler)
  and ``error`` are decided from Ray's side when the tables are written.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

import trainables
from experiment_folder import RUNNING, TRIAL_CONFIG

from .plan import TrialPlan, trial_config

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
        log.info("trial restored from its checkpoint after epoch %s", state["progress"]["epoch"])
        return state

    def save(self, state: dict[str, Any]) -> None:
        self.pending = state


def epoch_status(metrics: dict[str, Any], epochs: int | None) -> str:
    """The status a result reports: the trainable's own ending, or running / completed."""
    if metrics.get("diverged"):
        return "diverged"
    if metrics.get("stopped_early"):
        return "early_stopped"
    if epochs is None or metrics.get("epoch", 0) >= epochs:
        return "completed"
    return RUNNING


def run_trial(config: dict[str, Any], plan: TrialPlan) -> None:
    """Ray Tune's function trainable for one trial (``tune.with_parameters(run_trial, plan)``)."""
    import torch
    from ray import tune

    trial_id = tune.get_context().get_trial_id() or ""
    torch.set_num_threads(max(1, int(plan.cpus)))
    full = trial_config(plan, config, trial_id)
    info = trainables.get(plan.trainable)
    checkpointer = RayCheckpointer() if plan.checkpoint and info.checkpoints else None
    epochs = full.get("epochs") or _default_epochs(info)
    # The config as run, sent once per run of the trial (not with every epoch).
    # Defaults included: trials.csv's config/ columns list every key as the trial ran it.
    defaults = {row["key"]: row["default"] for row in trainables.config_help(plan.trainable)}
    ran_with = {TRIAL_CONFIG: json.dumps({**defaults, **full}, default=str)}

    def report(metrics: dict[str, Any]) -> None:
        status = epoch_status(metrics, epochs)
        value = metrics.get(plan.metric)
        bad = status == "diverged" or not isinstance(value, (int, float)) or value != value
        result = {
            **metrics,
            "objective": plan.worst if bad else float(value),  # type: ignore[arg-type]
            "status": status,
            "trial_seed": full.get("seed", -1),
            **ran_with,
        }
        ran_with.clear()
        if checkpointer is not None and checkpointer.pending is not None:
            with tempfile.TemporaryDirectory() as folder:
                torch.save(checkpointer.pending, os.path.join(folder, STATE_FILE))
                checkpointer.pending = None
                tune.report(result, checkpoint=tune.Checkpoint.from_directory(folder))
        else:
            tune.report(result)

    try:
        if checkpointer is not None:
            info.fn(full, report, checkpoint=checkpointer)
        else:
            info.fn(full, report)
    except trainables.InvalidConfig as exc:
        # Costs no training; the searcher is told the trial failed (see searchers.py).
        tune.report(
            {
                "objective": plan.worst,
                "status": "invalid",
                "reason": str(exc),
                "epoch": 0,
                "diverged": False,
                "trial_seed": full.get("seed", -1),
                **ran_with,
            }
        )
        return


def _default_epochs(info: trainables.TrainableInfo) -> int | None:
    """The trainable's default ``epochs`` (None when it has no epochs, like loss_landscape)."""
    for row in trainables.config_help(info.name):
        if row["key"] == "epochs":
            return int(row["default"])
    return None
