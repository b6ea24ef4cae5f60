"""Registries by name: searchers and schedulers, built from a validated Spec."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from experiment_folder import OBJECTIVE, RUNNING

from .spec import Spec

METRIC = OBJECTIVE  # what searchers and schedulers optimise: the spec's metric, never nan


def _optuna(spec: Spec, max_concurrent: int) -> Any:
    import optuna
    from ray.tune.search import ConcurrencyLimiter
    from ray.tune.search.optuna import OptunaSearch

    optuna.logging.set_verbosity(optuna.logging.WARNING)  # no "study created" chatter

    class HarnessOptunaSearch(OptunaSearch):
        """OptunaSearch that tells Optuna how each trial really ended.

        - invalid (an impossible Conv2d, say): FAIL. It says nothing about how good
          its region is, so TPE skips it, as Optuna does with failed trials.
        - stopped by the scheduler before its last epoch (ASHA): PRUNED. Ray's own
          OptunaSearch records such a trial as COMPLETE with its value at the rung
          where it stopped, so TPE compares 2-epoch and 20-epoch accuracies as if
          they were alike. Pruned, TPE ranks it by its intermediate values (which
          Ray reports each epoch) against others at the same step.
        - diverged: COMPLETE with the spec's finite worst value, so TPE learns where
          training blows up.
        """

        def on_trial_complete(
            self, trial_id: str, result: dict[str, Any] | None = None, error: bool = False
        ) -> None:
            status = (result or {}).get("status")
            if status == "invalid":
                result, error = None, True
            elif status == RUNNING:  # no result of its own last epoch: stopped early
                result, error = None, False  # Ray's OptunaSearch tells PRUNED
            super().on_trial_complete(trial_id, result, error)

    # Optuna 5's TPE models the parameters jointly (multivariate) and lies about
    # running trials (constant_liar) by default; both suit concurrent trials.
    sampler = optuna.samplers.TPESampler(
        seed=spec.search.seed, n_startup_trials=spec.search.n_startup_trials
    )
    searcher = HarnessOptunaSearch(metric=METRIC, mode=spec.mode, sampler=sampler)
    return ConcurrencyLimiter(searcher, max_concurrent=max_concurrent)


def _basic(spec: Spec, max_concurrent: int) -> Any:
    from ray.tune.search.basic_variant import BasicVariantGenerator

    # A SearchGenerator ignores TuneConfig.max_concurrent_trials: it takes its own.
    return BasicVariantGenerator(random_state=spec.search.seed, max_concurrent=max_concurrent)


SEARCHERS: dict[str, Callable[[Spec, int], Any]] = {
    "optuna": _optuna,
    "random": _basic,
    "grid": _basic,
}


def _asha(spec: Spec) -> Any:
    from ray.tune.schedulers import ASHAScheduler

    s = spec.scheduler
    # Rungs count reported epochs (training_iteration), which resumes with a trial.
    return ASHAScheduler(
        time_attr="training_iteration",
        max_t=s.max_t,
        grace_period=s.grace_period,
        reduction_factor=s.reduction_factor,
    )


def _fifo(spec: Spec) -> Any:
    from ray.tune.schedulers import FIFOScheduler

    return FIFOScheduler()


SCHEDULERS: dict[str, Callable[[Spec], Any]] = {"asha": _asha, "fifo": _fifo}


def make_searcher(spec: Spec, max_concurrent: int) -> Any:
    """The spec's searcher, limited to ``max_concurrent`` trials at a time.

    With nothing to search (no ``space``: num_samples runs of one fixed config, or
    only variants) there is nothing for Optuna to model, and Ray's OptunaSearch
    refuses an empty space; the trials are then generated as a grid."""
    if not spec.space:
        return _basic(spec, max_concurrent)
    return SEARCHERS[spec.search.algorithm](spec, max_concurrent)


def make_scheduler(spec: Spec) -> Any:
    return SCHEDULERS[spec.scheduler.name](spec)
