"""The Ray callback that counts a study's trial-epochs for its ``epoch_budget``
(study/search/epoch_budget.py says what is counted and who stops on it).

The count lives in the study's ``TrialEpochs`` (set while Ray Tune fits), not in the
callback: Ray pickles callbacks into ``tuner.pkl`` and a resume unpickles them. A
resumed study first counts what its trials had reported before: the trials the
ledger holds as ended, and each restored trial's last result.
"""

from __future__ import annotations

from typing import Any

from ray import tune

from study.execution.durability import active_folder
from study.records import ledger
from study.search import epoch_budget


class EpochCount(tune.Callback):
    """Adds each trial's results to the study's trial-epochs."""

    def __init__(self) -> None:
        self._counted_before = 0  # id() of the count whose earlier epochs were added

    def on_step_begin(self, iteration: int, trials: list[Any], **info: Any) -> None:
        count = epoch_budget.current()
        if count is None or self._counted_before == id(count):
            return
        self._counted_before = id(count)
        folder = active_folder()
        if folder is not None:
            for trial_id, entry in ledger.read(folder).items():
                count.add(trial_id, entry["result"])
        for trial in trials:
            if trial.last_result:
                count.add(trial.trial_id, trial.last_result)

    def on_trial_result(
        self, iteration: int, trials: list[Any], trial: Any, result: dict[str, Any], **info: Any
    ) -> None:
        count = epoch_budget.current()
        if count is not None:
            count.add(trial.trial_id, result)
