"""The function Ray Tune runs for a fused group: up to K trials (members) trained
together by the trainable's fused path (ARCHITECTURE.md, "Fused trial groups").

Each tune.report carries, under ``members``, the results the members reported in
that epoch, each with its own objective, status and (the first time) the config it
ran with; ASHA is applied inside the group (study/search/rungs.py).
"""

from __future__ import annotations

import json
from collections.abc import Callable
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
from study.search.brackets import bracket_of
from study.search.rungs import RungBoard, Rungs
from study.specs.plan import TrialPlan, group_cpus, trial_config
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
    ``config`` trained together by the trainable's fused path (:class:`GroupTrial`)."""
    import torch

    cpus = group_cpus(len(config[MEMBERS]), plan.cpus, plan.cluster_cpus)
    torch.set_num_threads(max(1, int(cpus if not plan.use_gpu else plan.cpus)))
    GroupTrial(config, plan).run()


class GroupTrial:
    """One fused group's run. Each tune.report carries the results the members reported
    in that epoch under ``members``, each with its own objective, status and (the first
    time) the config it ran with. Members are known by their place in the group (``i``);
    the trainable knows the valid ones by their place among those (``j``)."""

    def __init__(self, config: dict[str, Any], plan: TrialPlan) -> None:
        self.plan = plan
        self.info = trainables.get(plan.trainable)
        assert self.info.group is not None  # validate.py allows fuse > 1 only for such trainables
        self.members = [(str(m["id"]), dict(m["params"])) for m in config[MEMBERS]]
        self.fulls = [trial_config(plan, params, mid) for mid, params in self.members]
        defaults = {row["key"]: row["default"] for row in trainables.config_help(plan.trainable)}
        # The config each member ran with, sent with its first result.
        self.ran_with = {
            mid: json.dumps({**defaults, **full}, default=str)
            for (mid, _), full in zip(self.members, self.fulls, strict=True)
        }
        default = default_epochs(self.info)
        self.epochs = [full.get("epochs") or default for full in self.fulls]
        self.valid, self.invalid = self._parsed()
        self.checkpointer = RayCheckpointer() if plan.checkpoint and self.info.checkpoints else None
        self.outbox = Outbox(self.checkpointer, hold=False)
        self.running = set(range(len(self.members)))
        self.cut_at_rung: dict[int, str] = {}  # index among the valid -> why ASHA stopped it
        self.rungs = Rungs(*plan.rungs, _judge(plan), self._bracket()) if plan.rungs else None

    def _bracket(self) -> Callable[[int], int] | None:
        """bohb: a valid member's Hyperband bracket, by its trial index (brackets.py)."""
        if not self.plan.brackets or self.plan.rungs is None:
            return None
        grace, factor, max_t = self.plan.rungs
        return lambda j: bracket_of(index(*self.members[self.valid[j]]), grace, factor, max_t)

    def _parsed(self) -> tuple[list[int], dict[int, str]]:
        """The members whose config parses, and why each of the others does not."""
        valid, invalid = [], {}
        for i, full in enumerate(self.fulls):
            try:
                parse_config(self.info.config, full, self.info.name)
                valid.append(i)
            except trainables.InvalidConfig as exc:
                invalid[i] = str(exc)
        return valid, invalid

    def run(self) -> None:
        """The invalid members end at once; the valid ones train in the fused path."""
        if self.invalid:
            self._send(
                {
                    self.members[i][0]: self._member(
                        i, {"epoch": 0, "diverged": False, "reason": why}, INVALID
                    )
                    for i, why in self.invalid.items()
                }
            )
        if not self.valid:
            return
        kwargs: dict[str, Any] = {}
        if self.checkpointer is not None:
            kwargs["checkpoint"] = self.checkpointer
        if self.rungs is not None:
            kwargs["prune"] = self.prune
        if self.plan.fuse_data == "shared":
            kwargs["shared_order"] = True
        assert self.info.group is not None
        self.info.group([self.fulls[i] for i in self.valid], self.report, **kwargs)

    def _member(self, i: int, metrics: dict[str, Any], status: str) -> dict[str, Any]:
        """Member ``i``'s result as Ray keeps it inside the group's."""
        if status != RUNNING:
            self.running.discard(i)
        out = {
            **metrics,
            "objective": objective(self.plan, metrics),
            "status": status,
            "trial_seed": self.fulls[i].get("seed", -1),
            TRIAL_INDEX: index(*self.members[i]),
            # A member reports once per epoch, so its epoch counts its results, and does
            # so again after a resume from a checkpoint (a counter here would restart).
            "training_iteration": max(1, int(metrics.get("epoch") or 0)),
        }
        text = self.ran_with.pop(self.members[i][0], None)
        return {**out, TRIAL_CONFIG: text} if text is not None else out

    def _send(self, payload: dict[str, dict[str, Any]]) -> None:
        """One group result: the best member's objective, and every member's result."""
        values = [r["objective"] for r in payload.values()]
        result = {
            "objective": (max if self.plan.mode == "max" else min)(values),
            "status": RUNNING if self.running else COMPLETED,
            "epoch": max(int(r.get("epoch") or 0) for r in payload.values()),
            MEMBERS: json.dumps(payload, default=str),
        }
        self.outbox.put(result)

    def prune(self, results: dict[int, dict[str, Any]]) -> list[int]:
        """The trainable asks after each epoch: the valid members ASHA stops here."""
        if self.rungs is None:
            return []
        going = {
            j: (int(m["epoch"]), objective(self.plan, m))
            for j, m in results.items()
            if epoch_status(m, self.epochs[self.valid[j]]) == RUNNING
        }
        cut = self.rungs.cut(going)
        self.cut_at_rung.update(cut)
        return list(cut)

    def report(self, results: dict[int, dict[str, Any]]) -> None:
        """The trainable's report of an epoch: valid member -> its metrics."""
        payload = {}
        for j, metrics in results.items():
            i = self.valid[j]
            if j in self.cut_at_rung:
                metrics = {**metrics, "reason": self.cut_at_rung[j]}
                status = STOPPED
            else:
                status = epoch_status(metrics, self.epochs[i])
            payload[self.members[i][0]] = self._member(i, metrics, status)
        if payload:
            self._send(payload)


def _judge(plan: TrialPlan) -> Any:
    """ASHA's judge for a fused group: the study's rung board (a Ray actor), or where
    there is none (a group run outside a study), a board of the group's own."""
    assert plan.rungs is not None
    if plan.rung_board is None:
        return RungBoard(plan.rungs[1], plan.mode).judge
    import ray

    board = ray.get_actor(plan.rung_board)
    return lambda rung, values: ray.get(board.judge.remote(rung, values))
