"""Registries by name: searchers and schedulers, built from a validated Spec."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from experiment_folder import OBJECTIVE
from study.specs import Spec
from study.specs.plan import TrialPlan
from study.specs.space import OPTUNA_ALGORITHMS

METRIC = OBJECTIVE  # what searchers and schedulers optimise: the spec's metric, never nan


def _optuna(spec: Spec, max_concurrent: int, plan: TrialPlan, folder: Path) -> Any:
    from study.search.optuna_search import HarnessLimiter

    return HarnessLimiter(_optuna_search(spec, plan, folder), max_concurrent=max_concurrent)


def _optuna_search(spec: Spec, plan: TrialPlan, folder: Path, fused: bool = False) -> Any:
    import optuna

    from study.records import journal
    from study.search.optuna_search import HarnessOptunaSearch

    optuna.logging.set_verbosity(optuna.logging.WARNING)  # no "study created" chatter
    return HarnessOptunaSearch(
        # Fused, the groups' searcher is handed no param_space: the space is given here.
        space={name: dim.to_ray() for name, dim in spec.space.items()} if fused else None,
        metric=METRIC,
        mode=spec.mode,
        sampler=_sampler(spec),
        plan=plan,
        folder=folder,
        storage=journal.open_storage(folder),
        study_name=journal.study_name(folder),
        # Variants are a grid Ray expands around the searcher: no total to keep there.
        # Fused, the groups' searcher keeps the total.
        total=None if spec.variants or fused else spec.trial_count(),
    )


def _sampler(spec: Spec) -> Any:
    """The Optuna sampler of ``search.algorithm``."""
    import optuna

    seed, startup = spec.search.seed, spec.search.n_startup_trials
    if spec.search.algorithm == "bohb":
        from study.search import bohb

        s = spec.scheduler
        return bohb.BohbSampler(
            bohb.budgets(s.grace_period, s.reduction_factor, s.max_t),
            bohb.min_points(len(spec.space)),
            seed,
        )
    from study.search.startup import StartupGate

    # The start-up counted in proposals, not in finished trials (startup.py), so that
    # exactly n_startup_trials are random however many trials run at once.
    if spec.search.algorithm == "gp":
        # A Gaussian process, for small budgets: Optuna advises it up to a few hundred
        # trials, TPE beyond. It reads what cannot train from Trial.set_constraint as
        # TPE does (every trial it models carries the constraint: optuna_search.py).
        return StartupGate(optuna.samplers.GPSampler(seed=seed, n_startup_trials=0), startup, seed)
    # Optuna 5's TPE models the parameters jointly (multivariate) and lies about
    # running trials (constant_liar) by default; both suit concurrent trials.
    return StartupGate(optuna.samplers.TPESampler(seed=seed, n_startup_trials=0), startup, seed)


def _grouped(spec: Spec, max_concurrent: int, plan: TrialPlan, folder: Path) -> Any:
    """A fused study's searcher (fused.py): the spec's searcher, proposing members that
    GroupSearcher puts into groups of up to plan.fuse."""
    from study.search.fused import GroupSearcher, ProposalList, expand
    from study.search.optuna_search import HarnessLimiter

    if spec.space and spec.search.algorithm in OPTUNA_ALGORITHMS:
        inner = _optuna_search(spec, plan, folder, fused=True)
    else:
        proposals = expand(param_space(spec), spec.num_samples, spec.search.seed)
        inner = ProposalList(proposals)
    grouped = GroupSearcher(inner, plan, plan.fuse, spec.trial_count())
    return HarnessLimiter(grouped, max_concurrent=max_concurrent)


def param_space(spec: Spec) -> dict[str, Any]:
    """The Ray param_space of the spec's search space and variants."""
    from ray import tune

    space = {name: dim.to_ray() for name, dim in spec.space.items()}
    if spec.variants:
        space["variant"] = tune.grid_search(list(spec.variants))
    return space


def _basic(spec: Spec, max_concurrent: int, plan: TrialPlan, folder: Path) -> Any:
    from study.search.variants import HarnessVariantGenerator

    # A SearchGenerator ignores TuneConfig.max_concurrent_trials: it takes its own.
    return HarnessVariantGenerator(random_state=spec.search.seed, max_concurrent=max_concurrent)


SEARCHERS: dict[str, Callable[[Spec, int, TrialPlan, Path], Any]] = {
    "optuna": _optuna,
    "gp": _optuna,
    "bohb": _optuna,
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


def _hyperband(spec: Spec) -> Any:
    from study.search.brackets import HyperbandScheduler

    s = spec.scheduler
    return HyperbandScheduler(s.max_t, s.grace_period, s.reduction_factor)


def _fifo(spec: Spec) -> Any:
    from ray.tune.schedulers import FIFOScheduler

    return FIFOScheduler()


SCHEDULERS: dict[str, Callable[[Spec], Any]] = {"asha": _asha, "fifo": _fifo}


def make_searcher(spec: Spec, max_concurrent: int, plan: TrialPlan, folder: Path) -> Any:
    """The spec's searcher, limited to ``max_concurrent`` trials at a time.

    With nothing to search (no ``space``: num_samples runs of one fixed config, or
    only variants) there is nothing for Optuna to model, and Ray's OptunaSearch
    refuses an empty space; the trials are then generated as a grid."""
    if plan.fuse > 1:
        return _grouped(spec, max_concurrent, plan, folder)
    if not spec.space:
        return _basic(spec, max_concurrent, plan, folder)
    return SEARCHERS[spec.search.algorithm](spec, max_concurrent, plan, folder)


def make_scheduler(spec: Spec, fifo: bool = False) -> Any:
    """The spec's scheduler (``fifo``: FIFO whatever the spec says, for fused groups,
    which apply ASHA or bohb's brackets inside each group)."""
    if fifo:
        return _fifo(spec)
    if spec.search.algorithm == "bohb":  # Hyperband's brackets, whatever scheduler.name
        return _hyperband(spec)
    return SCHEDULERS[spec.scheduler.name](spec)
