"""Exactly ``n_startup_trials`` random proposals, however many trials run at once.

Optuna's TPESampler and GPSampler draw at random while fewer than n_startup_trials
trials have *finished*. With C trials running side by side, proposals go on being
random until the first n_startup_trials finish: up to n_startup_trials + C - 1 of
them (ray-project/ray#52535, measured here: BENCHMARKS.md section 15). The report
compares the model's proposals with the random start-up ones by their place in the
study, so here the start-up is counted in proposals: Optuna's trial numbers 0 …
n_startup_trials - 1 are drawn at random, and every later one comes from the model,
which TPE's constant liar then keeps apart from the trials still running.
"""

from __future__ import annotations

from typing import Any

from optuna.distributions import BaseDistribution
from optuna.samplers import BaseSampler, RandomSampler
from optuna.study import Study
from optuna.trial import FrozenTrial, TrialState


class StartupGate(BaseSampler):
    """``sampler`` (built with no start-up of its own) for every trial numbered
    ``startup`` or more; Optuna's RandomSampler, seeded alike, before."""

    def __init__(self, sampler: BaseSampler, startup: int, seed: int | None) -> None:
        self.sampler = sampler
        self.startup = startup
        self._random = RandomSampler(seed=seed)

    def _random_for(self, trial: FrozenTrial) -> bool:
        return trial.number < self.startup

    def infer_relative_search_space(
        self, study: Study, trial: FrozenTrial
    ) -> dict[str, BaseDistribution]:
        if self._random_for(trial):
            return {}
        return self.sampler.infer_relative_search_space(study, trial)

    def sample_relative(
        self, study: Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        if self._random_for(trial):
            return {}
        return self.sampler.sample_relative(study, trial, search_space)

    def sample_independent(
        self,
        study: Study,
        trial: FrozenTrial,
        param_name: str,
        param_distribution: BaseDistribution,
    ) -> Any:
        if self._random_for(trial):
            return self._random.sample_independent(study, trial, param_name, param_distribution)
        return self.sampler.sample_independent(study, trial, param_name, param_distribution)

    def before_trial(self, study: Study, trial: FrozenTrial) -> None:
        self.sampler.before_trial(study, trial)

    def after_trial(self, study: Study, trial: FrozenTrial, state: TrialState, values: Any) -> None:
        self.sampler.after_trial(study, trial, state, values)

    def reseed_rng(self) -> None:
        self.sampler.reseed_rng()
        self._random.reseed_rng()
