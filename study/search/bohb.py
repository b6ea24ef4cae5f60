"""BOHB's model on Optuna's trials: TPE fitted at one budget, inside Hyperband's brackets.

BOHB (Falkner et al., ICML 2018) keeps one density model per budget and samples
from the model of the largest budget that has enough observations; a third of its
configs are drawn at random, so that the model never stops looking. Its brackets are
Hyperband's (study/search/brackets.py), so some trials run to ``max_t`` from the
start and the models of large budgets fill up.

:class:`BohbSampler` is an Optuna sampler, so a bohb study is an Optuna study like
an ``optuna`` or ``gp`` one: the same journal, the dashboard, invalid proposals told
as infeasible, divergence as a violated constraint, ASHA-stopped trials as PRUNED
(study/search/optuna_search.py). Its model is Optuna's own TPESampler, given a view
of the study at one budget: an in-memory study in which each trial that reached
the budget is COMPLETE with its value at that epoch (its intermediate value), and
every trial that cannot train is there as infeasible. What was tried and measured
instead of this (hpbandster, DEHB, Optuna's HyperbandPruner): ARCHITECTURE.md, "bohb".
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import optuna
from optuna.distributions import BaseDistribution
from optuna.samplers import BaseSampler, RandomSampler, TPESampler
from optuna.study import Study
from optuna.trial import FrozenTrial, TrialState

from study.records.journal import CONSTRAINT

RANDOM_FRACTION = 1 / 3  # BOHB's ρ: the share of configs drawn at random throughout


def budgets(grace: int, factor: float, max_t: int) -> list[int]:
    """Every rung of every bracket, and max_t: the budgets a model can be fitted at."""
    out, rung = {max_t}, float(grace)
    while rung < max_t:
        out.add(math.ceil(rung - 1e-9))
        rung *= factor
    return sorted(out)


def min_points(dimensions: int) -> int:
    """Observations a budget needs before its model is used: BOHB's N_min + 2, with
    N_min = d + 1 (the fewest points its kernel density can be fitted to)."""
    return dimensions + 3


class BohbSampler(BaseSampler):
    """Samples from TPE fitted at the largest budget with ``min_points`` observations,
    or at random (before any budget has them, and a third of the time after)."""

    def __init__(self, budgets: list[int], min_points: int, seed: int | None) -> None:
        self.budgets = sorted(budgets, reverse=True)
        self.min_points = min_points
        # The model: Optuna's TPE, with no random start-up of its own (this sampler
        # decides when there is enough to fit) and no liar: the view it is handed is
        # not the study, and a liar would write to the view's trials.
        self._tpe = TPESampler(seed=seed, n_startup_trials=0, constant_liar=False)
        self._random = RandomSampler(seed=seed)
        self._rng = np.random.RandomState(seed)
        self.last_budget: int | None = None  # the budget of the last model used, if any

    def reseed_rng(self) -> None:
        self._tpe.reseed_rng()
        self._random.reseed_rng()
        self._rng = np.random.RandomState()

    def infer_relative_search_space(
        self, study: Study, trial: FrozenTrial
    ) -> dict[str, BaseDistribution]:
        # Computed afresh (TPE's own IntersectionSearchSpace keeps a cursor into one
        # study, and this sampler hands TPE a new view each time).
        states = (TrialState.COMPLETE, TrialState.PRUNED)
        trials = study._get_trials(deepcopy=False, states=states)
        return optuna.search_space.intersection_search_space(trials, include_pruned=True)

    def sample_relative(
        self, study: Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        self.last_budget = None
        if not search_space or self._rng.rand() < RANDOM_FRACTION:
            return {}
        view = self.view(study)
        if view is None:
            return {}
        return self._tpe.sample_relative(view, trial, search_space)

    def sample_independent(
        self,
        study: Study,
        trial: FrozenTrial,
        param_name: str,
        param_distribution: BaseDistribution,
    ) -> Any:
        return self._random.sample_independent(study, trial, param_name, param_distribution)

    def view(self, study: Study) -> Study | None:
        """The study at the largest budget with enough observations, as an in-memory
        study of COMPLETE trials (None while no budget has enough)."""
        trials = study._get_trials(
            deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)
        )
        infeasible, feasible = [], []
        for t in trials:  # what cannot train carries the violated constraint (set_constraint)
            if t.constraints.get(CONSTRAINT, 0.0) > 0:
                infeasible.append(t)
            elif t.intermediate_values:
                feasible.append(t)
        for budget in self.budgets:
            at = [t for t in feasible if budget in t.intermediate_values]
            if len(at) < self.min_points:
                continue
            view = optuna.create_study(directions=study.directions, sampler=RandomSampler())
            view.add_trials(
                [_at(t, t.intermediate_values[budget], 0.0) for t in at]
                + [_at(t, t.value if t.value is not None else 0.0, 1.0) for t in infeasible]
            )
            self.last_budget = budget
            return view
        return None


def _at(trial: FrozenTrial, value: float, constraint: float) -> FrozenTrial:
    """``trial`` as a COMPLETE trial of the view, with ``value`` and its constraint
    (TPE ranks every infeasible trial below every feasible one, whatever its value)."""
    return optuna.trial.create_trial(
        params=trial.params,
        distributions=trial.distributions,
        value=value,
        constraints={CONSTRAINT: constraint},
    )
