"""Reproducible studies: the same spec and ``search.seed`` give the same trials.

Each trial's seed comes from the search seed and the trial's index (its place in the
searcher's order of proposals), not from Ray's random trial id, so a rerun gives the
same configs, the same per-trial seeds and, on CPU, the same metrics: trials.csv agrees
except for ids and timings. ``search.seed: null`` keeps fresh randomness.
"""

from __future__ import annotations

import pandas as pd
import pytest

from study import run_study

pytestmark = [pytest.mark.usefixtures("ray_address"), pytest.mark.slow]

TINY = {"epochs": 2, "train_limit": 256, "eval_limit": 100, "batch_size": 32}
# What may differ between two runs of one spec: ids, clocks and where files went.
VARYING = ("trial_id", "timestamp", "time_total_s", "time_s", "trial_dir", "error_file")


def _spec(name: str, algorithm: str, seed: int | None = 3, **more) -> dict:
    return {
        "name": name,
        "trainable": "mnist_mlp",
        "metric": "val_acc",
        "num_samples": 2 if algorithm == "grid" else 4,
        "search": {"algorithm": algorithm, "seed": seed},
        "config": dict(TINY),
        "space": {
            "lr": {"grid": [0.05, 0.2]} if algorithm == "grid" else {"loguniform": [0.01, 0.5]}
        },
        **more,
    }


def _comparable(folder) -> pd.DataFrame:
    trials = pd.read_csv(folder / "trials.csv")
    drop = [c for c in trials if c in VARYING or c.endswith(("time_s", "samples_per_s"))]
    return trials.drop(columns=drop)


@pytest.mark.parametrize("algorithm", ["grid", "random", "optuna"])
def test_the_same_spec_and_search_seed_give_the_same_trials(tmp_path, algorithm):
    first = run_study(_spec("a", algorithm), storage=tmp_path, report=False)
    second = run_study(_spec("b", algorithm), storage=tmp_path, report=False)
    got, want = _comparable(second), _comparable(first)
    assert len(want) == 4 and (want["status"] == "completed").all()
    # Rows in the searcher's order, each with its index; seeds differ between trials.
    assert list(want["trial_index"]) == [0, 1, 2, 3]
    assert want["trial_seed"].nunique() == 4
    pd.testing.assert_frame_equal(got, want)


def test_a_fused_study_gives_each_trial_the_seed_it_has_unfused(tmp_path):
    """Members take the index the unfused trial would have: same seeds, same results
    (within float32 rounding, tests/study/test_fused.py)."""
    alone = _comparable(run_study(_spec("alone", "grid"), storage=tmp_path, report=False))
    fused = _comparable(run_study(_spec("fused", "grid", fuse=4), storage=tmp_path, report=False))
    assert list(fused["trial_seed"]) == list(alone["trial_seed"])
    assert list(fused["config/lr"]) == list(alone["config/lr"])
    assert fused["val_acc"].to_numpy() == pytest.approx(alone["val_acc"].to_numpy(), rel=1e-4)


def test_a_null_search_seed_draws_fresh_trial_seeds_each_run(tmp_path):
    first = _comparable(run_study(_spec("a", "grid", seed=None), storage=tmp_path, report=False))
    second = _comparable(run_study(_spec("b", "grid", seed=None), storage=tmp_path, report=False))
    assert list(first["config/lr"]) == list(second["config/lr"])  # the grid is the grid
    assert not set(first["trial_seed"]) & set(second["trial_seed"])
    assert first["search_seed"].isna().all()
