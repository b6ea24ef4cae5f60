"""Spec validation: each refusal is one SpecError line naming what was wrong and what is allowed."""

from __future__ import annotations

import optuna
import pytest

from study import SpecError, load_spec
from study.specs import build_spec, presets
from study.specs.loading import apply_overrides, suite_specs
from study.specs.space import grid_range

BASE = {
    "name": "t",
    "trainable": "mnist_mlp",
    "metric": "val_acc",
    "mode": "max",
    "num_samples": 4,
    "search": {"algorithm": "optuna", "seed": 0},
    "space": {"lr": {"loguniform": [1e-4, 1.0]}},
}


def spec(**changes):
    raw = {**BASE, **changes}
    return build_spec({k: v for k, v in raw.items() if v is not ...})


def test_a_full_spec_is_typed():
    s = spec(
        scheduler={"name": "asha", "max_t": 20, "grace_period": 2, "reduction_factor": 3},
        resources={"cpu": 1, "gpu": 0.25},
        max_concurrent=2,
        max_failures=1,
        time_budget_s=600,
        config={"dataset": "mnist5k", "epochs": 20},
    )
    assert s.scheduler.max_t == 20 and s.scheduler.reduction_factor == 3.0
    assert s.resources.gpu == 0.25 and s.max_concurrent == 2 and s.time_budget_s == 600.0
    assert s.space["lr"].kind == "loguniform" and s.space["lr"].args == (1e-4, 1.0)
    assert s.checkpoint is True  # mnist trainables checkpoint
    assert build_spec(s.to_dict()) == s  # spec.yaml round-trips


