"""Studies on a real Ray head node (started once per session on 127.0.0.1)."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest
import yaml
from journal_check import assert_matches_trials_csv

from study import SpecError, run_study
from study.specs.space import grid_range

pytestmark = pytest.mark.usefixtures("ray_address")


def _optuna_trials(folder):
    """The searcher's own Optuna study, as Ray Tune saved it in the experiment folder."""
    from ray.tune.search.optuna import OptunaSearch

    searcher = OptunaSearch()
    searcher.restore_from_dir(str(folder))
    return searcher._ot_study.trials


def test_diverged_trials_tell_optuna_a_finite_worst_value(tmp_path):
    folder = run_study(
        {
            "name": "div",
            "trainable": "linear_w",
            "metric": "loss",
            "mode": "min",
            "num_samples": 8,
            "search": {"algorithm": "optuna", "seed": 0},
            "config": {"data": "outlier", "epochs": 40},
            "space": {"lr": {"loguniform": [1e-3, 1.0]}},
        },
        storage=tmp_path,
        report=False,
    )
    assert folder == tmp_path / "div"
    trials = pd.read_csv(folder / "trials.csv")
    assert len(trials) == 8 and set(trials["status"]) == {"completed", "diverged"}
    diverged = trials[trials["status"] == "diverged"]
    completed = trials[trials["status"] == "completed"]
    assert diverged["config/lr"].min() > completed["config/lr"].max()  # the boundary
    assert (diverged["objective"] == 1e20).all() and diverged["loss"].map(math.isfinite).all()
    assert (completed["epochs"] == 40).all() and (diverged["epochs"] < 40).all()
    assert diverged["reason"].str.contains("nan/inf/overflow|mse=").all()
    assert (trials["search_seed"] == 0).all()
    assert "config/seed" not in trials  # linear_w has nothing random: no per-trial seed
    ot = _optuna_trials(folder)
    assert len(ot) == 8
    values = sorted(t.value for t in ot)
    assert all(math.isfinite(v) for v in values)
    assert values.count(1e20) == len(diverged)  # TPE learns where training blows up
    history = pd.read_csv(folder / "history.csv")
    assert len(history) == trials["epochs"].sum()
    assert not history["objective"].isna().any()
    study = assert_matches_trials_csv(folder)  # optuna-dashboard's view of the study
    assert study.study_name == "div" and study.direction.name == "MINIMIZE"


def test_invalid_conv_configs_become_invalid_trials(tmp_path):
    folder = run_study(
        {
            "name": "conv",
            "trainable": "mnist_cnn",
            "metric": "val_acc",
            "mode": "max",
            "num_samples": 6,
            "search": {"algorithm": "optuna", "seed": 1},
            "config": {"epochs": 1, "train_limit": 64, "eval_limit": 40},
            "space": {"groups": {"choice": [1, 3, 7]}, "channels": {"choice": [[10, 20], [6, 12]]}},
        },
        storage=tmp_path,
        report=False,
    )
    trials = pd.read_csv(folder / "trials.csv")
    invalid = trials[trials["status"] == "invalid"]
    # num_samples counts trials that train; invalid proposals are skipped at no cost.
    assert len(trials) - len(invalid) == 6 and len(invalid) >= 1
    # groups=7 divides no channel count; groups=3 divides [6, 12] but not [10, 20].
    bad = (trials["config/groups"] == 7) | (
        (trials["config/groups"] == 3) & (trials["config/channels"] == "[10, 20]")
    )
    assert set(invalid.index) == set(trials[bad].index)
    assert invalid["reason"].str.contains(r"groups=\d must divide the channels of conv2").all()
    assert (trials.loc[~bad, "status"] == "completed").all()
    assert (invalid["epochs"] == 0).all()
    assert invalid["trial_dir"].isna().all()  # never a Ray trial
    ray_trials = [p for p in folder.iterdir() if p.name.startswith("run_trial")]
    assert len(ray_trials) == 6
    ot = _optuna_trials(folder)
    infeasible = [t for t in ot if t.constraints]
    assert len(infeasible) == len(invalid) and all(t.state.name == "COMPLETE" for t in infeasible)
    assert_matches_trials_csv(folder)


def test_error_trials_are_retried_and_the_study_goes_on(tmp_path):
    marker = tmp_path / "failed-once"
    folder = run_study(
        {
            "name": "err",
            "trainable": "flaky",
            "metric": "loss",
            "mode": "min",
            "search": {"algorithm": "grid"},
            "max_failures": 1,
            "config": {"epochs": 3, "fail_at": 2},
            "space": {"marker": {"grid": ["", str(marker)]}},
        },
        storage=tmp_path,
        report=False,
    )
    trials = pd.read_csv(folder / "trials.csv").set_index("config/marker", drop=False)
    always = trials.loc[trials["config/marker"].isna()].iloc[0]
    once = trials.loc[str(marker)]
    assert always["status"] == "error"
    assert "flaky failed on purpose at epoch 2" in always["reason"]
    traceback = Path(always["error_file"]).read_text()
    assert 'harness_test_trainables.py", line' in traceback
    assert "Failure # 2" in traceback  # tried once more (max_failures: 1), then given up
    # The transient failure is retried from the checkpoint of epoch 1.
    assert once["status"] == "completed" and once["resumed_from"] == 1 and once["epoch"] == 3


