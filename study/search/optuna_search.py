"""Ray's OptunaSearch, told what cannot train.

- **Invalid proposals cost nothing.** Each proposed config is checked with the
  trainable's own validation (plan.check_proposal: no torch, no data) before Ray
  sees it. An invalid one is recorded (``invalid.jsonl``), told to Optuna, and the
  next proposal is asked for in the same step: no Ray trial, no worker time. They
  do not count toward ``num_samples``, which counts trials that train.
- **Feasibility is a constraint.** Invalid and diverged outcomes reach Optuna as
  COMPLETE trials that violate a constraint (``Trial.set_constraint``, which
  Optuna 5 prefers to the deprecated ``constraints_func``): TPE ranks every
  feasible trial above every infeasible one, so it learns where configs cannot
  train, rather than skipping FAIL trials (optuna#1015) or taking a made-up worst
  value at face value.
- **Stopped trials are PRUNED.** A trial the scheduler (ASHA) stopped before its last
  epoch is told as PRUNED; Ray's own OptunaSearch would record it COMPLETE at its
  rung value, comparing 2-epoch and 20-epoch accuracies as if alike.
- **The study lives in the experiment folder** (study/records/journal.py): Optuna's journal
  file, named after the experiment, with each trial's ``trial_id``, ``status`` and
  ``reason`` as user attributes. On resume, Ray restores this searcher from its
  pickle, which holds the journal as it was when saved; ``ledger.restoring`` rebinds it
  to the folder's journal as it is now, and a trial the journal already ended is
  never told again.
"""

from __future__ import annotations

import logging
import time
import uuid
import warnings
from pathlib import Path
from typing import Any

import optuna
from ray.tune.search import ConcurrencyLimiter, Searcher
from ray.tune.search.optuna import OptunaSearch

from experiment_folder import ERROR, FAILED, INVALID, RUNNING, STOPPED, TRIAL_INDEX, stopped_reason
from study.records import journal, ledger
from study.records.journal import CONSTRAINT
from study.search import epoch_budget
from study.specs.plan import TrialPlan, check_proposal

log = logging.getLogger(__name__)

# Proposals in a row that may be invalid before the search gives up on the space
# (the study then ends with a one-line error, not a hang).
MAX_INVALID_IN_ROW = 200


