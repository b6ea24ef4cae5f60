"""``time_budget_s``: a Ray Tune Stopper that counts from the first trial.

Ray's own ``TuneConfig(time_budget_s=...)`` counts from ``Tuner.fit()``, Ray's
start-up included: an 8 s budget stopped two trials before their first epoch
(issue 16). This stopper starts the clock when the first trial began (its first
result, less the time the trial had run by then). A resumed study counts its
budget afresh: the clock is not pickled with the tuner.
"""

from __future__ import annotations

import time
from typing import Any

from ray.tune import Stopper


class FirstTrialBudget(Stopper):
    def __init__(self, budget_s: float) -> None:
        self.budget_s = budget_s
        self.first: float | None = None

    def __call__(self, trial_id: str, result: dict[str, Any]) -> bool:
        if self.first is None:
            ran = result.get("time_total_s")
            self.first = time.monotonic() - (float(ran) if isinstance(ran, (int, float)) else 0.0)
        return False

    def stop_all(self) -> bool:
        return self.first is not None and time.monotonic() - self.first >= self.budget_s

    def __getstate__(self) -> dict[str, Any]:
        return {"budget_s": self.budget_s, "first": None}