def test_brute_force_preset_reproduces_the_seed_curve(tmp_path):
    folder = run_study("brute-force-w", storage=tmp_path)  # with its report
    trials = pd.read_csv(folder / "trials.csv").sort_values("config/w")
    assert trials["config/w"].round(10).tolist() == grid_range(0.0, 4.0, 0.1)
    assert (trials["status"] == "completed").all()
    best = trials.loc[trials["loss"].idxmin()]
    assert best["config/w"] == pytest.approx(2.0) and best["loss"] == pytest.approx(0.0, abs=1e-12)
    assert trials["loss"].iloc[0] == pytest.approx(18.6667, abs=1e-4)
    assert trials["loss"].iloc[-1] == pytest.approx(18.6667, abs=1e-4)
    # The report, straight from the study: the seed's curve as a table and a figure.
    report = folder / "report"
    assert (report / "index.html").is_file() and (report / "mse_vs_w.png").is_file()
    curve = pd.read_csv(report / "mse_vs_w.csv")
    assert len(curve) == 41 and curve.loc[curve["mse"].idxmin(), "w"] == pytest.approx(2.0)
    assert "Minimum MSE 0 at w = 2" in (report / "report.md").read_text()
    assert yaml.safe_load((folder / "spec.yaml").read_text())["run"]["wall_s"] > 0


TINY_MNIST = {"epochs": 1, "train_limit": 128, "eval_limit": 100}
TINY = {
    "quickstart": ({"epochs": 1}, 2),
    "loss-surface": ({"space.w": {"grid": [1.0, 2.0]}, "space.b": {"grid": [0.0, 0.5]}}, None),
    "lr-divergence": ({"epochs": 5}, 3),
    "wb-search": ({"epochs": 5, "scheduler.max_t": 5, "scheduler.grace_period": 1}, 2),
    "mlp-search": ({**TINY_MNIST, "scheduler.max_t": 1, "scheduler.grace_period": 1}, 2),
    "mlp-remedies": ({**TINY_MNIST, "space.seed": {"grid": [0]}}, None),
    "mlp-dose": ({**TINY_MNIST, "space.seed": {"grid": [0]}}, None),
    "cnn-search": ({**TINY_MNIST, "scheduler.max_t": 1, "scheduler.grace_period": 1}, 2),
    "lr-range": ({"steps": 10, "train_limit": 256, "eval_limit": 100}, None),
}


@pytest.mark.slow
@pytest.mark.parametrize("preset", sorted(TINY))
def test_every_preset_runs_at_a_tiny_size(preset, tmp_path):
    sets, num_samples = TINY[preset]
    folder = run_study(preset, storage=tmp_path, set=sets, num_samples=num_samples, report=False)
    studies = [p.parent for p in folder.rglob("trials.csv")]
    assert studies
    for study_dir in studies:
        trials = pd.read_csv(study_dir / "trials.csv")
        assert len(trials) >= 1
        assert set(trials["status"]) <= {
            "completed",
            "stopped",
            "early_stopped",
            "diverged",
            "invalid",
        }
        assert (study_dir / "spec.yaml").is_file() and (study_dir / "history.csv").is_file()
    if preset == "mlp-remedies":
        trials = pd.read_csv(folder / "trials.csv")
        assert sorted(trials["variant"]) == sorted(
            ["baseline", "weight_decay", "momentum", "lr_decay", "early_stopping", "dropout", "all"]
        )
        wd = trials.set_index("variant").loc["all"]
        assert wd["config/weight_decay"] == 5e-4 and wd["config/dropout"] == 0.3


def test_gpus_on_a_cluster_without_gpus_is_a_clear_error(tmp_path):
    from study.execution.cluster import ClusterError

    spec = {
        "name": "gpu",
        "trainable": "loss_landscape",
        "metric": "loss",
        "mode": "min",
        "search": {"algorithm": "grid"},
        "space": {"w": {"grid": [1.0]}},
        "resources": {"gpu": 0.5},
    }
    with pytest.raises(ClusterError, match="has no GPUs; use gpu: 0 or gpu: auto"):
        run_study(spec, storage=tmp_path, report=False)
    auto = run_study({**spec, "resources": {"gpu": "auto"}}, storage=tmp_path, report=False)
    assert pd.read_csv(auto / "trials.csv")["status"].tolist() == ["completed"]


def test_bad_spec_fails_before_ray_runs_anything(tmp_path):
    with pytest.raises(SpecError):
        run_study({"trainable": "linear_w", "metric": "loss", "num_samples": 0}, storage=tmp_path)
    assert not any(tmp_path.iterdir())
