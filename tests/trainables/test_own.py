"""Your own trainables without Ray: the @trainable decorator, import paths, and plain
Ray Tune functions run alone with ray.tune.report captured (README, "Your own
trainables"; the README's examples themselves run here as a reader runs them)."""

from __future__ import annotations

import contextlib
import math
import subprocess
import sys
import textwrap
from dataclasses import dataclass

import pytest
from readme_examples import write_examples

import trainables
from trainables import InvalidConfig, MemoryCheckpointer, Metric, trainable
from trainables.__main__ import main
from trainables.config import param

from .test_cli import ENV


def _cli(cwd, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "trainables", *args],
        cwd=cwd,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=120,
    )


# --- the README's examples, run alone ----------------------------------------------------


def test_the_readme_examples_train_alone_and_list_their_keys(tmp_path, monkeypatch, capsys):
    write_examples(tmp_path)
    out = _cli(tmp_path, "my_digits:digits_mlp", "--set", "lr=0.5", "epochs=2")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert [line.split()[2] for line in lines[:2]] == ["epoch=1", "epoch=2"]
    assert all("diverged=False" in line for line in lines[:2])
    assert lines[-1].startswith("final: loss=")
    acc = float(lines[-1].split("val_acc=")[1].split()[0])
    assert 0.5 < acc <= 1.0  # two epochs of SGD at lr 0.5 learn the digits
    plain = _cli(
        tmp_path, "ray_digits:train_fn", "--set", "lr=0.5", "hidden=16", "epochs=2", "seed=0"
    )
    assert plain.returncode == 0, plain.stderr
    assert plain.stdout.splitlines()[1].startswith("loss=") and "epoch=2" in plain.stdout
    # --keys, in this process (the same main, without another torch import)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))
    assert main(["my_digits:digits_mlp", "--keys"]) == 0
    assert [line.split()[:2] for line in capsys.readouterr().out.splitlines()] == [
        ["lr", "float"],
        ["hidden", "int"],
        ["epochs", "int"],
        ["seed", "int"],
    ]
    assert main(["ray_digits:train_fn", "--keys"]) == 0
    assert "declares no config keys" in capsys.readouterr().out
    assert main(["my_digits_full:digits_full", "--keys"]) == 0
    full = capsys.readouterr().out
    assert "0 < lr" in full and "1 <= hidden <= 4096" in full


def test_the_decorator_and_full_forms_train_the_same_loop_alike(tmp_path):
    """The README's three forms wrap one loop: with the same config and seed they train
    the same network (the full form through its dataclass and checkpoints)."""
    write_examples(tmp_path)
    sys.path.insert(0, str(tmp_path))
    try:
        import my_digits
        import my_digits_full
        import ray_digits
    finally:
        sys.path.remove(str(tmp_path))
    config = {"lr": 0.3, "hidden": 16, "epochs": 2, "seed": 1}
    a = my_digits.digits_mlp(config)
    b = my_digits_full.digits_full(config, checkpoint=MemoryCheckpointer())
    c = trainables.get("ray_digits:train_fn").fn(config)
    assert a["val_acc"] == b["val_acc"] == c["val_acc"]
    assert a["loss"] == b["loss"] == c["loss"]
    assert callable(ray_digits.train_fn)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["nowhere:fn"],
            "error: trainable 'nowhere:fn': module 'nowhere': no such module in "
            "the current folder or on sys.path\n",
        ),
        (
            ["my_digits:nothing"],
            "error: trainable 'my_digits:nothing': module 'my_digits' has no function 'nothing'\n",
        ),
        (
            ["my digits:x"],
            "error: trainable 'my digits:x': an import path is module:function, "
            "e.g. my_model:train (module and function Python names)\n",
        ),
        (
            ["my_digits:digits_mlp", "--set", "lr=fast"],
            "error: digits_mlp: lr='fast' has the wrong type (str); allowed: float\n",
        ),
        (
            ["my_digits:digits_mlp", "--set", "width=3"],
            "error: digits_mlp: unknown config key "
            "'width'; allowed keys: lr, hidden, epochs, seed\n",
        ),
        (
            ["my_digits_full:digits_full", "--set", "lr=0"],
            "error: digits_full: lr=0.0 is out of range; allowed: 0 < lr\n",
        ),
    ],
)
def test_a_bad_import_path_or_config_is_one_line_exit_2(
    tmp_path, monkeypatch, capsys, args, message
):
    write_examples(tmp_path)
    monkeypatch.chdir(tmp_path)  # found as python -m finds it: in the current folder
    monkeypatch.setattr(sys, "path", list(sys.path))
    assert main(args) == 2
    assert capsys.readouterr().err == message