@pytest.mark.parametrize(
    ("changes", "fragments"),
    [
        ({"trainable": "resnet"}, ["trainable:", "unknown trainable 'resnet'", "mnist_mlp"]),
        ({"metric": "accuracy"}, ["metric='accuracy'", "allowed:", "val_acc"]),
        ({"metric": "diverged"}, ["metric='diverged'"]),
        ({"mode": "maximise"}, ["mode: unknown value 'maximise'", "max, min"]),
        (
            {"search": {"algorithm": "bayes"}},
            ["search.algorithm", "'bayes'", "optuna, random, grid"],
        ),
        ({"search": {"algorithm": "optuna", "sampler": "tpe"}}, ["search: unknown key 'sampler'"]),
        ({"search": {"n_startup_trials": -1}}, ["search.n_startup_trials", ">= 0", "-1"]),
        ({"search": {"n_startup_trials": 2.5}}, ["search.n_startup_trials", "an integer"]),
        (
            {"search": {"algorithm": "random", "n_startup_trials": 3}},
            ["search.n_startup_trials", "optuna only", "random"],
        ),
        ({"scheduler": {"name": "pbt"}}, ["scheduler.name", "'pbt'", "asha, fifo"]),
        ({"scheduler": {"name": "asha", "max_t": 2, "grace_period": 5}}, ["grace_period <= max_t"]),
        ({"scheduler": {"name": "asha", "reduction_factor": 1}}, ["reduction_factor", "> 1"]),
        (
            {"space": {"lr": {"normal": [0, 1]}}},
            [
                "space.lr",
                "unknown distribution 'normal'",
                "uniform, loguniform, int, choice, grid, grid_range",
            ],
        ),
        (
            {"space": {"learning_rate": {"uniform": [0, 1]}}},
            ["space.learning_rate", "no config key 'learning_rate'", "allowed keys:"],
        ),
        ({"space": {"lr": {"uniform": [0.5, 0.1]}}}, ["low < high must hold", "low=0.5, high=0.1"]),
        ({"space": {"lr": {"uniform": [0.1, 0.1]}}}, ["low < high"]),
        ({"space": {"lr": {"loguniform": [0.0, 1.0]}}}, ["low > 0 must hold for a log scale"]),
        ({"space": {"lr": {"loguniform": [-1.0, 1.0]}}}, ["low > 0"]),
        (
            {"space": {"momentum": {"uniform": [0.0, 1.5]}}},
            ["space.momentum", "momentum=1.5", "out of range"],
        ),
        ({"space": {"batch_size": {"int": [16.5, 64]}}}, ["whole numbers"]),
        ({"space": {"lr": {"uniform": [0.1]}}}, ["needs a list of 2 numbers"]),
        ({"space": {"lr": {"uniform": ["a", 1]}}}, ["finite numbers"]),
        (
            {"space": {"lr": {"grid": [0.1, 0.2]}}},
            ["grid distributions go with search.algorithm grid"],
        ),
        ({"space": {"lr": {"choice": []}}}, ["non-empty list"]),
        ({"space": {"lr": 0.1}}, ["space.lr: must be one distribution"]),
        ({"space": ["lr"]}, ["space: must be a mapping"]),
        ({"num_samples": 0}, ["num_samples: must be >= 1 and <= 100000, got 0"]),
        ({"num_samples": -3}, ["num_samples: must be >= 1"]),
        ({"num_samples": "many"}, ["num_samples: must be an integer"]),
        ({"num_samples": 10**9}, ["num_samples", "<= 100000"]),
        ({"config": {"lr": "fast"}}, ["config.lr", "wrong type"]),
        ({"config": {"optimizer": "adam"}}, ["config.optimizer", "no config key 'optimizer'"]),
        ({"config": {"lr": 0.1}}, ["space.lr: also fixed in config"]),
        ({"resources": {"cpu": 0}}, ["resources.cpu: must be >= 0.1"]),
        ({"resources": {"gpu": -1}}, ["resources.gpu"]),
        ({"resources": {"gpu": "all"}}, ["resources.gpu", "'auto'"]),
        ({"resources": {"gpu": 1.5}}, ["above 1 must be whole"]),
        ({"max_failures": -1}, ["max_failures"]),
        ({"time_budget_s": 0}, ["time_budget_s: must be > 0"]),
        ({"name": "../escape"}, ["not a safe folder name"]),
        ({"name": "a/b"}, ["not a safe folder name"]),
        ({"name": ""}, ["not a safe folder name"]),
        ({"name": "x" * 101}, ["not a safe folder name"]),
        ({"colour": "red"}, ["spec: unknown key 'colour'", "allowed:"]),
        ({"metric": ...}, ["missing key 'metric'"]),
        ({"variants": {"a": {"lr": 0.1}}}, ["variants", "grid or random"]),
    ],
)
def test_refusals(changes, fragments):
    with pytest.raises(SpecError) as info:
        spec(**changes)
    message = str(info.value)
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message, message


def test_grid_range_includes_stop_on_the_step():
    values = grid_range(0.0, 4.0, 0.1)
    assert len(values) == 41 and values[0] == 0.0 and values[-1] == 4.0 and values[20] == 2.0
    assert grid_range(0, 1, 0.3) == [0.0, 0.3, 0.6, 0.9]
    assert grid_range(1, 1, 0.5) == [1.0]


def test_grid_algorithm_needs_grid_dimensions():
    with pytest.raises(SpecError, match="needs grid or grid_range for every parameter"):
        spec(search={"algorithm": "grid"})
    s = spec(search={"algorithm": "grid"}, space={"lr": {"grid_range": [0.1, 0.5, 0.1]}})
    assert len(s.space["lr"].values()) == 5


def test_worst_value_is_finite_and_on_the_losing_side():
    assert spec().worst_value() == 0.0
    assert spec(metric="val_acc", mode="min").worst_value() == 1.0
    loss = spec(metric="val_loss", mode="min").worst_value()
    assert loss == 1e20


def test_every_preset_is_a_valid_spec():
    assert set(presets.names()) >= {
        "quickstart",
        "brute-force-w",
        "loss-surface",
        "lr-divergence",
        "wb-search",
        "mlp-search",
        "mlp-remedies",
        "mlp-dose",
        "cnn-search",
    }
    for name in presets.names():
        raw = presets.load(name)
        specs = suite_specs(raw, None, None) if "suite" in raw else [load_spec(name)]
        assert specs, name
        for s in specs:
            assert s.trainable and s.metric