class HarnessOptunaSearch(OptunaSearch):
    """OptunaSearch that skips invalid proposals and tells Optuna how trials ended."""

    def __init__(
        self, *args: Any, plan: TrialPlan, folder: Path, total: int | None = None, **kwargs: Any
    ) -> None:
        # Set before Ray's __init__, which sets the study up at once when given a space.
        self.plan = plan
        self.folder = folder
        super().__init__(*args, **kwargs)
        # The trials the study runs in all; on resume, trials the ledger holds count
        # towards it even where Ray's restored state never saw them (_all_asked).
        self.total = total
        self.ledger_ids: set[str] = set()
        self.invalid_count = 0
        self.exhausted: str | None = None  # the last reason, once the space gave out

    def _setup_study(self, mode: Any) -> None:
        super()._setup_study(mode)
        with warnings.catch_warnings():  # set_metric_names is marked experimental
            warnings.simplefilter("ignore")
            study: Any = self._ot_study
            study.set_metric_names([self.plan.metric])  # the dashboard's axis label

    def _all_asked(self) -> bool:
        """Whether every trial of the study was asked for already: those this searcher
        knows, and those the ledger holds that its restored state does not (they ended
        after Ray last saved it; without this, a resume asked for as many new trials
        in their place, issue 21)."""
        total = getattr(self, "total", None)  # None in a searcher pickled before it
        if not total:
            return False
        return len(set(self._ot_trials) | getattr(self, "ledger_ids", set())) >= total

    def suggest(self, trial_id: str) -> dict[str, Any] | None:
        if self._all_asked():
            return Searcher.FINISHED  # type: ignore[return-value]  # Ray's own sentinel
        reason = ""
        for _ in range(MAX_INVALID_IN_ROW):
            params = super().suggest(trial_id)
            if params is None or not isinstance(params, dict):
                return params
            config, problem = check_proposal(self.plan, params)
            if problem is None:
                ot_trial = self._ot_trials[trial_id]
                ot_trial.set_user_attr("trial_id", trial_id)
                # Optuna's trial number: the trial's place in the study (its seed's index).
                return {**params, TRIAL_INDEX: ot_trial.number}
            reason = problem
            self._skip(trial_id, params, config, problem)
        self.exhausted = reason
        log.warning(
            "%d proposals in a row were invalid; the search stops (last: %s)",
            MAX_INVALID_IN_ROW,
            reason,
        )
        return Searcher.FINISHED  # type: ignore[return-value]  # Ray's own sentinel

    def _skip(
        self, trial_id: str, params: dict[str, Any], config: dict[str, Any], why: str
    ) -> None:
        """Record an invalid proposal and tell Optuna it is infeasible."""
        started = time.time()
        ot_trial = self._ot_trials.pop(trial_id)
        name = f"invalid_{uuid.uuid4().hex[:8]}"
        ot_trial.set_constraint(CONSTRAINT, 1.0)
        ot_trial.set_user_attr("trial_id", name)
        ot_trial.set_user_attr("status", INVALID)
        ot_trial.set_user_attr("reason", why[:300])
        study: Any = self._ot_study
        study.tell(ot_trial, self.plan.worst, state=optuna.trial.TrialState.COMPLETE)
        self.invalid_count += 1
        log.info("proposal %s skipped, no trial started  (%s)", name, why)
        ledger.record_invalid(
            self.folder,
            {
                "trial_id": name,
                "number": ot_trial.number,
                "params": params,
                "config": config,
                "reason": why,
                "timestamp": started,
            },
        )

    def _every_constraint(self) -> bool:
        """Whether every trial must carry the constraint, the feasible ones as 0: Optuna's
        GPSampler refuses a study whose trials name different constraints (TPE takes
        a trial without one as feasible, and its journal keeps none there)."""
        sampler = getattr(self._sampler, "sampler", self._sampler)  # inside a StartupGate
        return isinstance(sampler, optuna.samplers.GPSampler)

    def restore(self, checkpoint_path: str) -> None:
        super().restore(checkpoint_path)
        into = ledger.restoring_into()
        if into is not None and self._ot_study is not None:
            self._rebind(into)

    def _rebind(self, folder: Path) -> None:
        """Point the restored study, and its trials, at ``folder``'s journal."""
        self.folder = folder
        self.ledger_ids = set(ledger.read(folder))
        self._storage = journal.open_storage(folder)
        study = optuna.load_study(
            study_name=self._study_name, storage=self._storage, sampler=self._sampler
        )
        self._ot_study: Any = study
        self._ot_trials = {
            tid: optuna.Trial(study, t._trial_id) for tid, t in self._ot_trials.items()
        }
        # Told after Ray last saved this searcher: Ray reruns them, and the journal
        # keeps their first end (as trials.csv does, from the ledger).
        for tid, trial in self._ot_trials.items():
            if tid not in self._completed_trials and self._ended(trial):
                self._completed_trials.add(tid)

    def _ended(self, trial: Any) -> bool:
        study: Any = self._ot_study
        state = study._storage.get_trial(trial._trial_id).state
        return bool(state.is_finished())

    def on_trial_result(self, trial_id: str, result: dict[str, Any]) -> None:
        if trial_id in self._completed_trials:  # rerun after a resume: already told
            return
        with warnings.catch_warnings():  # a step a resumed trial reports again is ignored
            warnings.simplefilter("ignore")
            super().on_trial_result(trial_id, result)

    def on_trial_complete(
        self, trial_id: str, result: dict[str, Any] | None = None, error: bool = False
    ) -> None:
        if trial_id in self._completed_trials:  # rerun after a resume: already told
            return
        result = result or {}
        status = ERROR if error else str(result.get("status") or STOPPED)
        ot_trial = self._ot_trials.get(trial_id)
        if ot_trial is not None and self.metric in result and "training_iteration" in result:
            # Ray sends a trial's last result here, not to on_trial_result: it is an
            # epoch's value too (for a trial ASHA stopped at its first rung, the only one).
            self.on_trial_result(trial_id, result)
        if ot_trial is not None:
            ot_trial.set_user_attr("trial_id", trial_id)
            ot_trial.set_user_attr("status", STOPPED if status == RUNNING else status)
            why = result.get("reason") or result.get("divergence") or ""
            if status == RUNNING and not why and result:  # as trials.csv words it
                why = stopped_reason(result.get("epoch"))
            if error:
                why = "the trial raised or its process died (its error.txt has the traceback)"
            ot_trial.set_user_attr("reason", str(why)[:300])
            if status in FAILED:  # the result carries the worst objective
                ot_trial.set_constraint(CONSTRAINT, 1.0)
            elif self._every_constraint():
                ot_trial.set_constraint(CONSTRAINT, 0.0)
        if status == RUNNING:  # no result of its own last epoch: stopped early
            super().on_trial_complete(trial_id, None, False)  # Ray's OptunaSearch: PRUNED
        else:
            super().on_trial_complete(trial_id, result or None, error)


class HarnessLimiter(ConcurrencyLimiter):
    """Ray's ConcurrencyLimiter, which proposes nothing more once the study's epoch
    budget is spent (epoch_budget.py), and on resume forgets the trials the ledger holds
    as ended: ``study resume`` marks those ended in Ray's state (ledger.mark_finished),
    so Ray never reports them ended to the limiter, which would otherwise count them as
    running for ever and ask for no more trials (a resume that never ended)."""

    def suggest(self, trial_id: str) -> dict[str, Any] | None:
        if epoch_budget.exhausted():
            return Searcher.FINISHED  # type: ignore[return-value]  # Ray's own sentinel
        return super().suggest(trial_id)

    def set_state(self, state: dict[str, Any]) -> None:
        # Ray's SearchGenerator restores a wrapper by set_state (its live trials among
        # them), from the state saved with the experiment's.
        super().set_state(state)
        ended = ledger.ended_while_restoring()
        if ended:
            self.live_trials = {t for t in self.live_trials if t not in ended}
            self.num_unfinished_live_trials = len(self.live_trials)
