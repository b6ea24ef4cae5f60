"""The function Ray Tune runs for each trial: a thin adapter around a plain trainable.

It builds the trial's config (study/specs/plan.py: fixed values, the named variant,
the sampled values, a per-trial seed, the device Ray assigned), runs the trainable
with a ``report`` that forwards each epoch to Ray and a checkpointer backed by Ray's
checkpoints, and translates what happened into a status (results.py). The first
result of each run carries the config the trial runs with (``trial_config``, as
JSON text), which the tables read back.
"""

from __future__ import annotations

import contextlib
import json
import logging
from pathlib import Path
from typing import Any

import trainables
from experiment_folder import (
    COMPLETED,
    INVALID,
    RUNNING,
    TRIAL_CONFIG,
    TRIAL_INDEX,
)
from study.specs.plan import TrialPlan, trial_config
from study.trial.results import (
    Outbox,
    RayCheckpointer,
    default_epochs,
    epoch_status,
    index,
    objective,
)
from trainables.own import INFO

log = logging.getLogger(__name__)


def run_trial(config: dict[str, Any], plan: TrialPlan) -> None:
    """Ray Tune's function trainable for one trial (``tune.with_parameters(run_trial, plan)``)."""
    import torch
    from ray import tune

    trial_id = tune.get_context().get_trial_id() or ""
    torch.set_num_threads(max(1, int(plan.cpus)))
    full = trial_config(plan, config, trial_id)
    info = trainables.get(plan.trainable)
    checkpointer = RayCheckpointer() if plan.checkpoint and info.checkpoints else None
    epochs = full.get("epochs") or default_epochs(info)
    # The config as run, sent once per run of the trial (not with every epoch).
    # Defaults included: trials.csv's config/ columns list every key as the trial ran it.
    defaults = {row["key"]: row["default"] for row in trainables.config_help(plan.trainable)}
    ran_with = {TRIAL_CONFIG: json.dumps({**defaults, **full}, default=str)}
    seed = {"trial_seed": full.get("seed", -1), TRIAL_INDEX: index(trial_id, config)}
    # A function the harness did not write may end before its config's epochs, or have
    # none: its results go one behind, so that the last can say "completed" (Outbox).
    own = info.kind == "ray" or getattr(info.fn, INFO, None) is not None
    outbox = Outbox(checkpointer, hold=own or epochs is None)

    def report(metrics: dict[str, Any], ray_checkpoint: Any = None) -> None:
        status = epoch_status(metrics, None if outbox.hold else epochs)
        if outbox.hold and status == COMPLETED:
            status = RUNNING  # until the function returns
        result = {**metrics, "objective": objective(plan, metrics), "status": status, **seed}
        outbox.put({**result, **ran_with}, ray_checkpoint)
        ran_with.clear()

    try:
        if info.kind == "ray":
            _run_ray_function(info, full, plan, report, outbox)
        elif checkpointer is not None:
            info.fn(full, report, checkpoint=checkpointer)
        else:
            info.fn(full, report)
    except trainables.InvalidConfig as exc:
        # Costs no training; the searcher is told the trial failed (study/search/optuna_search.py).
        outbox.flush()
        tune.report(
            {
                "objective": plan.worst,
                "status": INVALID,
                "reason": str(exc),
                "epoch": 0,
                "diverged": False,
                **seed,
                **ran_with,
            }
        )
        return
    except Exception:
        # The trial fails (Ray records the error), but the epoch it reported last, held
        # back, is not lost with it.
        with contextlib.suppress(Exception):
            outbox.flush()
        raise
    outbox.flush(last=COMPLETED)


EPOCH_FILE = ".study_harness_epoch"  # in a plain Ray function's checkpoint: its epoch count


def _run_ray_function(
    info: trainables.TrainableInfo,
    full: dict[str, Any],
    plan: TrialPlan,
    report: Any,
    outbox: Outbox,
) -> None:
    """A plain Ray Tune function, unchanged (trainables/ray_form.py): each ray.tune.report
    it makes passes the harness's rules (trainables.own.Watched: epoch counted, divergence
    decided on loss and the spec's metric) and goes on, with its checkpoint, through the
    trial's own session. The epoch count rides in the checkpoint, so a resumed trial
    counts on."""
    from trainables.own import StopTraining, Watched
    from trainables.ray_form import captured, loaded_checkpoint

    start = 0
    restored = loaded_checkpoint()
    if restored is not None:
        with restored.as_directory() as folder:
            marker = Path(folder) / EPOCH_FILE
            if marker.is_file():
                start = int(marker.read_text().strip() or 0)
    pending: list[Any] = [None]  # the checkpoint of the report Watched is passing on

    def forward(metrics: dict[str, Any]) -> None:
        checkpoint, pending[0] = pending[0], None
        report(metrics, checkpoint)

    watched = Watched(forward, watch=(plan.metric,), start=start)

    def on_report(metrics: dict[str, Any], checkpoint: Any) -> None:
        if checkpoint is not None:
            with checkpoint.as_directory() as folder:  # the function's own folder
                Path(folder, EPOCH_FILE).write_text(str(watched.next_epoch(metrics)))
        pending[0] = checkpoint
        watched(metrics)

    with captured(on_report) as original:
        outbox.send = original
        try:
            assert info.raw is not None
            info.raw(full)
        except StopTraining:
            pass
