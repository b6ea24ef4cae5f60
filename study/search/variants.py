"""Ray's grid and random trial generator, which on resume forgets the trials that ended.

``study resume`` marks as ended, in Ray's saved state, the trials its ledger holds as
ended (ledger.mark_finished), so Ray never reports them ended. Ray's
BasicVariantGenerator counts its live trials against ``max_concurrent`` and restores
that set from its saved state: trials that ended after the state was saved would
hold their places for ever, and it would offer no more trials. Ray's controller then
waits for one (600 s at a time, again and again): a resume that hung, seen in the
SIGKILL test once in a few runs. HarnessLimiter does the same for searchers. (Here,
not in optuna_search, so that a grid study does not import Optuna.)
"""

from __future__ import annotations

from typing import Any

from ray.tune.search.basic_variant import BasicVariantGenerator

from study.records.ledger import ended_while_restoring
from study.search import epoch_budget


class HarnessVariantGenerator(BasicVariantGenerator):
    """BasicVariantGenerator whose restored live trials leave out those that ended, and
    which makes no trial once the study's epoch budget is spent (epoch_budget.py)."""

    def next_trial(self) -> Any:
        if epoch_budget.exhausted():
            self.set_finished()
            return None
        return super().next_trial()

    def set_state(self, state: dict[str, Any]) -> None:
        super().set_state(state)
        ended = ended_while_restoring()
        if ended:
            self._live_trials = {t for t in self._live_trials if t not in ended}