def test_brute_force_preset_is_the_seed_grid():
    s = load_spec("brute-force-w")
    assert s.space["w"].values() == grid_range(0.0, 4.0, 0.1)
    assert s.trainable == "loss_landscape" and s.mode == "min"


def test_remedies_preset_has_every_remedy_and_seeds():
    s = load_spec("mlp-remedies")
    assert set(s.variants) == {
        "baseline",
        "weight_decay",
        "momentum",
        "lr_decay",
        "early_stopping",
        "dropout",
        "all",
    }
    assert len(s.space["seed"].values()) == 5


def test_dose_preset_has_three_strengths_of_each_remedy_paired_over_seeds():
    s = load_spec("mlp-dose")
    changed: dict[str, list[float]] = {}
    for name, override in s.variants.items():
        if name == "baseline":
            assert override == {}
            continue
        assert len(override) == 1, name  # one remedy per variant: a dose curve
        ((key, value),) = override.items()
        changed.setdefault(key, []).append(value)
    assert {k: len(v) for k, v in changed.items()} == dict.fromkeys(
        ("weight_decay", "dropout", "momentum", "lr_decay", "early_stop_patience"), 3
    )
    assert len(s.space["seed"].values()) == 5 and s.trial_count() == 80


def test_overrides_fix_config_and_set_spec_keys():
    raw = apply_overrides(BASE, {"lr": 0.05, "scheduler.max_t": 5, "search.seed": 3})
    assert raw["config"] == {"lr": 0.05} and "lr" not in raw["space"]
    assert raw["scheduler"] == {"max_t": 5} and raw["search"]["seed"] == 3
    assert BASE["space"] == {"lr": {"loguniform": [1e-4, 1.0]}}  # not mutated
    with pytest.raises(SpecError, match="'name' is not a mapping"):
        apply_overrides(BASE, {"name.x": 1})


def test_load_spec_names_presets_on_a_typo(tmp_path):
    with pytest.raises(SpecError, match="no such spec file or preset; presets: brute-force-w"):
        load_spec("brute-force")


