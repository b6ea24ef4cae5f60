"""Exact stability limits of the regressions against brute-force simulation."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

import trainables
from trainables import InvalidConfig
from trainables.model_configs import resolve_data

POCKETS = {"data": {"x": [1, 10], "y": [2, 20]}}


def _simulate(name: str, config: dict, lr: float, epochs: int = 2000) -> float:
    """How much a small difference in the starting weights grows over ``epochs`` of the
    trainable's own update, simulated sample by sample in float64 (no matrices)."""
    impl = config.get("impl", "manual")
    default = "seed" if name == "linear_w" or impl == "module" else "random"
    xs, ys = resolve_data(config.get("data"), config.get("data_seed", 0), default)

    def run(w: float, b: float) -> tuple[float, float]:
        for _ in range(epochs):
            if impl == "module":
                gw = sum(2 * (w * x + b - y) * x for x, y in zip(xs, ys))
                gb = sum(2 * (w * x + b - y) for x, y in zip(xs, ys))
                w, b = w - lr * gw, b - lr * gb
            else:
                for x, y in zip(xs, ys):
                    err = w * x + (b if name == "linear_wb" else 0.0) - y
                    w, b = w - lr * 2 * err * x, b - (lr * 2 * err if name == "linear_wb" else 0)
            if not (math.isfinite(w) and math.isfinite(b)) or abs(w) > 1e150:
                return math.inf, math.inf
        return w, b

    db = 0.0 if name == "linear_w" else -1e-6  # linear_w has no bias to move
    a, b = run(1.0, 1.0), run(1.0 + 1e-6, 1.0 + db)
    if math.inf in a or math.inf in b:
        return math.inf
    return math.hypot(a[0] - b[0], a[1] - b[1]) / math.hypot(1e-6, db)


@pytest.mark.parametrize(
    ("name", "config"),
    [
        ("linear_w", POCKETS),
        ("linear_w", {"data": "outlier"}),
        ("linear_w", {}),
        ("linear_wb", {"data": "outlier"}),
        ("linear_wb", {"seed": 3}),
        ("linear_wb", {"impl": "module"}),
        ("linear_wb", {"impl": "module", "data": "outlier"}),
    ],
)
def test_intervals_agree_with_brute_force(name, config):
    low, high = 1e-4, 1.0
    intervals = trainables.stable_lrs(name, config, low, high)
    assert intervals and all(a < b for a, b in intervals)
    assert all(b1 < a2 for (_, b1), (a2, _) in itertools.pairwise(intervals))  # disjoint
    edges = [e for interval in intervals for e in interval if low < e < high]
    decisive = agree = 0
    for lr in np.geomspace(low * 1.01, high * 0.99, 120):
        if any(abs(lr - e) < 0.02 * e for e in edges):
            continue  # near a limit, growth per epoch is too slow to tell in 2000 epochs
        growth = _simulate(name, config, float(lr))
        if 0.1 < growth < 10:
            continue
        decisive += 1
        stable = any(a <= lr <= b for a, b in intervals)
        agree += stable == (growth <= 0.1)
    assert decisive >= 50
    assert agree == decisive


def test_a_stable_pocket_just_below_one_half():
    """x = [1, 10]: the epoch's factor (1 - 2 lr)(1 - 200 lr) is small again near 0.5."""
    intervals = trainables.stable_lrs("linear_w", POCKETS, 1e-4, 1.0)
    assert len(intervals) == 2
    (a1, b1), (a2, b2) = intervals
    assert a1 == 1e-4 and b1 == pytest.approx(0.0101031147, rel=1e-8)
    assert a2 < 0.5 < b2 and a2 > 0.49 and b2 < 0.51
    # The limits are exact: |P| = 1 there.
    for lr in (b1, a2, b2):
        product = (1 - 2 * lr) * (1 - 200 * lr)
        assert abs(product) == pytest.approx(1.0, rel=1e-7)
    # And the torch trainable itself agrees on either side of the first limit and in
    # the pocket, where a grid of thresholds would have called it diverging.
    run = trainables.TRAINABLES["linear_w"]
    assert not run({**POCKETS, "lr": 0.5, "epochs": 500})["diverged"]
    assert not run({**POCKETS, "lr": 0.0099, "epochs": 500})["diverged"]
    assert run({**POCKETS, "lr": 0.3, "epochs": 500})["diverged"]


