"""The function Ray Tune runs for a fused group: up to K trials (members) trained
together by the trainable's fused path (ARCHITECTURE.md, "Fused trial groups").

Each tune.report carries, under ``members``, the results the members reported in
that epoch, each with its own objective, status and (the first time) the config it
ran with; ASHA is applied inside the group (study/search/rungs.py).
"""

from __future__ import annotations

import json
from typing import Any

import trainables
from experiment_folder import (
    COMPLETED,
    INVALID,
    MEMBERS,
    RUNNING,
    STOPPED,
    TRIAL_CONFIG,
    TRIAL_INDEX,
)
from study.search.rungs import RungBoard, Rungs
from study.spec.plan import TrialPlan, group_cpus, trial_config
from study.trial.results import (
    Outbox,
    RayCheckpointer,
    default_epochs,
    epoch_status,
    index,
    objective,
)
from trainables.config import parse_config


def run_group(config: dict[str, Any], plan: TrialPlan) -> None:
    """Ray Tune's function trainable for a fused group: the members listed in
    ``config`` trained together by the trainable's fused path. Each tune.report carries
    the results the members reported in that epoch under ``members``, each with its
    own objective, status and (first time) the config it ran with."""
    import torch

    cpus = group_cpus(len(config[MEMBERS]), plan.cpus, plan.cluster_cpus)
    torch.set_num_threads(max(1, int(cpus if not plan.use_gpu else plan.cpus)))
    info = trainables.get(plan.trainable)
    assert info.group is not None  # validate.py allows fuse > 1 only for such trainables
    members = [(str(m["id"]), dict(m["params"])) for m in config[MEMBERS]]
    fulls = [trial_config(plan, params, mid) for mid, params in members]
    defaults = {row["key"]: row["default"] for row in trainables.config_help(plan.trainable)}
    ran_with = {
        mid: json.dumps({**defaults, **full}, default=str)
        for (mid, _), full in zip(members, fulls, strict=True)
    }
    default = default_epochs(info)
    epochs = [full.get("epochs") or default for full in fulls]
    valid, invalid = [], {}
    for i, full in enumerate(fulls):
        try:
            parse_config(info.config, full, info.name)
            valid.append(i)
        except trainables.InvalidConfig as exc:
            invalid[i] = str(exc)
    checkpointer = RayCheckpointer() if plan.checkpoint and info.checkpoints else None
    outbox = Outbox(checkpointer, hold=False)
    running = set(range(len(members)))
    cut_at_rung: dict[int, str] = {}  # index among the valid -> why ASHA stopped it
    rungs = Rungs(*plan.rungs, _judge(plan)) if plan.rungs else None

    def member(i: int, metrics: dict[str, Any], status: str) -> dict[str, Any]:
        if status != RUNNING:
            running.discard(i)
        out = {
            **metrics,
            "objective": objective(plan, metrics),
            "status": status,
            "trial_seed": fulls[i].get("seed", -1),
            TRIAL_INDEX: index(*members[i]),
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
            j: (int(m["epoch"]), objective(plan, m))
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
    assert plan.rungs is not None
    if plan.rung_board is None:
        return RungBoard(plan.rungs[1], plan.mode).judge
    import ray

    board = ray.get_actor(plan.rung_board)
    return lambda rung, values: ray.get(board.judge.remote(rung, values))