def test_yaml_errors_are_one_line(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed\n")
    with pytest.raises(SpecError, match=r"not valid YAML at line \d+"):
        load_spec(bad)
    tagged = tmp_path / "tagged.yaml"
    tagged.write_text("name: !!python/object/apply:os.system ['echo pwned']\n")
    with pytest.raises(SpecError, match="not valid YAML"):
        load_spec(tagged)
    listy = tmp_path / "list.yaml"
    listy.write_text("- 1\n- 2\n")
    with pytest.raises(SpecError, match="spec: must be a mapping"):
        load_spec(listy)


def test_choices_of_lists_travel_as_indices():
    s = spec(trainable="mnist_cnn", space={"channels": {"choice": [[10, 20], [8, 16]]}})
    dim = s.space["channels"]
    assert dim.encoded and dim.decode(1) == [8, 16]
    plain = spec(space={"batch_size": {"choice": [16, 32]}}).space["batch_size"]
    assert not plain.encoded and plain.decode(32) == 32


def test_suite_parts_override_presets():
    specs = suite_specs(presets.load("quickstart"), None, 2)
    assert [s.num_samples for s in specs] == [2, 2]
    with pytest.raises(SpecError, match="unknown preset"):
        suite_specs({"suite": [{"preset": "nope"}]}, None, None)
    with pytest.raises(SpecError, match="non-empty list"):
        suite_specs({"suite": []}, None, None)
    with pytest.raises(SpecError, match="course: must be true or false, got 'yes'"):
        suite_specs({"suite": [{"preset": "brute-force-w"}], "course": "yes"}, None, None)
    with pytest.raises(SpecError, match="allowed: suite, name, description, course"):
        suite_specs({"suite": [{"preset": "brute-force-w"}], "chapters": 9}, None, None)


def test_the_course_presets_name_every_chapter_in_the_notes_order():
    from analysis.course import CHAPTERS

    for name in ("course", "course-quick"):
        raw = presets.load(name)
        assert raw["course"] is True
        specs = suite_specs(raw, None, None)
        assert [s.name for s in specs] == [c.study for c in CHAPTERS]
        assert [s.trainable for s in specs] == [c.trainable for c in CHAPTERS]


def test_existing_experiment_folders_are_never_reused(tmp_path):
    from study.run.start import experiment_dir

    assert experiment_dir(tmp_path, "same") == tmp_path / "same"
    (tmp_path / "same").mkdir()
    assert experiment_dir(tmp_path, "same") == tmp_path / "same"  # empty: fine to use
    (tmp_path / "same" / "trials.csv").write_text("kept")
    (tmp_path / "same-2").mkdir()
    (tmp_path / "same-2" / "spec.yaml").write_text("kept")
    assert experiment_dir(tmp_path, "same") == tmp_path / "same-3"
    with pytest.raises(SpecError, match="safe folder name"):
        experiment_dir(tmp_path, "../same")


def test_missing_full_mnist_is_refused_before_ray_starts(tmp_path, monkeypatch):
    import ray

    from study import run_study

    monkeypatch.setattr(ray, "init", lambda *a, **k: pytest.fail("Ray was started"))
    spec = {**BASE, "config": {"dataset": "mnist", "data_root": str(tmp_path / "nowhere")}}
    with pytest.raises(SpecError, match=r"config\.dataset: dataset=.mnist.: files not found under"):
        run_study(spec, storage=tmp_path / "st")
    assert not (tmp_path / "st").exists()


def _searcher(s, tmp_path, concurrent=3):
    from study.search.registry import make_searcher
    from study.specs import Resources
    from study.specs.plan import make_plan

    return make_searcher(s, concurrent, make_plan(s, Resources()), tmp_path)


def test_optuna_is_told_how_each_trial_ended(tmp_path):
    """Invalid and diverged -> COMPLETE and infeasible (a constraint), stopped by the
    scheduler -> PRUNED (feasible)."""
    s = spec(metric="val_acc", num_samples=3)
    searcher = _searcher(s, tmp_path)
    searcher.set_search_properties("objective", "max", {"lr": s.space["lr"].to_ray()})
    endings = {
        "a": {"status": "invalid", "objective": 0.0, "reason": "no data"},
        "b": {"status": "running", "objective": 0.6},
        "c": {"status": "diverged", "objective": 0.0, "divergence": "nan"},
    }
    for trial_id, last in endings.items():
        assert searcher.suggest(trial_id) is not None
        searcher.on_trial_result(trial_id, {**last, "training_iteration": 1})
        searcher.on_trial_complete(trial_id, {**last, "training_iteration": 1})
    trials = searcher.searcher._ot_study.trials
    states = {t.number: (t.state.name, t.value) for t in trials}
    # A pruned trial keeps its last intermediate value (step 1) for TPE to rank it by.
    assert states == {0: ("COMPLETE", 0.0), 1: ("PRUNED", 0.6), 2: ("COMPLETE", 0.0)}
    assert [t.constraints for t in trials] == [{"cannot_train": 1.0}, {}, {"cannot_train": 1.0}]
    assert [t.user_attrs["status"] for t in trials] == ["invalid", "stopped", "diverged"]
    assert trials[0].user_attrs["reason"] == "no data" and trials[0].user_attrs["trial_id"] == "a"


def test_invalid_proposals_never_reach_ray(tmp_path):
    """Impossible Conv2d geometries are skipped inside suggest(): each is recorded and
    told to Optuna, and only valid configs come out."""
    from study.records import ledger
    from study.specs import Resources
    from study.specs.plan import check_proposal, make_plan

    s = build_spec(
        {
            "trainable": "mnist_cnn",
            "metric": "val_acc",
            "num_samples": 12,
            "search": {"algorithm": "optuna", "seed": 0, "n_startup_trials": 5},
            "config": {"dataset": "mnist5k"},
            "space": {
                "kernel_size": {"choice": [3, 5, 7]},
                "stride": {"choice": [1, 2]},
                "padding": {"choice": [0, 1]},
                "dilation": {"choice": [1, 2, 3]},
                "channels": {"choice": [[4, 8], [6, 9]]},
                "groups": {"choice": [1, 2]},
            },
        }
    )
    searcher = _searcher(s, tmp_path)
    searcher.set_search_properties("objective", "max", {k: d.to_ray() for k, d in s.space.items()})
    plan = make_plan(s, Resources())
    for i in range(12):
        params = searcher.suggest(f"t{i}")
        assert check_proposal(plan, params)[1] is None, params
        searcher.on_trial_complete(f"t{i}", {"status": "completed", "objective": 0.9})
    skipped = ledger.read_invalid(tmp_path)
    assert skipped and searcher.searcher.invalid_count == len(skipped)
    for entry in skipped:
        assert entry["reason"].startswith("mnist_cnn:") and entry["trial_id"].startswith("invalid_")
        assert check_proposal(plan, entry["params"])[1] == entry["reason"]
    study = searcher.searcher._ot_study
    infeasible = [t for t in study.trials if t.constraints]
    assert len(infeasible) == len(skipped) and all(t.state.name == "COMPLETE" for t in infeasible)


def test_a_space_with_nothing_valid_ends_the_search(tmp_path, monkeypatch):
    from study.search import optuna_search

    monkeypatch.setattr(optuna_search, "MAX_INVALID_IN_ROW", 15)
    s = build_spec(
        {
            "trainable": "mnist_cnn",
            "metric": "val_acc",
            "config": {"dataset": "mnist5k", "channels": [8, 8, 8, 8, 8, 8]},
            "space": {"kernel_size": {"choice": [7, 9]}},
        }
    )
    searcher = _searcher(s, tmp_path)
    searcher.set_search_properties("objective", "max", {k: d.to_ray() for k, d in s.space.items()})
    assert searcher.suggest("t0") == "FINISHED"
    assert "shrinks below 1" in searcher.searcher.exhausted


def test_n_startup_trials_reaches_tpe_and_round_trips(tmp_path):
    s = spec(search={"algorithm": "optuna", "seed": 1, "n_startup_trials": 3})
    assert build_spec(s.to_dict()) == s
    sampler = _searcher(s, tmp_path, 2).searcher._sampler
    assert sampler.startup == 3  # counted in proposals (study/search/startup.py)
    assert isinstance(sampler.sampler, optuna.samplers.TPESampler)
    assert spec().search.n_startup_trials == 10  # Optuna's own default
    random = spec(search={"algorithm": "random"})
    assert "n_startup_trials" not in random.to_dict()["search"]
    assert build_spec(random.to_dict()) == random


def test_a_spec_with_nothing_to_search_runs_fixed_configs(tmp_path):
    """Ray's OptunaSearch refuses an empty space; num_samples runs of one config need none."""
    from ray.tune.search.basic_variant import BasicVariantGenerator

    s = build_spec({**BASE, "space": {}, "num_samples": 3})
    assert s.search.algorithm == "optuna" and not s.space
    assert isinstance(_searcher(s, tmp_path, 2), BasicVariantGenerator)


def test_yaml_merge_keys_override_and_duplicates_are_refused(tmp_path):
    from study.specs.loading import read_yaml

    path = tmp_path / "s.yaml"
    path.write_text("base: &b {epochs: 5, lr: 0.1}\nconfig:\n  <<: *b\n  lr: 0.2\n")
    assert read_yaml(path)["config"] == {"epochs": 5, "lr": 0.2}  # a merge, then an override
    path.write_text("config:\n  lr: 0.1\n  epochs: 3\n  lr: 0.2\n")
    with pytest.raises(SpecError, match=r"line 4, column 3: duplicate key 'lr'"):
        read_yaml(path)