def test_the_module_bound_is_one_over_the_largest_eigenvalue():
    xs, _ = resolve_data("seed", 0, "seed")
    h = sum(np.outer([x, 1.0], [x, 1.0]) for x in xs)
    ((a, b),) = trainables.stable_lrs("linear_wb", {"impl": "module"}, 1e-6, 10.0)
    assert a == 1e-6 and b == pytest.approx(1 / max(np.linalg.eigvalsh(h)), rel=1e-8)


@pytest.mark.parametrize(("reduction", "n"), [("sum", 1), ("mean", 3)])
def test_the_mean_reduction_multiplies_the_limit_by_the_points(reduction, n):
    """The note's MSELoss(reduction="sum") against "mean" (the course's 5.4 chapter): the
    real nn.Linear trainable trains just below the exact limit and diverges just above."""
    xs, _ = resolve_data("seed", 0, "seed")
    h = sum(np.outer([x, 1.0], [x, 1.0]) for x in xs)
    config = {"impl": "module", "reduction": reduction}
    ((_, limit),) = trainables.stable_lrs("linear_wb", config, 1e-6, 10.0)
    assert limit == pytest.approx(n / max(np.linalg.eigvalsh(h)), rel=1e-8)
    run = trainables.TRAINABLES["linear_wb"]
    below = run({**config, "lr": limit * 0.9, "epochs": 2000})
    above = run({**config, "lr": limit * 1.1, "epochs": 2000})
    assert not below["diverged"] and below["w"] == pytest.approx(2.0, abs=1e-3)
    assert above["diverged"]


def test_reduction_belongs_to_the_module():
    with pytest.raises(InvalidConfig, match="reduction='mean' applies to impl: module"):
        trainables.TRAINABLES["linear_wb"]({"reduction": "mean"})


def test_unsupported_trainables_and_ranges_are_one_line_errors():
    with pytest.raises(InvalidConfig, match="no exact stability for 'mnist_mlp'"):
        trainables.stable_lrs("mnist_mlp", {}, 1e-4, 1.0)
    with pytest.raises(InvalidConfig, match="0 < low < high"):
        trainables.stable_lrs("linear_w", {}, 0.0, 1.0)
    with pytest.raises(InvalidConfig, match="unknown config key"):
        trainables.stable_lrs("linear_w", {"momentum": 0.9}, 1e-4, 1.0)


def test_the_lr_range_test_finds_where_the_mlp_blows_up():
    reports: list[dict] = []
    final = trainables.TRAINABLES["lr_range"](
        {"model": "mlp", "steps": 80, "train_limit": 2000, "momentum": 0.9}, reports.append
    )
    lrs = [r["lr"] for r in reports]
    assert lrs == sorted(lrs) and lrs[0] == pytest.approx(1e-5)
    assert [r["epoch"] for r in reports] == list(range(1, len(reports) + 1))
    assert final["stopped_early"] and math.isfinite(final["diverged_lr"])
    assert 1e-5 < final["suggested_lr"] < final["diverged_lr"] <= 10.0
    smoothed = [r["smoothed_loss"] for r in reports]
    assert smoothed[-1] > 3.9 * min(smoothed)  # stopped at the blow-up (4x its minimum)


def test_lr_range_refuses_a_backwards_range():
    with pytest.raises(InvalidConfig, match="lr_min < lr_max"):
        trainables.TRAINABLES["lr_range"]({"lr_min": 1.0, "lr_max": 0.1})
