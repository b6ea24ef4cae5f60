"""mnist_mlp and mnist_cnn in isolation, on small slices of the bundled 5k MNIST."""

from __future__ import annotations

import math

import pytest
import torch

from trainables import TRAINABLES, InvalidConfig, MemoryCheckpointer, metric_names
from trainables import data as mnist_data
from trainables.conv import conv_plan
from trainables.models import CNN, MLP

mnist_mlp = TRAINABLES["mnist_mlp"]
mnist_cnn = TRAINABLES["mnist_cnn"]
MNIST = pytest.mark.parametrize("fn", [mnist_mlp, mnist_cnn], ids=["mlp", "cnn"])


@MNIST
def test_metric_keys_and_types(fn, report, tiny):
    final = fn(tiny, report)
    assert len(report) == 2 and final == report[-1]
    name = fn.__name__
    for epoch, m in enumerate(report, start=1):
        assert set(m) == set(metric_names(name))
        assert m["epoch"] == epoch and isinstance(m["epoch"], int)
        assert m["diverged"] is False and m["stopped_early"] is False
        for key in ("loss", "train_acc", "val_loss", "val_acc", "test_acc", "gap", "lr", "time_s"):
            assert isinstance(m[key], float) and math.isfinite(m[key]), key
        for key in ("train_acc", "val_acc", "test_acc"):
            assert 0.0 <= m[key] <= 1.0
        assert m["gap"] == pytest.approx(m["train_acc"] - m["val_acc"])
        assert m["samples_per_s"] > 0


@MNIST
def test_loss_decreases_and_accuracy_beats_chance(fn, report, tiny):
    fn({**tiny, "epochs": 4, "lr": 0.05, "momentum": 0.9}, report)
    assert report[-1]["loss"] < report[0]["loss"]
    assert report[-1]["val_acc"] > 0.5  # chance is 0.1


def test_mlp_reaches_the_seed_accuracy_range_on_mnist5k():
    # The seed's own settings (lr 0.01, momentum 0.5, batch 64, 10 epochs): about 86.8 %.
    final = mnist_mlp({"epochs": 10})
    assert 0.82 <= final["test_acc"] <= 0.92


@MNIST
def test_same_seed_same_metrics(fn, tiny, without_timing):
    a = fn({**tiny, "seed": 7, "dropout": 0.3})
    b = fn({**tiny, "seed": 7, "dropout": 0.3})
    c = fn({**tiny, "seed": 8, "dropout": 0.3})
    assert without_timing(a) == without_timing(b)
    assert without_timing(a) != without_timing(c)


@MNIST
def test_huge_lr_diverges_once_and_stops(fn, report, tiny):
    final = fn({**tiny, "epochs": 5, "lr": 1e6, "momentum": 0.9}, report)
    assert final["diverged"] is True and final == report[-1]
    assert len(report) == final["epoch"] < 5
    assert math.isfinite(final["loss"])
    assert "divergence" in final


def test_divergence_after_a_finite_epoch_repeats_its_metrics(report, tiny):
    # Measured: at lr 0.5 / momentum 0.95 epoch 1 ends finite and epoch 2 reaches nan.
    final = mnist_mlp({**tiny, "epochs": 10, "lr": 0.5, "momentum": 0.95}, report)
    assert final["diverged"] is True and final["epoch"] == 2
    assert len(report) == 2 and report[0]["diverged"] is False
    first = report[0]
    for key in ("loss", "val_acc", "test_acc", "train_acc", "gap", "best_epoch"):
        assert final[key] == first[key]  # the last finite values it saw


def test_early_stopping_reports_best_epoch(report, tiny):
    # With lr ~ 0 nothing changes, so val_acc never improves after epoch 1.
    final = mnist_mlp({**tiny, "epochs": 10, "lr": 1e-12, "early_stop_patience": 2}, report)
    assert final["stopped_early"] is True
    assert final["epoch"] == 3 and len(report) == 3
    assert final["best_epoch"] == 1
    assert final["best_val_acc"] == report[0]["val_acc"]
    assert final["best_test_acc"] == report[0]["test_acc"]
    assert [m["stopped_early"] for m in report] == [False, False, True]


def test_lr_decay_multiplies_the_lr_each_epoch(report, tiny):
    mnist_mlp({**tiny, "epochs": 3, "lr": 0.1, "lr_decay": 0.5}, report)
    assert [m["lr"] for m in report] == pytest.approx([0.1, 0.05, 0.025])


