"""Hyperband's brackets, run asynchronously: the scheduler of ``search: {algorithm: bohb}``.

Hyperband (Li et al., 2018) runs successive halving in several brackets: the first
starts many trials at the smallest budget and halves them at every rung, the last
runs a few trials to ``max_t`` with no rung at all, so a slow starter that a single
aggressive bracket culls at its first rung can still finish (issue 34;
ARCHITECTURE.md, "bohb"). Bracket ``k``'s first rung is ``grace · η^k`` epochs.

Ray's AsyncHyperBandScheduler holds the brackets and their cutoffs; it gives a new
trial a bracket at random from numpy's global generator, by weights that favour the
first bracket far more than Hyperband does. Here a trial's bracket follows from its
index (:func:`bracket_of`), in Hyperband's proportions: the same trial gets the same
bracket in a resumed run and in a fused group, where :class:`study.search.rungs.Rungs`
applies the same brackets to each member.
"""

from __future__ import annotations

import functools
import math
from typing import Any

from ray.tune.schedulers import AsyncHyperBandScheduler

from experiment_folder import TRIAL_INDEX


def bracket_count(grace: int, factor: float, max_t: int) -> int:
    """How many brackets fit: each starts η times later than the one before, the last
    at or below max_t (Hyperband's s_max + 1)."""
    count = 1
    while grace * factor**count <= max_t * (1 + 1e-9):
        count += 1
    return count


def weights(count: int, factor: float) -> list[int]:
    """Hyperband's trials per bracket, first bracket first: bracket k starts
    ceil((s_max + 1) / (s + 1) · η^s) trials, s = s_max - k, so each bracket spends
    about the same epochs."""
    top = count - 1
    return [math.ceil(count / (top - k + 1) * factor ** (top - k) - 1e-9) for k in range(count)]


def sequence(shares: list[int]) -> list[int]:
    """One cycle of brackets in the proportions ``shares``, spread evenly (smooth
    weighted round robin), so that any run of trials holds every bracket in turn."""
    total, current, out = sum(shares), [0] * len(shares), []
    for _ in range(total):
        current = [c + w for c, w in zip(current, shares, strict=True)]
        pick = max(range(len(shares)), key=lambda k: (current[k], -k))
        current[pick] -= total
        out.append(pick)
    return out


def cycle(grace: int, factor: float, max_t: int) -> list[int]:
    """The brackets of one cycle of trials, starting with the last bracket's first trial:
    a study bounded in trial-epochs then runs a trial to max_t before any is culled, so
    the model of max_t gets its first observations early (BENCHMARKS.md section 15:
    on the learning-curve benchmark this order beat the first bracket first)."""
    return list(_cycle(grace, factor, max_t))


@functools.cache  # asked per trial, and per member at every rung of a fused group
def _cycle(grace: int, factor: float, max_t: int) -> tuple[int, ...]:
    order = sequence(weights(bracket_count(grace, factor, max_t), factor))
    start = order.index(max(order))
    return tuple(order[start:] + order[:start])


def bracket_of(index: int, grace: int, factor: float, max_t: int) -> int:
    """The bracket of the study's trial ``index`` (its Optuna number or member index)."""
    order = _cycle(grace, factor, max_t)
    return order[index % len(order)]


def first_rungs(grace: int, factor: float, max_t: int) -> list[int]:
    """Each bracket's first rung, in epochs."""
    return [math.ceil(grace * factor**k - 1e-9) for k in range(bracket_count(grace, factor, max_t))]


class HyperbandScheduler(AsyncHyperBandScheduler):
    """Ray's asynchronous Hyperband with Hyperband's bracket sizes, a trial's bracket
    chosen by its index (``TRIAL_INDEX`` in its config) rather than at random."""

    def __init__(self, max_t: int, grace_period: int, reduction_factor: float) -> None:
        self.grace, self.factor, self.top = grace_period, reduction_factor, max_t
        super().__init__(
            time_attr="training_iteration",
            max_t=max_t,
            grace_period=grace_period,
            reduction_factor=reduction_factor,
            brackets=bracket_count(grace_period, reduction_factor, max_t),
        )
        self.added = 0  # trials seen, for a trial whose config carries no index

    def on_trial_add(self, tune_controller: Any, trial: Any) -> None:
        super().on_trial_add(tune_controller, trial)  # checks metric and mode
        index = trial.config.get(TRIAL_INDEX)
        if not isinstance(index, int):
            index = self.added
        self.added += 1
        k = bracket_of(index, self.grace, self.factor, self.top)
        self._trial_info[trial.trial_id] = self._brackets[min(k, len(self._brackets) - 1)]
