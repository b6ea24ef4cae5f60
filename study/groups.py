"""Fused trial groups on Ray: up to K trials (members) trained in one Ray trial.

``fuse: K`` (spec.py) makes each Ray trial a *group*: the members' configs agree on
every key that sets a shape or the data (the trainable's ``member_keys`` may differ),
and the trainable's fused path trains them together (trainables/fused.py). Each
member is a trial everywhere the user looks, so this module translates at the edges:

- **proposing** (group_search.py): the study's searcher proposes members one at a
  time; they are grouped by their shared keys (:func:`shared_key`), K at most, and a
  group is one Ray trial whose config lists its members under :data:`MEMBERS`.
- **reporting** (:func:`member_results`): each result of a group carries, under
  :data:`MEMBERS`, the results its members reported in that epoch, as JSON text (so
  Ray's loggers keep it whole); a member whose status is no longer ``running`` ended
  there. The callbacks (ledger, terminal lines) and the searcher act per member.
- **recording** (:func:`explode`): before the tables are written, a group's Ray
  Result becomes one Result-like object per member, which records.py turns into
  trials.csv and history.csv rows as it does any trial's, with the ``group`` column.

Ray sees one trial per group, under FIFO; ``scheduler: asha`` is applied inside each
group (:class:`Rungs`). ARCHITECTURE.md, "Fused trial groups".
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pandas as pd

import trainables
from experiment_folder import GROUP, MEMBERS, RUNNING, listed_members, member_results
from trainables.config import group_key, parse_config, settings

from .plan import TrialPlan, trial_config

log = logging.getLogger(__name__)


def member_id(group: str, index: int) -> str:
    """A member's trial id: its group's (Ray's trial id) and its place in the group."""
    return f"{group}-m{index}"


def is_group(result_or_config: Mapping[str, Any] | None) -> bool:
    return bool(result_or_config) and MEMBERS in result_or_config  # type: ignore[operator]


def ended(result: Mapping[str, Any]) -> bool:
    """Whether a member's result is its last (it is no longer running)."""
    return result.get("status") not in (RUNNING, None)


def shared_key(plan: TrialPlan, params: Mapping[str, Any]) -> str:
    """What a proposal shares with the others of its group (its shape keys), as text;
    configs that do not parse go together (each member then reports itself invalid)."""
    info = trainables.get(plan.trainable)
    config = trial_config(plan, dict(params), trial_id="")
    try:
        parsed: Any = parse_config(info.config, config, info.name)
    except trainables.InvalidConfig:
        return "<does not parse>"  # not a status: the group key of configs that fail
    return group_key(settings(parsed), info.member_keys or ())


def group_cpus(members: int, cpu: float, cluster_cpus: float) -> float:
    """The CPUs a group of ``members`` trials asks for (each trial's ``cpu``): those of
    the trials it replaces, as many as the cluster has at most. Its stacked kernels use
    them as threads (measured: K = 16 MLPs 2.0x faster on 2 threads than on 1). With a
    GPU a group asks one trial's share (tuning.py): sharing the card is the point."""
    return min(cpu * max(members, 1), max(cluster_cpus, cpu))


def fuse_size(fuse: int | str, trainable: str, cluster_gpus: float, gpu_share: float) -> int:
    """Members per group: ``fuse`` itself, or for ``auto`` the documented rule (README,
    "Fused trial groups"): on a GPU, AUTO_FUSE_GPU; on CPUs, the trainable's measured
    ``auto_fuse_cpu``."""
    from .spec import AUTO_FUSE_GPU

    if fuse != "auto":
        return int(fuse)
    if gpu_share > 0 and cluster_gpus > 0:
        return AUTO_FUSE_GPU
    return trainables.get(trainable).auto_fuse_cpu


class RungBoard:
    """ASHA's record of the values reached at each rung, and its rule (Ray's
    ``_Bracket.cutoff``): a value below the (1 - 1/η) percentile of the values recorded
    at its rung stops there. One board serves a whole fused study as a Ray actor
    (tuning.py starts it), so that every group is judged against the rung values the
    study has recorded, not against its own members only."""

    def __init__(self, factor: float, mode: str) -> None:
        self.factor, self.sign = factor, 1.0 if mode == "max" else -1.0
        self.recorded: dict[int, list[float]] = {}

    def judge(self, rung: int, values: dict[int, float]) -> tuple[list[int], int]:
        """Record ``values`` (member -> objective) at ``rung``; the members below the
        cutoff, and how many values the cutoff was taken over."""
        import numpy as np

        recorded = self.recorded.setdefault(rung, [])
        recorded.extend(self.sign * v for v in values.values())
        cutoff = float(np.nanpercentile(recorded, (1 - 1 / self.factor) * 100))
        return [k for k, v in values.items() if self.sign * v < cutoff], len(recorded)


Judge = Callable[[int, dict[int, float]], tuple[list[int], int]]


class Rungs:
    """ASHA inside fused groups (Ray's scheduler sees one trial per group): the rungs
    (grace_period·η^k epochs, below max_t) at which a member still running is judged
    (``judge``: a RungBoard's), and max_t, where every member still running stops, as
    ASHA stops a trial."""

    def __init__(self, grace: int, factor: float, max_t: int, judge: Judge) -> None:
        self.rungs: set[int] = set()
        rung = float(grace)
        while rung < max_t:
            self.rungs.add(round(rung))
            rung *= factor
        self.max_t, self.judge = max_t, judge

    def cut(self, running: Mapping[int, tuple[int, float]]) -> dict[int, str]:
        """The members to stop after this epoch, each with why, from those still
        running: index -> (the epoch they just finished, its objective)."""
        stop = {
            i: f"stopped at max_t={self.max_t} epochs"
            for i, (epoch, _) in running.items()
            if epoch >= self.max_t
        }
        for rung in sorted(self.rungs):
            at = {i: v for i, (epoch, v) in running.items() if epoch == rung and i not in stop}
            if not at:
                continue
            below, count = self.judge(rung, at)
            for i in below:
                stop[i] = (
                    f"stopped by ASHA after epoch {rung}: below the cutoff of the {count} "
                    "values recorded at this rung"
                )
        return stop


def explode(
    results: Iterable[Any], ray_statuses: Mapping[str, str], trial_folders: Mapping[str, str]
) -> tuple[list[Any], dict[str, str], dict[str, str]]:
    """A fused study's Ray Results as one Result-like object per member (records.py reads
    them as any trial's), each member's Ray status (its group's), and member -> group.
    A result whose members are not its group's (reused actors: issue 16) is dropped."""
    folder_owner = dict(trial_folders)
    out: list[Any] = []
    statuses: dict[str, str] = {}
    group_of: dict[str, str] = {}
    for result in results:
        group = folder_owner.get(Path(str(result.path)).name) or str(
            (result.metrics or {}).get("trial_id") or Path(str(result.path)).name
        )
        listed = listed_members(result.config)
        frames = _member_frames(result.metrics_dataframe, listed, group)
        for mid, params in listed.items():
            frame = frames.get(mid, pd.DataFrame())
            last = frame.iloc[-1].dropna().to_dict() if not frame.empty else {}
            error = result.error if not ended(last) else None
            out.append(
                SimpleNamespace(
                    metrics={**last, "trial_id": mid},
                    metrics_dataframe=frame,
                    config=params,
                    error=error,
                    path=result.path,
                )
            )
            statuses[mid] = ray_statuses.get(group, "")
            group_of[mid] = group
    return out, statuses, group_of


def _member_frames(
    frame: pd.DataFrame | None, listed: Mapping[str, Any], group: str
) -> dict[str, pd.DataFrame]:
    """Each member's epochs from its group's rows (member results, with the group row's
    time and timestamp)."""
    if frame is None or frame.empty or MEMBERS not in frame:
        return {}
    rows: dict[str, list[dict[str, Any]]] = {}
    for _, row in frame.iterrows():
        for mid, member in member_results({MEMBERS: row[MEMBERS]}).items():
            if mid not in listed:
                continue
            rows.setdefault(mid, []).append(
                {
                    **member,
                    GROUP: group,
                    "time_total_s": row.get("time_total_s"),
                    "timestamp": row.get("timestamp"),
                }
            )
    return {mid: pd.DataFrame(r) for mid, r in rows.items()}


def add_group_column(trials: pd.DataFrame, group_of: Mapping[str, str]) -> pd.DataFrame:
    """trials.csv's ``group`` column: the Ray trial each member trained in."""
    if trials.empty:
        return trials
    out = trials.copy()
    out.insert(1, GROUP, [group_of.get(str(t), "") for t in out["trial_id"]])
    return out


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