def test_nll_and_cross_entropy_are_the_same_loss(tiny, without_timing):
    ce = mnist_mlp({**tiny, "loss": "cross_entropy"})
    nll = mnist_mlp({**tiny, "loss": "nll"})
    assert nll["loss"] == pytest.approx(ce["loss"], rel=1e-4)
    assert nll["val_acc"] == pytest.approx(ce["val_acc"], abs=0.01)


def test_weight_decay_shrinks_the_weights(tiny):
    def norm(wd):
        captured = {}

        class Keep(MemoryCheckpointer):
            def save(self, state):
                captured["w"] = sum(
                    float(t.norm()) for k, t in state["model"].items() if "weight" in k
                )

        mnist_mlp(
            {**tiny, "weight_decay": 0.1, "lr": 0.1} if wd else {**tiny, "lr": 0.1},
            checkpoint=Keep(),
        )
        return captured["w"]

    assert norm(True) < norm(False)


@MNIST
def test_checkpoint_resume_continues_exactly(fn, tiny, without_timing):
    straight = []
    fn({**tiny, "epochs": 3, "dropout": 0.2}, straight.append)
    keeper = MemoryCheckpointer()
    first = []
    fn({**tiny, "epochs": 2, "dropout": 0.2}, first.append, checkpoint=keeper)
    assert keeper.saves == 2 and keeper.state["progress"]["epoch"] == 2
    rest = []
    fn({**tiny, "epochs": 3, "dropout": 0.2}, rest.append, checkpoint=keeper)
    assert [m["epoch"] for m in rest] == [3]
    assert without_timing(rest[0]) == without_timing(straight[2])


def test_default_cnn_is_the_classic_small_cnn():
    plan = conv_plan([10, 20], 5, 1, 0, 1, 1, 2)
    assert [(p.size_in, p.size_conv, p.size_out) for p in plan] == [(28, 24, 12), (12, 8, 4)]
    net = CNN(plan)
    assert [(c.in_channels, c.out_channels, c.kernel_size) for c in net.convs] == [
        (1, 10, (5, 5)),
        (10, 20, (5, 5)),
    ]
    assert net.fc.in_features == 320 and net.fc.out_features == 10
    assert net(torch.zeros(2, 1, 28, 28)).shape == (2, 10)


def test_mlp_is_the_seed_net_with_dropout():
    net = MLP(dropout=0.5)
    assert [(lin.in_features, lin.out_features) for lin in net.layers] == [
        (784, 512),
        (512, 256),
        (256, 128),
        (128, 64),
        (64, 10),
    ]
    assert net.dropout.p == 0.5
    assert net(torch.zeros(3, 1, 28, 28)).shape == (3, 10)


@pytest.mark.parametrize(
    ("settings", "plan_sizes"),
    [
        ({"padding": 2}, [(28, 28, 14), (14, 14, 7)]),
        ({"stride": 2, "pool": "none"}, [(28, 12, 12), (12, 4, 4)]),
        ({"dilation": 2, "kernel_size": 3}, [(28, 24, 12), (12, 8, 4)]),
        ({"kernel_size": [3, 5], "channels": [8, 16], "groups": 4}, [(28, 26, 13), (13, 9, 4)]),
    ],
)
def test_conv_settings_follow_the_size_formula(settings, plan_sizes, tiny):
    from trainables.config import parse_config
    from trainables.model_configs import CnnConfig

    cfg = parse_config(CnnConfig, {**tiny, **settings}, "mnist_cnn")
    assert [(p.size_in, p.size_conv, p.size_out) for p in cfg.plan] == plan_sizes
    final = mnist_cnn({**tiny, **settings, "epochs": 1})
    assert final["diverged"] is False


