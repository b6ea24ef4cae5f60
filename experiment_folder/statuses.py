"""A trial's status, named once: everything else spells them through these names, and
counts them here.
"""

from __future__ import annotations

import pandas as pd

__all__ = [
    "COMPLETED",
    "DIVERGED",
    "EARLY_STOPPED",
    "ERROR",
    "FAILED",
    "FINAL",
    "INVALID",
    "RAY_UNFINISHED",
    "RUNNING",
    "SCORED",
    "STATUSES",
    "STATUS_MEANING",
    "STOPPED",
    "UNFINISHED",
    "status_counts",
]

# The statuses, named once: everything else spells them through these names.
COMPLETED = "completed"
STOPPED = "stopped"
EARLY_STOPPED = "early_stopped"
DIVERGED = "diverged"
INVALID = "invalid"
ERROR = "error"
UNFINISHED = "unfinished"
STATUS_MEANING: dict[str, str] = {
    "completed": "ran every epoch",
    "stopped": "stopped by the scheduler (ASHA) or the time budget before its last epoch",
    "early_stopped": "ended by its own early stopping (early_stop_patience)",
    "diverged": "the loss or the weights became nan/inf or passed the overflow threshold",
    "invalid": "its config cannot be trained (an impossible Conv2d geometry, say): no epochs",
    "error": "the trial raised or its process died (Ray's traceback is in error.txt)",
    "unfinished": "the study was interrupted before the trial ended; study resume finishes it",
}
STATUSES = tuple(STATUS_MEANING)
assert STATUSES == (COMPLETED, STOPPED, EARLY_STOPPED, DIVERGED, INVALID, ERROR, UNFINISHED)
# Statuses a trial reports itself on its last result; the others are decided from Ray's side.
FINAL = (COMPLETED, EARLY_STOPPED, DIVERGED, INVALID)
# Trials whose metric values mean something (the others trained not at all, or blew up).
SCORED = (COMPLETED, STOPPED, EARLY_STOPPED)
# Trials that could not train: they blew up, or their config cannot be trained.
FAILED = (DIVERGED, INVALID)
# Statuses a trial reports on an epoch that is not its last.
RUNNING = "running"
# Ray's statuses of a trial that an interrupt left unfinished.
RAY_UNFINISHED = ("PENDING", "RUNNING", "PAUSED")


def status_counts(trials: pd.DataFrame) -> dict[str, int]:
    """How many trials have each status, every status listed (zeros included)."""
    if trials.empty or "status" not in trials:
        return dict.fromkeys(STATUSES, 0)
    counts = trials["status"].value_counts()
    return {s: int(counts.get(s, 0)) for s in STATUSES}
