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

import contextlib
import json
import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import trainables
from experiment_folder import (
    COMPLETED,
    DIVERGED,
    EARLY_STOPPED,
    INVALID,
    RUNNING,
    STOPPED,
    TRIAL_CONFIG,
    TRIAL_INDEX,
)
from trainables.config import parse_config
from trainables.own import INFO

from .plan import TrialPlan, trial_config, trial_index

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


def _index(trial_id: str, sampled: dict[str, Any]) -> int:
    """The trial's index in its study (plan.trial_index), -1 where unknown."""
    index = trial_index(trial_id, sampled)
    return -1 if index is None else index


def _objective(plan: TrialPlan, metrics: dict[str, Any]) -> float:
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
    seed = {"trial_seed": full.get("seed", -1), TRIAL_INDEX: _index(trial_id, config)}
    # A function the harness did not write may end before its config's epochs, or have
    # none: its results go one behind, so that the last can say "completed" (_Outbox).
    own = info.kind == "ray" or getattr(info.fn, INFO, None) is not None
    outbox = _Outbox(checkpointer, hold=own or epochs is None)

    def report(metrics: dict[str, Any], ray_checkpoint: Any = None) -> None:
        status = epoch_status(metrics, None if outbox.hold else epochs)
        if outbox.hold and status == COMPLETED:
            status = RUNNING  # until the function returns
        result = {**metrics, "objective": _objective(plan, metrics), "status": status, **seed}
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
        # Costs no training; the searcher is told the trial failed (see searchers.py).
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


class _Outbox:
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


EPOCH_FILE = ".study_harness_epoch"  # in a plain Ray function's checkpoint: its epoch count


def _run_ray_function(
    info: trainables.TrainableInfo,
    full: dict[str, Any],
    plan: TrialPlan,
    report: Any,
    outbox: _Outbox,
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
    outbox = _Outbox(checkpointer, hold=False)
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
            TRIAL_INDEX: _index(*members[i]),
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
            "status": RUNNING if running else COMPLETED,
            "epoch": max(int(r.get("epoch") or 0) for r in payload.values()),
            MEMBERS: json.dumps(payload, default=str),
        }
        outbox.put(result)

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
                status = STOPPED
            else:
                status = epoch_status(metrics, epochs[i])
            payload[members[i][0]] = member(i, metrics, status)
        if payload:
            send(payload)

    if invalid:
        send(
            {
                members[i][0]: member(i, {"epoch": 0, "diverged": False, "reason": why}, INVALID)
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
