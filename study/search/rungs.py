"""ASHA inside fused groups: Ray's scheduler sees one trial per group, so the rungs
are applied to the members here (ARCHITECTURE.md, "Fused trial groups").

:class:`Rungs` says which members still running stop after an epoch; it asks a
:class:`RungBoard`, ASHA's record of the values reached at each rung, which one Ray
actor holds for the whole study (study/execution/tuner.py starts it).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping


class RungBoard:
    """ASHA's record of the values reached at each rung, and its rule (Ray's
    ``_Bracket.cutoff``): a value below the (1 - 1/η) percentile of the values recorded
    at its rung stops there. One board serves a whole fused study as a Ray actor
    (study/execution/tuner.py starts it), so that every group is judged against the rung values the
    study has recorded, not against its own members only."""

    def __init__(self, factor: float, mode: str) -> None:
        self.factor, self.sign = factor, 1.0 if mode == "max" else -1.0
        self.recorded: dict[Hashable, list[float]] = {}

    def judge(self, rung: Hashable, values: dict[int, float]) -> tuple[list[int], int]:
        """Record ``values`` (member -> objective) at ``rung`` (an epoch, or with
        brackets a (bracket, epoch) pair: each bracket keeps its own records, as Ray's
        do); the members below the cutoff, and how many values the cutoff was taken over."""
        import numpy as np

        recorded = self.recorded.setdefault(rung, [])
        recorded.extend(self.sign * v for v in values.values())
        cutoff = float(np.nanpercentile(recorded, (1 - 1 / self.factor) * 100))
        return [k for k, v in values.items() if self.sign * v < cutoff], len(recorded)


Judge = Callable[[Hashable, dict[int, float]], tuple[list[int], int]]


class Rungs:
    """ASHA inside fused groups (Ray's scheduler sees one trial per group): the rungs
    (grace_period·η^k epochs, below max_t) at which a member still running is judged
    (``judge``: a RungBoard's), and max_t, where every member still running stops, as
    ASHA stops a trial.

    With ``bracket`` (bohb: member -> its Hyperband bracket, study/search/brackets.py),
    a member in bracket k is first judged at grace_period·η^k, against the values of
    its own bracket, as Ray's asynchronous Hyperband judges a solo trial."""

    def __init__(
        self,
        grace: int,
        factor: float,
        max_t: int,
        judge: Judge,
        bracket: Callable[[int], int] | None = None,
    ) -> None:
        self.rungs: set[int] = set()
        rung = float(grace)
        while rung < max_t:
            self.rungs.add(round(rung))
            rung *= factor
        self.max_t, self.judge, self.bracket = max_t, judge, bracket
        self.first = [round(grace * factor**k) for k in range(len(self.rungs) + 1)]

    def _key(self, member: int, rung: int) -> Hashable | None:
        """Where member's value at ``rung`` is judged (None: not a rung of its bracket)."""
        if self.bracket is None:
            return rung
        k = min(self.bracket(member), len(self.first) - 1)
        return (k, rung) if rung >= self.first[k] else None

    def cut(self, running: Mapping[int, tuple[int, float]]) -> dict[int, str]:
        """The members to stop after this epoch, each with why, from those still
        running: index -> (the epoch they just finished, its objective)."""
        stop = {
            i: f"stopped at max_t={self.max_t} epochs"
            for i, (epoch, _) in running.items()
            if epoch >= self.max_t
        }
        at: dict[Hashable, dict[int, float]] = {}
        for i, (epoch, v) in running.items():
            key = self._key(i, epoch) if epoch in self.rungs and i not in stop else None
            if key is not None:
                at.setdefault(key, {})[i] = v
        for key, values in sorted(at.items(), key=lambda kv: str(kv[0])):
            below, count = self.judge(key, values)
            for i in below:
                stop[i] = (
                    f"stopped by ASHA after epoch {key}: below the cutoff of the {count} "
                    "values recorded at this rung"
                    if isinstance(key, int)
                    else f"stopped in Hyperband bracket {key[0]} after epoch {key[1]}: below "  # type: ignore[index]
                    f"the cutoff of the {count} values its bracket recorded at this rung"
                )
        return stop