def test_a_module_that_fails_to_import_is_one_line(tmp_path, monkeypatch, capsys):
    (tmp_path / "broken.py").write_text("import not_installed_anywhere\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))
    assert main(["broken:fn"]) == 2
    assert capsys.readouterr().err == (
        "error: trainable 'broken:fn': module 'broken': importing it failed: "
        "ModuleNotFoundError: No module named 'not_installed_anywhere'\n"
    )


# --- the decorator ---------------------------------------------------------------------


def test_types_come_from_the_defaults_and_a_param_keeps_its_range():
    @trainable(
        config={
            "lr": 0.1,
            "width": 8,
            "act": "relu",
            "sizes": [4, 8],
            "on": True,
            "tag": None,
            "momentum": param(0.0, low=0.0, high=1.0, doc="m"),
        }
    )
    def typed(config):
        return {"loss": 1.0, **{k: v for k, v in config.items() if k != "sizes"}}

    out = typed({"lr": 1, "width": 16.0, "tag": {"any": "thing"}})
    assert out["lr"] == 1.0 and isinstance(out["lr"], float)
    assert out["width"] == 16 and isinstance(out["width"], int)
    assert out["tag"] == {"any": "thing"}
    for bad, text in [
        ({"width": 1.5}, "width=1.5 has the wrong type (float); allowed: int"),
        ({"on": 1}, "on=1 has the wrong type (int); allowed: bool"),
        ({"sizes": ["a"]}, "sizes=['a'] has the wrong type (list); allowed: list[int]"),
        ({"momentum": 2.0}, "momentum=2.0 is out of range; allowed: 0 <= momentum <= 1"),
    ]:
        with pytest.raises(
            InvalidConfig,
            match=r"^typed: "
            + text.replace("[", r"\[").replace("]", r"\]").replace("(", r"\(").replace(")", r"\)"),
        ):
            typed(bad)
    with pytest.raises(InvalidConfig, match="has no config type"):
        trainable(config={"f": object()})(lambda config: {})


def test_the_harness_counts_epochs_and_decides_divergence_then_stops_the_function():
    seen, calls = [], []

    @trainable(metrics={"acc": "max"}, config={"blow_at": 3, "what": "loss"})
    def blowing(config, report):
        for epoch in range(1, 6):
            calls.append(epoch)
            value = math.nan if epoch == config["blow_at"] else 1.0 / epoch
            if config["what"] == "loss":
                report({"loss": value, "acc": 0.5})
            else:
                report({"loss": 1.0, "acc": value})

    final = blowing({}, seen.append)
    assert calls == [1, 2, 3]  # ended at the divergence, no epochs spent after it
    assert [m["epoch"] for m in seen] == [1, 2, 3]
    assert seen[0] == {"loss": 1.0, "acc": 0.5, "epoch": 1, "diverged": False}
    assert final == seen[-1]
    assert final["diverged"] is True and final["loss"] == 0.5  # the last finite values
    assert final["divergence"].startswith("loss = nan")
    calls.clear()
    assert blowing({"what": "acc"})["divergence"].startswith("acc = nan")
    assert blowing({"blow_at": 0})["diverged"] is False and calls[-1] == 5


def test_an_overflowing_loss_diverges_and_the_functions_own_except_does_not_swallow_it():
    @trainable()
    def stubborn(config, report):
        for epoch in range(10):
            # A user's broad except lets the harness's stop through.
            with contextlib.suppress(Exception):
                report({"loss": 10.0 ** (epoch * 10)})
        raise AssertionError("not stopped")

    final = stubborn()
    assert final["diverged"] and final["epoch"] == 4 and final["loss"] == 1e20  # 1e30 is over


def test_returned_metrics_tensors_dataclass_configs_and_checkpoints():
    import torch

    @trainable(config={"x": 2.0})
    def returns(config):
        return {"loss": torch.tensor(config["x"])}

    out = returns()
    assert out == {"loss": 2.0, "epoch": 1, "diverged": False} and type(out["loss"]) is float

    @dataclass(frozen=True)
    class Cfg:
        epochs: int = param(3, low=1)

    @trainable(metrics=[Metric("score", "max", bounds=(0.0, 1.0))], config=Cfg)
    def resumable(config, report, checkpoint=None):
        state = checkpoint.restore() if checkpoint else None
        start = state["epoch"] if state else 0
        for epoch in range(start + 1, config.epochs + 1):
            if checkpoint:
                checkpoint.save({"epoch": epoch})
            report({"epoch": epoch, "loss": 1.0 / epoch, "score": epoch / 10})

    info = trainables.get("resumable")
    assert info.checkpoints and info.metric_facts()["score"].bounds == (0.0, 1.0)
    saved = MemoryCheckpointer()
    seen = []
    resumable({"epochs": 2}, seen.append, checkpoint=saved)
    resumable({"epochs": 4}, seen.append, checkpoint=saved)
    assert [m["epoch"] for m in seen] == [1, 2, 3, 4]  # the second run went on from 2


def test_a_decorated_function_takes_its_plain_name_unless_another_holds_it():
    def make():
        @trainable(summary="mine")
        def mnist_mlp(config):  # a built-in's name
            return {"loss": 0.0}

        return mnist_mlp

    make()
    assert trainables.get("mnist_mlp").summary != "mine"
    for value in (1.0, 2.0):  # re-running a cell replaces the function's own entry

        @trainable(config={"v": value})
        def notebook_cell(config):
            return {"loss": config["v"]}

    assert trainables.get("notebook_cell").fn()["loss"] == 2.0


# --- plain Ray Tune functions, without Ray ----------------------------------------------

PLAIN = """
import ray
from ray import tune
from ray.tune import report as bound_report


def three_ways(config):
    assert tune.get_checkpoint() is None
    ray.tune.report({"loss": 1.0})
    tune.report({"loss": 2.0, "epoch": 7})
    bound_report({"loss": config["last"]})
"""


def test_a_plain_ray_function_runs_without_ray_however_it_calls_report(tmp_path, monkeypatch):
    from ray.train._internal import session

    (tmp_path / "plain_three.py").write_text(textwrap.dedent(PLAIN))
    monkeypatch.syspath_prepend(str(tmp_path))
    info = trainables.get("plain_three:three_ways")
    assert info.kind == "ray" and info.open_config and info.name == "plain_three:three_ways"
    seen = []
    final = info.fn({"last": 3.0}, seen.append)
    assert [(m["loss"], m["epoch"]) for m in seen] == [(1.0, 1), (2.0, 7), (3.0, 8)]
    assert final == seen[-1]
    assert session.get_session() is None  # the stand-in is gone
    diverging = info.fn({"last": math.inf}, seen.append)
    assert diverging["diverged"] is True and diverging["loss"] == 2.0
