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
from trainables.config import parse_config

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


def _report(result: dict[str, Any], checkpointer: RayCheckpointer | None) -> None:
    """tune.report, with the state the trainable saved since the last report (if any)."""
    import torch
    from ray import tune

    if checkpointer is None or checkpointer.pending is None:
        tune.report(result)
        return
    with tempfile.TemporaryDirectory() as folder:
        torch.save(checkpointer.pending, os.path.join(folder, STATE_FILE))
        checkpointer.pending = None
        tune.report(result, checkpoint=tune.Checkpoint.from_directory(folder))


def _objective(plan: TrialPlan, metrics: dict[str, Any]) -> float:
    """The spec's metric as searchers see it: the spec's finite worst value where the
    trial diverged or the metric is missing or nan."""
    value = metrics.get(plan.metric)
    bad = metrics.get("diverged") or not isinstance(value, (int, float)) or value != value
    return plan.worst if bad else float(value)  # type: ignore[arg-type]


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
        result = {
            **metrics,
            "objective": _objective(plan, metrics),
            "status": status,
            "trial_seed": full.get("seed", -1),
            **ran_with,
        }
        ran_with.clear()
        _report(result, checkpointer)

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


def run_group(config: dict[str, Any], plan: TrialPlan) -> None:
    """Ray Tune's function trainable for a fused group (groups.py): the members listed in
    ``config`` trained together by the trainable's fused path. Each tune.report carries
    the results the members reported in that epoch under groups.MEMBERS, each with its
    own objective, status and (first time) the config it ran with."""
    import torch

    from .groups import MEMBERS, Rungs, group_cpus

    cpus = group_cpus(len(config[MEMBERS]), plan.cpus, plan.cluster_cpus)
    torch.set_num_threads(max(1, int(cpus if not plan.use_gpu else plan.cpus)))
    info = trainables.get(plan.trainable)
    assert info.group is not None  # spec.py allows fuse > 1 only for such trainables
    members = [(str(m["id"]), dict(m["params"])) for m in config[MEMBERS]]
    fulls = [trial_config(plan, params, mid) for mid, params in members]
    defaults = {row["key"]: row["default"] for row in trainables.config_help(plan.trainable)}
    ran_with = {
        mid: json.dumps({**defaults, **full}, default=str)
        for (mid, _), full in zip(members, fulls, strict=True)
    }
    default_epochs = _default_epochs(info)
    epochs = [full.get("epochs") or default_epochs for full in fulls]
    valid, invalid = [], {}
    for i, full in enumerate(fulls):
        try:
            parse_config(info.config, full, info.name)
            valid.append(i)
        except trainables.InvalidConfig as exc:
            invalid[i] = str(exc)
    checkpointer = RayCheckpointer() if plan.checkpoint and info.checkpoints else None
    running = set(range(len(members)))
    cut_at_rung: dict[int, str] = {}  # index among the valid -> why ASHA stopped it
    rungs = Rungs(*plan.rungs, _judge(plan)) if plan.rungs else None

    def member(i: int, metrics: dict[str, Any], status: str) -> dict[str, Any]:
        if status != RUNNING:
            running.discard(i)
        out = {
            **metrics,
            "objective": _objective(plan, metrics),
            "status": status,
            "trial_seed": fulls[i].get("seed", -1),
            # A member reports once per epoch, so its epoch counts its results, and does
            # so again after a resume from a checkpoint (a counter here would restart).
            "training_iteration": max(1, int(metrics.get("epoch") or 0)),
        }
        text = ran_with.pop(members[i][0], None)
        return {**out, TRIAL_CONFIG: text} if text is not None else out

    def send(payload: dict[str, dict[str, Any]]) -> None:
        values = [r["objective"] for r in payload.values()]
        result = {
            "objective": (max if plan.mode == "max" else min)(values),
            "status": RUNNING if running else "completed",
            "epoch": max(int(r.get("epoch") or 0) for r in payload.values()),
            MEMBERS: json.dumps(payload, default=str),
        }
        _report(result, checkpointer)

    def prune(results: dict[int, dict[str, Any]]) -> list[int]:
        if rungs is None:
            return []
        going = {
            j: (int(m["epoch"]), _objective(plan, m))
            for j, m in results.items()
            if epoch_status(m, epochs[valid[j]]) == RUNNING
        }
        cut = rungs.cut(going)
        cut_at_rung.update(cut)
        return list(cut)

    def report(results: dict[int, dict[str, Any]]) -> None:
        payload = {}
        for j, metrics in results.items():
            i = valid[j]
            if j in cut_at_rung:
                metrics = {**metrics, "reason": cut_at_rung[j]}
                status = "stopped"
            else:
                status = epoch_status(metrics, epochs[i])
            payload[members[i][0]] = member(i, metrics, status)
        if payload:
            send(payload)

    if invalid:
        send(
            {
                members[i][0]: member(i, {"epoch": 0, "diverged": False, "reason": why}, "invalid")
                for i, why in invalid.items()
            }
        )
    if not valid:
        return
    kwargs: dict[str, Any] = {}
    if checkpointer is not None:
        kwargs["checkpoint"] = checkpointer
    if rungs is not None:
        kwargs["prune"] = prune
    if plan.fuse_data == "shared":
        kwargs["shared_order"] = True
    info.group([fulls[i] for i in valid], report, **kwargs)


def _judge(plan: TrialPlan) -> Any:
    """ASHA's judge for a fused group: the study's rung board (a Ray actor), or where
    there is none (a group run outside a study), a board of the group's own."""
    from .groups import RungBoard

    assert plan.rungs is not None
    if plan.rung_board is None:
        return RungBoard(plan.rungs[1], plan.mode).judge
    import ray

    board = ray.get_actor(plan.rung_board)
    return lambda rung, values: ray.get(board.judge.remote(rung, values))