@pytest.mark.parametrize(
    ("settings", "pool", "expected"),
    [
        ({"kernel_size": 5, "stride": 1, "padding": 0, "dilation": 1, "groups": 1}, 2, [24, 8]),
        ({"kernel_size": 3, "stride": 2, "padding": 2, "dilation": 2, "groups": 2}, 1, [14, 7]),
        (
            {"kernel_size": [7, 3], "stride": 1, "padding": 1, "dilation": 1, "groups": 5},
            2,
            [24, 12],
        ),
        ({"kernel_size": 5, "stride": 1, "padding": 0, "dilation": 1, "groups": 3}, 2, "divisible"),
        ({"kernel_size": 13, "stride": 1, "padding": 0, "dilation": 1, "groups": 1}, 2, "size"),
    ],
)
def test_real_layers_measure_the_conv_sizes(settings, pool, expected):
    """measured_conv_sizes (the course's check of the formula) builds torch layers from
    the settings alone; torch's own message where it refuses them."""
    from trainables.conv import conv_plan
    from trainables.models import measured_conv_sizes

    measured = measured_conv_sizes([10, 20], settings, pool)
    if isinstance(expected, str):
        assert isinstance(measured, str) and expected in measured
        with pytest.raises(ValueError):  # the harness's arithmetic refuses it too
            conv_plan([10, 20], *(settings[k] for k in settings), pool)
        return
    assert measured == expected
    plan = conv_plan([10, 20], *(settings[k] for k in settings), pool)
    assert [layer.size_conv for layer in plan] == measured


@pytest.mark.parametrize(
    ("config", "fragments"),
    [
        ({"groups": 3}, ["groups=3 must divide", "conv2", "in_channels=10", "out_channels=20"]),
        (
            {"kernel_size": 13, "padding": 0},
            ["shrinks below 1", "conv2", "conv1 16x16", "pool 8x8"],
        ),
        ({"stride": 9, "pool_size": 4}, ["shrinks below 1", "pool after conv1", "conv1 3x3"]),
        ({"dilation": 15}, ["shrinks below 1", "conv1", "dilation=15"]),
        ({"kernel_size": 0}, ["kernel_size=0", "out of range"]),
        ({"stride": -1}, ["stride=-1", "out of range"]),
        ({"channels": [10, 0]}, ["channels=[10, 0]", "out of range"]),
        ({"channels": []}, ["channels=[]"]),
        ({"kernel_size": [5, 5, 5]}, ["kernel_size=[5, 5, 5] has 3 entries", "2 layers"]),
        ({"pool": "median"}, ["pool='median'", "'max', 'avg', 'none'"]),
        ({"bias": "yes"}, ["bias='yes'", "bool"]),
    ],
)
def test_impossible_conv_settings_are_refused_before_data(config, fragments, monkeypatch):
    def no_data(*args, **kwargs):
        raise AssertionError("data was touched")

    monkeypatch.setattr(mnist_data, "load_splits", no_data)
    with pytest.raises(InvalidConfig) as info:
        mnist_cnn(config)
    message = str(info.value)
    assert message.startswith("mnist_cnn: ")
    for fragment in fragments:
        assert fragment in message


@pytest.mark.parametrize(
    ("config", "fragment"),
    [
        ({"lr": 0}, "lr=0.0 is out of range"),
        ({"lr": -0.1}, "lr=-0.1 is out of range"),
        ({"momentum": 1.0}, "momentum=1.0 is out of range"),
        ({"dropout": 1.0}, "dropout=1.0"),
        ({"weight_decay": -1}, "weight_decay=-1.0"),
        ({"lr_decay": 0}, "lr_decay=0.0"),
        ({"lr_decay": 1.5}, "lr_decay=1.5"),
        ({"batch_size": 0}, "batch_size=0"),
        ({"batch_size": 32.5}, "batch_size=32.5"),
        ({"epochs": 0}, "epochs=0"),
        ({"val_fraction": 0}, "val_fraction=0.0"),
        ({"dataset": "cifar"}, "dataset='cifar' is not allowed; allowed: 'mnist5k', 'mnist'"),
        ({"loss": "mse"}, "loss='mse'"),
        ({"device": "tpu"}, "device='tpu'"),
        ({"seed": -1}, "seed=-1"),
        ({"early_stop_patience": -1}, "early_stop_patience=-1"),
        ({"channels": [8]}, "unknown config key 'channels'"),
    ],
)
def test_invalid_mlp_configs_are_refused_before_data(config, fragment, monkeypatch):
    monkeypatch.setattr(mnist_data, "load_splits", lambda *a, **k: pytest.fail("data was touched"))
    with pytest.raises(InvalidConfig, match=r"^mnist_mlp: ") as info:
        mnist_mlp(config)
    assert fragment in str(info.value)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error on a machine without CUDA")
def test_cuda_without_a_gpu_is_refused(monkeypatch):
    monkeypatch.setattr(mnist_data, "load_splits", lambda *a, **k: pytest.fail("data was touched"))
    with pytest.raises(InvalidConfig, match="no CUDA device"):
        mnist_mlp({"device": "cuda"})
