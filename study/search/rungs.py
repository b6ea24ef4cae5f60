"""ASHA inside fused groups: Ray's scheduler sees one trial per group, so the rungs
are applied to the members here (ARCHITECTURE.md, "Fused trial groups").

:class:`Rungs` says which members still running stop after an epoch; it asks a
:class:`RungBoard`, ASHA's record of the values reached at each rung, which one Ray
actor holds for the whole study (study/execution/tuner.py starts it).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping


class RungBoard:
    """ASHA's record of the values reached at each rung, and its rule (Ray's
    ``_Bracket.cutoff``): a value below the (1 - 1/η) percentile of the values recorded
    at its rung stops there. One board serves a whole fused study as a Ray actor
    (study/execution/tuner.py starts it), so that every group is judged against the rung values the
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
