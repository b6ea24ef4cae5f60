"""Exactly n_startup_trials random proposals with trials running side by side
(ray-project/ray#52535; study/search/startup.py)."""

from __future__ import annotations

import optuna
import pytest

from study import load_spec
from study.search.registry import make_searcher
from study.search.startup import StartupGate
from study.specs import Resources
from study.specs.plan import make_plan

SPEC = {
    "trainable": "linear_w",
    "metric": "loss",
    "num_samples": 12,
    "config": {"data": "outlier", "epochs": 3},
    "space": {"lr": {"loguniform": [1e-3, 0.05]}},
}


def _modelled(sampler: optuna.samplers.TPESampler, monkeypatch) -> list[int]:
    """Spy on TPE's model: the trial numbers it was fitted for."""
    calls: list[int] = []
    fit = sampler._sample

    def spy(study, trial, search_space):
        calls.append(trial.number)
        return fit(study, trial, search_space)

    monkeypatch.setattr(sampler, "_sample", spy)
    return calls


def _ask_running(study: optuna.Study, count: int, finished: int) -> None:
    """``finished`` trials told, then ``count`` more asked and left running."""
    for i in range(finished):
        trial = study.ask()
        trial.suggest_float("lr", 1e-3, 0.05, log=True)
        study.tell(trial, i / 10)
    for _ in range(count):
        study.ask().suggest_float("lr", 1e-3, 0.05, log=True)


def test_optuna_alone_draws_at_random_while_trials_run(monkeypatch):
    """The bug: TPE counts finished trials, so with 5 running after 2 finished, all 7
    proposals are random, n_startup_trials 3 notwithstanding."""
    tpe = optuna.samplers.TPESampler(seed=0, n_startup_trials=3)
    modelled = _modelled(tpe, monkeypatch)
    _ask_running(optuna.create_study(sampler=tpe), count=5, finished=2)
    assert modelled == []


def test_the_gate_draws_exactly_the_start_up_at_random(monkeypatch):
    tpe = optuna.samplers.TPESampler(seed=0, n_startup_trials=0)
    modelled = _modelled(tpe, monkeypatch)
    _ask_running(optuna.create_study(sampler=StartupGate(tpe, 3, seed=0)), count=5, finished=2)
    assert modelled == [3, 4, 5, 6]


@pytest.mark.parametrize("algorithm", ["optuna", "gp"])
def test_the_harness_searchers_count_the_start_up_in_proposals(tmp_path, algorithm):
    spec = load_spec({**SPEC, "search": {"algorithm": algorithm, "seed": 0, "n_startup_trials": 3}})
    searcher = make_searcher(spec, 6, make_plan(spec, Resources()), tmp_path)
    sampler = searcher.searcher._sampler
    assert isinstance(sampler, StartupGate) and sampler.startup == 3
    # The same random draws as the sampler's own start-up would make, trial by trial.
    searcher.set_search_properties("objective", "min", {"lr": spec.space["lr"].to_ray()})
    first = [searcher.suggest(f"t{i}")["lr"] for i in range(3)]
    plain = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    assert first == [plain.ask().suggest_float("lr", 1e-3, 0.05, log=True) for _ in range(3)]
