"""Fused trial groups train every member as it would train alone.

Tolerances: the networks' stacked kernels (baddbmm, grouped Conv2d) sum in another
order than one model's GEMMs, so a member's float32 metrics match its solo run's to
RTOL = 1e-4 relative after 2 epochs (measured worst: 1e-7 for the MLP, 7e-7 for the
CNN). The regressions run the solo loop's very operations on ``[K]`` tensors and
must match bitwise; the brute force (float64, vectorised) to 1e-12 relative.
"""

from __future__ import annotations

import math
from typing import Any

import pytest

import trainables
from trainables import MemoryCheckpointer
from trainables.fused import mnist_cnn_group, mnist_mlp_group
from trainables.fused_regression import linear_w_group, linear_wb_group, loss_landscape_group
from trainables.mnist import mnist_cnn, mnist_mlp
from trainables.regression import linear_w, linear_wb, loss_landscape

RTOL = 1e-4
CHECKED = ("loss", "train_acc", "val_loss", "val_acc", "test_acc", "gap", "lr", "best_val_acc")

MEMBERS = [
    {"lr": 0.05, "momentum": 0.9, "seed": 1},
    {"lr": 0.01, "momentum": 0.0, "weight_decay": 0.01, "seed": 2},
    {"lr": 0.1, "momentum": 0.5, "lr_decay": 0.5, "seed": 3},
]


def _solo(fn: Any, config: dict[str, Any]) -> list[dict[str, Any]]:
    seen: list[dict[str, Any]] = []
    fn(dict(config), seen.append)
    return seen


def _fused(group: Any, configs: list[dict[str, Any]], **kwargs: Any) -> dict[int, list[dict]]:
    seen: dict[int, list[dict[str, Any]]] = {i: [] for i in range(len(configs))}

    def report(results: dict[int, dict[str, Any]]) -> None:
        for i, metrics in results.items():
            seen[i].append(dict(metrics))

    group([dict(c) for c in configs], report, **kwargs)
    return seen


def _assert_same_run(got: list[dict], want: list[dict], rtol: float) -> None:
    assert [m["epoch"] for m in got] == [m["epoch"] for m in want]
    for a, b in zip(got, want, strict=True):
        assert a["diverged"] == b["diverged"]
        assert a.get("divergence") == b.get("divergence")
        assert a.get("stopped_early") == b.get("stopped_early")
        for key in CHECKED:
            if key in b:
                assert a[key] == pytest.approx(b[key], rel=rtol, abs=1e-12), (key, a, b)


@pytest.mark.parametrize(
    ("group", "solo", "extra"),
    [
        (mnist_mlp_group, mnist_mlp, {}),
        (mnist_cnn_group, mnist_cnn, {}),
        (mnist_cnn_group, mnist_cnn, {"channels": [8, 16], "groups": 4, "padding": 1}),
    ],
    ids=["mlp", "cnn", "cnn-groups4"],
)
def test_each_member_equals_its_solo_run(group, solo, extra, tiny):
    configs = [{**tiny, **extra, **m} for m in MEMBERS]
    fused = _fused(group, configs)
    for i, config in enumerate(configs):
        _assert_same_run(fused[i], _solo(solo, config), RTOL)
    # Their own hyperparameters really differ: lr decays per member, and the runs differ.
    assert fused[2][1]["lr"] == pytest.approx(0.05)
    assert fused[0][-1]["loss"] != fused[1][-1]["loss"]


def test_a_diverging_member_is_cut_out_and_the_others_go_on_unchanged(tiny):
    configs = [{**tiny, **m} for m in MEMBERS] + [{**tiny, "lr": 50.0, "momentum": 0.9}]
    fused = _fused(mnist_mlp_group, configs)
    blown = fused[3]
    assert blown[-1]["diverged"] and len(blown) == 1
    assert blown[-1]["divergence"].startswith("training loss")
    for i, config in enumerate(configs):
        _assert_same_run(fused[i], _solo(mnist_mlp, config), RTOL)


def test_early_stopping_and_dropout_are_per_member(tiny):
    # lr decays to nothing: val_acc stops improving, so patience 1 ends member 0 early.
    configs = [
        {**tiny, "epochs": 5, "lr": 0.05, "lr_decay": 0.01, "early_stop_patience": 1},
        {**tiny, "epochs": 5, "lr": 0.05, "dropout": 0.5, "seed": 7},
        {**tiny, "epochs": 5, "lr": 0.05, "seed": 8},
    ]
    fused = _fused(mnist_mlp_group, configs)
    solo0 = _solo(mnist_mlp, configs[0])
    assert solo0[-1]["stopped_early"] and len(solo0) < 5
    _assert_same_run(fused[0], solo0, RTOL)
    # The member without dropout is exact even beside one with it: its masks keep all.
    _assert_same_run(fused[2], _solo(mnist_mlp, configs[2]), RTOL)
    # The dropout member trains with its own masks, not its solo run's: close, not equal.
    dropped = _solo(mnist_mlp, configs[1])
    assert len(fused[1]) == 5 and fused[1][-1]["loss"] != dropped[-1]["loss"]


