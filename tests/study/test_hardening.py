"""Bounds and bad inputs from the hardening issue, each refused in one line before Ray
starts (Ray is replaced by a stand-in that refuses to start, as in test_bad_input)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
import yaml
from bad_inputs import alias_bomb
from cli_inprocess import run_cli

import trainables
from study.errors import SpecError, StudyError
from study.execution import cluster
from study.specs import MAX_TRIALS, build_spec, check_name
from study.specs.loading import read_yaml
from study.storage.trust import check_owned
from trainables import InvalidConfig, parse_assignments

REACHED_RAY = "REACHED RAY"
BASE = {"trainable": "linear_w", "metric": "loss", "mode": "min"}


@pytest.fixture(autouse=True)
def no_ray(monkeypatch):
    def refuse(address):
        raise cluster.ClusterError(REACHED_RAY)

    monkeypatch.setattr(cluster, "connect", refuse)


def test_a_study_above_the_trial_cap_is_refused_with_its_count():
    spec = {
        **BASE,
        "num_samples": 1000,
        "search": {"algorithm": "grid"},
        "space": {"lr": {"grid_range": [0.001, 1.0, 0.001]}, "w0": {"grid": [1, 2, 3]}},
    }
    with pytest.raises(SpecError, match=r"3,000,000 trials .*at most 100,000"):
        build_spec(spec)
    assert build_spec({**spec, "num_samples": 1}).trial_count() == 3000 <= MAX_TRIALS


@pytest.mark.parametrize("cpu", [0.001, 1e-300, 0.05])
def test_a_cpu_share_below_the_floor_is_refused(cpu):
    with pytest.raises(SpecError, match=r"resources.cpu: must be >= 0.1"):
        build_spec({**BASE, "resources": {"cpu": cpu}})
    assert build_spec({**BASE, "resources": {"cpu": 0.1}}).resources.cpu == 0.1


def test_a_cnn_that_needs_terabytes_is_an_invalid_config_before_torch():
    config = {
        "channels": [1024] * 6,
        "padding": 28,
        "pool": "none",
        "batch_size": 65536,
    }
    with pytest.raises(InvalidConfig, match=r"GiB to train.*at most 2 GiB"):
        trainables.TRAINABLES["mnist_cnn"](config)


def test_names_are_matched_whole():
    with pytest.raises(SpecError, match="safe folder name"):
        check_name("abc\n")
    assert check_name("abc") == "abc"


def test_numbers_typed_as_people_type_them():
    assert parse_assignments(["lr=1e-3", "w0=2E2", "epochs=10", "tag=1e"]) == {
        "lr": 0.001,
        "w0": 200.0,
        "epochs": 10,
        "tag": "1e",
    }


def test_1e_3_in_a_spec_file_is_a_number(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text("trainable: linear_w\nmetric: loss\nconfig: {lr: 1e-3}\n")
    assert build_spec(read_yaml(path)).config["lr"] == 0.001


def test_an_alias_bomb_is_refused_in_one_short_line(tmp_path):
    path = tmp_path / "bomb.yaml"
    path.write_text("\n".join(alias_bomb()) + "\n")
    with pytest.raises(SpecError, match="expands to more than 100,000 values") as caught:
        read_yaml(path)
    assert len(str(caught.value)) < 300
    # An alias that is refused for its value is shown by a bounded repr.
    with pytest.raises(SpecError) as caught:
        build_spec({**BASE, "config": {"lr": [[1] * 10_000] * 10_000}})
    assert len(str(caught.value)) < 400


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["--num-samples", "9" * 400], "num_samples: must be >= 1 and <= 100000"),
        (["--set", "epochs=" + "9" * 400], "is out of range"),
        (["--set", "seed=" + "1" + "0" * 23], "seed"),
        (["--set", "lr=1e39"], "lr=1e+39 is out of range; allowed: 0 < lr <= 1000000"),
        (["--gpus-per-trial", "inf"], "--gpus-per-trial: must be a number"),
        (["--gpus-per-trial", "1.5"], "--gpus-per-trial: a share above 1 must be whole"),
        (["--gpus-per-trial", "100"], "--gpus-per-trial: must be >= 0 and <= 64"),
    ],
)
def test_bad_numbers_are_one_line_before_ray(tmp_path, argv, fragment):
    code, _, err = run_cli(["run", "lr-divergence", "--storage", str(tmp_path), *argv])
    assert code == 2, err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert fragment in err
    assert REACHED_RAY not in err
    assert not any(tmp_path.iterdir())  # nothing written


def test_the_trainable_cli_refuses_a_huge_number_in_one_line(capsys):
    from trainables.__main__ import main

    assert main(["linear_w", "--set", "epochs=" + "9" * 400]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "out of range" in err


def test_seeds_are_bounded_everywhere():
    for name, key in (
        ("linear_w", "data_seed"),
        ("linear_wb", "seed"),
        ("linear_wb", "data_seed"),
        ("loss_landscape", "data_seed"),
        ("mnist_mlp", "seed"),
        ("mnist_cnn", "seed"),
    ):
        row = next(r for r in trainables.config_help(name) if r["key"] == key)
        assert row["allowed"] == f"0 <= {key} <= 4294967295", name
    with pytest.raises(SpecError, match=r"search\.seed"):
        build_spec({**BASE, "search": {"seed": 2**32}})


def _study_folder(tmp_path: Path, resources: dict) -> Path:
    folder = tmp_path / "st" / "old"
    folder.mkdir(parents=True)
    spec = {**BASE, "name": "old", "run": {"resources": resources}}
    (folder / "spec.yaml").write_text(yaml.safe_dump(spec))
    (folder / "tuner.pkl").write_bytes(b"\x80\x04N.")
    return folder


def test_resume_checks_the_recorded_resources_before_ray(tmp_path):
    folder = _study_folder(tmp_path, {"cpu": 1e-300, "gpu": float("inf")})
    code, _, err = run_cli(["resume", str(folder)])
    assert code == 2 and "resources.cpu" in err and REACHED_RAY not in err
    folder = _study_folder(tmp_path / "b", {"cpu": 1.0, "gpu": 0.0})
    code, _, err = run_cli(["resume", str(folder)])
    assert REACHED_RAY in err  # valid: it goes on to start Ray


def test_resume_refuses_a_folder_anyone_may_write(tmp_path):
    folder = _study_folder(tmp_path, {"cpu": 1.0, "gpu": 0.0})
    os.chmod(folder / "tuner.pkl", 0o666)
    code, _, err = run_cli(["resume", str(folder)])
    assert code == 2 and "anyone may write it" in err and "tuner.pkl" in err
    os.chmod(folder / "tuner.pkl", 0o644)
    (folder / "tuner.pkl").unlink()
    (folder / "tuner.pkl").symlink_to(tmp_path / "elsewhere.pkl")
    with pytest.raises(StudyError, match="not a regular file"):
        check_owned(folder)


def test_resume_refuses_a_folder_another_user_owns(tmp_path, monkeypatch):
    folder = _study_folder(tmp_path, {"cpu": 1.0, "gpu": 0.0})
    me = os.getuid()
    monkeypatch.setattr(os, "getuid", lambda: me + 1)
    with pytest.raises(StudyError, match=r"owned by uid \d+, not by you"):
        check_owned(folder)
    assert stat.S_IMODE(os.stat(folder).st_mode) & stat.S_IWOTH == 0


def test_resume_help_says_it_unpickles():
    code, out, _ = run_cli(["resume", "--help"])
    text = " ".join(out.split())
    assert code == 0 and "unpickles" in text and "resume only folders you wrote" in text
