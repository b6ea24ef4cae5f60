"""``python -m trainables`` as a user runs it."""

from __future__ import annotations

import os
import subprocess
import sys

# The built-in trainables only: no plugins from the caller's environment (the study
# tests' session sets STUDY_HARNESS_TRAINABLES for the drivers it runs in process).
ENV = {k: v for k, v in os.environ.items() if k != "STUDY_HARNESS_TRAINABLES"}


def run(*args):
    return subprocess.run(
        [sys.executable, "-m", "trainables", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=ENV,
    )


def test_lists_the_trainables():
    out = run()
    assert out.returncode == 0
    assert [line.split()[0] for line in out.stdout.splitlines()] == [
        "linear_w",
        "linear_wb",
        "loss_landscape",
        "mnist_mlp",
        "mnist_cnn",
        "lr_range",
    ]


def test_trains_and_prints_each_epoch():
    out = run("linear_w", "--set", "epochs=3", "--set", "lr=0.01")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].startswith("epoch=1 ") and lines[2].startswith("epoch=3 ")
    assert lines[-1].startswith("final: epoch=3")


def test_bad_value_is_one_line_and_exit_2():
    out = run("mnist_cnn", "--set", "groups=3")
    assert out.returncode == 2
    assert out.stderr.count("\n") == 1 and "Traceback" not in out.stderr
    assert out.stderr.startswith("error: mnist_cnn: groups=3 must divide")


def test_unknown_trainable_lists_the_names():
    out = run("resnet")
    assert out.returncode == 2
    assert "unknown trainable 'resnet'; allowed: linear_w, linear_wb" in out.stderr


def test_keys_lists_config_keys():
    out = run("mnist_cnn", "--keys")
    assert out.returncode == 0
    keys = [line.split()[0] for line in out.stdout.splitlines()]
    assert "kernel_size" in keys and "dilation" in keys and "lr" in keys