def test_a_shared_batch_order_is_the_first_members_and_the_others_are_not_solo_runs(tiny):
    configs = [{**tiny, **m} for m in MEMBERS]
    shared = _fused(mnist_mlp_group, configs, shared_order=True)
    # The first member's seed orders the batches: it is its own solo run.
    _assert_same_run(shared[0], _solo(mnist_mlp, configs[0]), RTOL)
    # The others train on that order, not their own: their runs differ from their solo
    # runs (and are the same on every run of the same group).
    for i in (1, 2):
        assert shared[i][-1]["loss"] != pytest.approx(_solo(mnist_mlp, configs[i])[-1]["loss"])
    again = _fused(mnist_mlp_group, configs, shared_order=True)
    for i in range(3):
        _assert_same_run(again[i], shared[i], 0.0)
    cnn = _fused(mnist_cnn_group, configs[:2], shared_order=True)
    _assert_same_run(cnn[0], _solo(mnist_cnn, configs[0]), RTOL)


def test_prune_cuts_members_after_an_epoch(tiny):
    configs = [{**tiny, "epochs": 3, **m} for m in MEMBERS]
    fused = _fused(mnist_mlp_group, configs, prune=lambda results: [1] if 1 in results else [])
    assert [len(fused[i]) for i in range(3)] == [3, 1, 3]
    _assert_same_run(fused[2], _solo(mnist_mlp, configs[2]), RTOL)


def test_a_group_resumes_from_its_checkpoint_exactly(tiny, without_timing):
    configs = [{**tiny, "epochs": 3, **m} for m in MEMBERS]
    whole = _fused(mnist_mlp_group, configs)

    class Stop(Exception):
        pass

    saved = MemoryCheckpointer()
    seen: dict[int, list[dict]] = {i: [] for i in range(3)}

    def report(results: dict[int, dict[str, Any]]) -> None:
        for i, m in results.items():
            seen[i].append(dict(m))
        if results and max(m["epoch"] for m in results.values()) == 2:
            raise Stop

    with pytest.raises(Stop):
        mnist_mlp_group(configs, report, checkpoint=saved)
    resumed = _fused(mnist_mlp_group, configs, checkpoint=saved)
    for i in range(3):
        assert [m["epoch"] for m in resumed[i]] == [3]
        assert [without_timing(m) for m in seen[i] + resumed[i]] == [
            without_timing(m) for m in whole[i]
        ]


def test_members_that_differ_in_a_shape_key_are_refused(tiny):
    with pytest.raises(trainables.InvalidConfig, match="may differ only in lr"):
        mnist_mlp_group([{**tiny}, {**tiny, "batch_size": 16}])
    with pytest.raises(trainables.InvalidConfig, match="may differ only in lr, w0"):
        linear_w_group([{"epochs": 3}, {"epochs": 4}])


def test_the_registry_names_the_member_keys_the_fused_modules_use():
    from trainables import fused

    assert trainables.get("mnist_cnn").member_keys == fused.MEMBER_KEYS
    assert trainables.get("loss_landscape").member_keys == ("*",)
    assert trainables.get("lr_range").group is None


LRS = [1e-4 * (1e4 ** (i / 29)) for i in range(30)]  # lr-divergence's range, log-spaced


@pytest.mark.parametrize(
    ("group", "solo", "configs"),
    [
        (linear_w_group, linear_w, [{"data": "outlier", "epochs": 100, "lr": lr} for lr in LRS]),
        (linear_w_group, linear_w, [{"lr": 0.02, "w0": w} for w in (-3.0, 0.0, 1.0, 9.0)]),
        (linear_wb_group, linear_wb, [{"lr": lr, "b0": i} for i, lr in enumerate(LRS)]),
        (
            linear_wb_group,
            linear_wb,
            [{"impl": "module", "lr": lr, "seed": i} for i, lr in enumerate(LRS[::6])],
        ),
    ],
    ids=["linear_w-outlier", "linear_w-w0", "linear_wb-manual", "linear_wb-module"],
)
def test_regression_members_equal_their_solo_runs_bitwise(group, solo, configs):
    fused = _fused(group, configs)
    diverged = 0
    for i, config in enumerate(configs):
        want = _solo(solo, config)
        assert fused[i] == want or _same_with_nan(fused[i], want)
        diverged += bool(want[-1]["diverged"])
    if len(configs) == 30:  # the range crosses the divergence boundary on purpose
        assert 0 < diverged < 30


def _same_with_nan(a: list[dict], b: list[dict]) -> bool:
    """Equal, where nan counts as equal to nan."""
    if len(a) != len(b):
        return False
    for x, y in zip(a, b):
        if x.keys() != y.keys():
            return False
        for k in x:
            same_nan = isinstance(x[k], float) and math.isnan(x[k]) and math.isnan(y[k])
            if x[k] != y[k] and not same_nan:
                return False
    return True


def test_the_brute_force_group_equals_the_solo_formula():
    configs = [
        {"data": data, "w": w / 4, "b": b / 4}
        for data in ("seed", "random")
        for w in range(0, 16, 3)
        for b in range(-8, 12, 5)
    ]
    fused = _fused(loss_landscape_group, configs)
    for i, config in enumerate(configs):
        (want,) = _solo(loss_landscape, config)
        (got,) = fused[i]
        assert got.keys() == want.keys()
        assert got["loss"] == pytest.approx(want["loss"], rel=1e-12, abs=0)
