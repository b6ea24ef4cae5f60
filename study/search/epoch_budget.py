"""``epoch_budget: N``: the study starts no new trial once N trial-epochs were reported.

A study's cost is its trial-epochs, not its trials: under ASHA a trial costs anything
from one epoch to ``max_t``, so ``num_samples`` alone cannot put two searches at equal
cost (issue 34). The count is each trial's highest epoch reported, summed over the
study's trials, a fused group's members each counted as a trial; an epoch a resumed
trial runs again counts once, as trials.csv's ``epochs`` does.

The searchers ask :func:`exhausted` before they propose (search/optuna_search.py's
limiter, search/variants.py's generator): from then on they propose nothing, and
the trials still running finish as the scheduler rules. So a study ends at most one
trial's remaining epochs past N for each trial running when N was reached. The
results are counted by a Ray callback in the driver (study/execution/tuner.py),
which, on a resumed study, first counts what its restored trials had reported.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from typing import Any

from experiment_folder import INVALID, member_results


def epochs(result: Mapping[str, Any]) -> dict[str, int]:
    """The epoch each trial reported in ``result``: a fused group's result holds its
    members' (by member id); another holds its own (id ""). An invalid config's result
    (epoch 0) and a result without an epoch count nothing."""
    members = member_results(result)
    reports = members.items() if members else [("", result)]
    found = {}
    for trial_id, reported in reports:
        epoch = reported.get("epoch")
        if isinstance(epoch, (int, float)) and epoch > 0 and reported.get("status") != INVALID:
            found[trial_id] = int(epoch)
    return found


class TrialEpochs:
    """The trial-epochs a study spent against its budget (None: no budget)."""

    def __init__(self, budget: int | None) -> None:
        self.budget = budget
        self.highest: dict[str, int] = {}

    def add(self, trial_id: str, result: Mapping[str, Any]) -> None:
        """Count a result of Ray trial ``trial_id`` (a trial, or a fused group)."""
        for member, epoch in epochs(result).items():
            key = member or trial_id
            self.highest[key] = max(self.highest.get(key, 0), epoch)

    @property
    def spent(self) -> int:
        return sum(self.highest.values())

    def exhausted(self) -> bool:
        return self.budget is not None and self.spent >= self.budget


# The count of the study running in this process (one at a time: a suite's studies
# run one after another), set for the length of Ray Tune's fit.
_COUNTING: list[TrialEpochs] = []


@contextlib.contextmanager
def counting(count: TrialEpochs) -> Iterator[TrialEpochs]:
    _COUNTING.append(count)
    try:
        yield count
    finally:
        _COUNTING.pop()


def current() -> TrialEpochs | None:
    return _COUNTING[-1] if _COUNTING else None


def exhausted() -> bool:
    """Whether the study running in this process has spent its epoch budget."""
    return bool(_COUNTING) and _COUNTING[-1].exhausted()
