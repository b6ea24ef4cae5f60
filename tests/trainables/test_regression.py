"""The seed's regressions: reproduction, divergence and the brute-force curve."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from trainables import OVERFLOW_LOSS, TRAINABLES, InvalidConfig
from trainables.model_configs import random_data

linear_w = TRAINABLES["linear_w"]
linear_wb = TRAINABLES["linear_wb"]
loss_landscape = TRAINABLES["loss_landscape"]


def test_linear_w_reproduces_the_seed(report):
    final = linear_w({}, report)
    # The seed (5.1.2): w starts at 1.0, lr 0.01, 100 epochs -> w = 1.9999996, forward(4) = 8.0
    assert final["w"] == pytest.approx(1.9999996, abs=1e-7)
    assert 4 * final["w"] == pytest.approx(8.0, abs=2e-6)
    assert len(report) == 100
    assert [m["epoch"] for m in report] == list(range(1, 101))
    assert final == report[-1]


def test_linear_w_metric_keys_and_types(report):
    linear_w({"epochs": 3}, report)
    for m in report:
        assert set(m) == {"epoch", "loss", "diverged", "w", "grad"}
        assert isinstance(m["epoch"], int)
        assert isinstance(m["loss"], float) and isinstance(m["w"], float)
        assert m["diverged"] is False


def test_linear_w_first_epoch_matches_hand_computation():
    # One epoch of per-sample SGD from w=1 on x=[1,2,3], y=2x, by hand in float64.
    w, lr = 1.0, 0.01
    for x, y in zip([1, 2, 3], [2, 4, 6]):
        grad = 2 * x * (w * x - y)  # d/dw (w·x - y)^2
        w -= lr * grad
    mse = sum((w * x - y) ** 2 for x, y in zip([1, 2, 3], [2, 4, 6])) / 3
    first = linear_w({"epochs": 1})
    assert first["w"] == pytest.approx(w, rel=1e-6)
    assert first["loss"] == pytest.approx(mse, rel=1e-5)
    assert first["grad"] == pytest.approx(grad, rel=1e-5)  # the last sample's gradient


def test_linear_w_loss_decreases(report):
    linear_w({"epochs": 20}, report)
    losses = [m["loss"] for m in report]
    assert all(b < a for a, b in itertools.pairwise(losses))


def test_outlier_diverges_at_large_lr_and_stops_at_once(report):
    final = linear_w({"data": "outlier", "lr": 0.1, "epochs": 1000}, report)
    assert final["diverged"] is True
    assert final is not None and final == report[-1]
    assert sum(m["diverged"] for m in report) == 1  # reported once
    assert final["epoch"] < 1000  # never spends the remaining epochs
    assert len(report) == final["epoch"]
    assert final["epoch"] == report[-2]["epoch"] + 1
    for key in ("loss", "w", "grad"):  # the last finite values it saw
        assert math.isfinite(final[key])
    assert final["loss"] <= OVERFLOW_LOSS
    assert "divergence" in final


def test_outlier_does_not_diverge_at_small_lr(report):
    final = linear_w({"data": "outlier", "lr": 0.001, "epochs": 300}, report)
    assert final["diverged"] is False
    assert len(report) == 300


def test_nan_inputs_diverge_on_the_first_epoch(report):
    final = linear_w({"lr": 1e6, "epochs": 5}, report)  # the largest lr allowed
    assert final["diverged"] is True and final["epoch"] == 1
    # The last finite state is the initial one: w0 = 1 and its MSE on y = 2x.
    assert final["w"] == 1.0
    assert final["loss"] == pytest.approx(14 / 3)
    assert len(report) == 1


def test_custom_data():
    final = linear_w({"data": {"x": [1, 2], "y": [3, 6]}, "epochs": 200, "lr": 0.05})
    assert final["w"] == pytest.approx(3.0, abs=1e-4)


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        ("mnist", "is not a data set"),
        ({"x": [1, 2]}, "is not a data set"),
        ({"x": [1, 2], "y": [1]}, "same length"),
        ({"x": [], "y": []}, "non-empty list"),
        ({"x": ["a"], "y": [1]}, "finite numbers"),
        ({"x": [float("inf")], "y": [1]}, "finite numbers"),
    ],
)
def test_bad_data_is_refused(data, fragment):
    for fn in (linear_w, linear_wb, loss_landscape):
        with pytest.raises(InvalidConfig, match=fragment):
            fn({"data": data})


def test_linear_wb_manual_converges_to_the_seed_line():
    final = linear_wb({"impl": "manual", "lr": 0.01, "epochs": 600})
    assert final["w"] == pytest.approx(2.0, abs=1e-3)
    assert final["b"] == pytest.approx(0.5, abs=1e-2)
    assert set(final) == {"epoch", "loss", "diverged", "w", "b"}


def test_linear_wb_random_points_follow_the_seed_and_the_seed_key():
    xs, ys = random_data(0)
    assert len(xs) == 10 and all(1 <= x <= 11 for x in xs)
    assert ys == [2 * x + 0.5 for x in xs]
    assert random_data(0) == random_data(0) != random_data(1)


def test_linear_wb_module_converges_on_the_seed_data(report):
    final = linear_wb({"impl": "module", "lr": 0.01, "epochs": 1000}, report)
    assert final["w"] == pytest.approx(2.0, abs=1e-2)
    assert final["b"] == pytest.approx(0.0, abs=2e-2)
    assert report[-1]["loss"] < report[0]["loss"] / 100


@pytest.mark.parametrize("impl", ["manual", "module"])
def test_linear_wb_large_lr_diverges_cleanly(impl, report):
    final = linear_wb({"impl": impl, "lr": 0.5, "epochs": 1000}, report)
    assert final["diverged"] is True
    assert final["epoch"] < 100
    assert math.isfinite(final["w"]) and math.isfinite(final["b"]) and math.isfinite(final["loss"])
    assert sum(m["diverged"] for m in report) == 1


def test_linear_wb_is_deterministic_by_seed():
    a = linear_wb({"impl": "module", "epochs": 5, "seed": 3})
    b = linear_wb({"impl": "module", "epochs": 5, "seed": 3})
    c = linear_wb({"impl": "module", "epochs": 5, "seed": 4})
    assert a == b and a != c


def test_loss_landscape_reproduces_the_seed_curve(report):
    ws = np.arange(0.0, 4.1, 0.1)  # the seed's grid
    curve = [loss_landscape({"w": float(w)}, report)["loss"] for w in ws]
    assert len(report) == 41 and all(m["epoch"] == 1 for m in report)
    best = int(np.argmin(curve))
    assert ws[best] == pytest.approx(2.0)
    assert curve[best] == pytest.approx(0.0, abs=1e-20)
    assert curve[0] == pytest.approx(18.6667, abs=1e-4)
    assert curve[-1] == pytest.approx(18.6667, abs=1e-4)


def test_loss_landscape_surface_over_w_and_b():
    ws, bs = np.meshgrid(np.linspace(0, 4, 9), np.linspace(-2, 2, 9))
    surface = np.vectorize(lambda w, b: loss_landscape({"w": w, "b": b})["loss"])(ws, bs)
    row, col = np.unravel_index(np.argmin(surface), surface.shape)
    assert (ws[row, col], bs[row, col]) == (2.0, 0.0)
    # MSE of y = w·x + b against y = 2x at (w=1, b=1): mean of (1 - x)^2 over x = 1, 2, 3
    assert loss_landscape({"w": 1, "b": 1})["loss"] == pytest.approx(5 / 3)
