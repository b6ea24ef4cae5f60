"""Every trainable's config as a frozen dataclass, without torch.

The study layer validates specs against these before Ray starts (and before torch
is imported), so ``study presets`` and a bad spec answer in a second. The training
code in regression.py and mnist.py parses its config with the same classes.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from .config import InvalidConfig, param, short
from .conv import MAX_TRAIN_BYTES, ConvLayer, conv_plan, training_bytes

DATASETS = ("mnist5k", "mnist")
# "seed" here means the study note the models come from (README, Glossary), not a
# random seed: its data sets keep the names the note gives them.
SEED_DATA = ([1.0, 2.0, 3.0], [2.0, 4.0, 6.0])  # the note's section 2 and 5.1.2
OUTLIER_DATA = ([1.0, 2.0, 3.0, 4.0, 5.0], [2.0, 1000.0, 6.0, 8.0, 10.0])  # section 5.2
NAMED_DATA = ("seed", "outlier", "random")
# Bounds shared by every trainable (README, "Bounds"): a seed fits numpy's and torch's
# 32-bit generators; a learning rate above MAX_LR only overflows float32 steps.
MAX_SEED = 2**32 - 1
MAX_LR = 1e6
RANDOM_POINTS = 10  # section 5.2, second part: 10 points x = random()*10 + 1, y = 2x + 0.5


def random_data(seed: int) -> tuple[list[float], list[float]]:
    """The seed's 10 random points on y = 2x + 0.5, reproducible from ``seed``."""
    rng = random.Random(seed)
    xs = [rng.random() * 10 + 1 for _ in range(RANDOM_POINTS)]
    return xs, [x * 2 + 0.5 for x in xs]


def check_data(name: str, value: Any) -> str | None:
    """Validate a ``data`` value: a named set or ``{"x": [...], "y": [...]}``."""
    if value is None:
        return None
    allowed = f"allowed: {', '.join(repr(n) for n in NAMED_DATA)} or {{'x': [...], 'y': [...]}}"
    if isinstance(value, str):
        return (
            None if value in NAMED_DATA else f"{name}={short(value)} is not a data set; {allowed}"
        )
    if not isinstance(value, dict) or set(value) != {"x", "y"}:
        return f"{name}={short(value)} is not a data set; {allowed}"
    xs, ys = value["x"], value["y"]
    for key, seq in (("x", xs), ("y", ys)):
        if not isinstance(seq, (list, tuple)) or not seq:
            return f"{name}.{key} must be a non-empty list of numbers, got {short(seq)}"
        bad = [v for v in seq if isinstance(v, bool) or not isinstance(v, (int, float))]
        if bad or any(abs(float(v)) > 1e15 or float(v) != float(v) for v in seq):
            return f"{name}.{key} must hold finite numbers of magnitude <= 1e15, got {short(seq)}"
    if len(xs) != len(ys):
        return f"{name}: x and y must have the same length, got {len(xs)} and {len(ys)}"
    return None


def resolve_data(data: Any, seed: int, default: str) -> tuple[list[float], list[float]]:
    """Turn a validated ``data`` value into the x and y lists it names."""
    data = default if data is None else data
    if data == "seed":
        return list(SEED_DATA[0]), list(SEED_DATA[1])
    if data == "outlier":
        return list(OUTLIER_DATA[0]), list(OUTLIER_DATA[1])
    if data == "random":
        return random_data(seed)
    return [float(v) for v in data["x"]], [float(v) for v in data["y"]]


DATA_DOC = (
    "'seed' (x=[1,2,3], y=2x), 'outlier' (section 5.2, y holds 1000), 'random', "
    "or {x: [...], y: [...]}"
)


@dataclass(frozen=True)
class LinearWConfig:
    lr: float = param(
        0.01, low=0.0, low_open=True, high=MAX_LR, doc="learning rate of the manual SGD step"
    )
    epochs: int = param(100, low=1, high=1_000_000, doc="passes over the data")
    w0: float = param(1.0, low=-1e6, high=1e6, doc="initial weight (the seed uses 1.0)")
    data: Any = param("seed", check=check_data, doc=DATA_DOC)
    data_seed: int = param(
        0,
        low=0,
        high=MAX_SEED,
        doc="seed that draws the 'random' data set: one data set for the whole study, "
        "not the per-trial seed (which varies only initialisation)",
    )


@dataclass(frozen=True)
class LinearWBConfig:
    impl: str = param(
        "manual", choices=("manual", "module"), doc="seed 5.2 manual SGD or 5.4 nn.Module"
    )
    lr: float = param(
        0.001,
        low=0.0,
        low_open=True,
        high=MAX_LR,
        doc="learning rate (seed: 0.001 manual, 0.01 module)",
    )
    epochs: int = param(
        1000, low=1, high=1_000_000, doc="passes over the data (the seed runs 10000)"
    )
    w0: float = param(
        1.0, low=-1e6, high=1e6, doc="initial w (manual impl; the module uses torch's init)"
    )
    b0: float = param(1.0, low=-1e6, high=1e6, doc="initial b (manual impl)")
    data: Any = param(
        None, check=check_data, doc=DATA_DOC + "; default 'random' (manual) or 'seed' (module)"
    )
    data_seed: int = param(
        0,
        low=0,
        high=MAX_SEED,
        doc="seed that draws the 'random' data set: one data set for the whole study, "
        "not the per-trial seed (which varies only initialisation)",
    )
    seed: int = param(0, low=0, high=MAX_SEED, doc="seed for the module's initial weights")
    reduction: str = param(
        "sum",
        choices=("sum", "mean"),
        doc="the module's MSELoss reduction (the seed's 5.4: 'sum'; 'mean' divides the "
        "gradient by the number of points); the manual impl has none",
    )

    def __post_init__(self) -> None:
        if self.impl == "manual" and self.reduction != "sum":
            raise InvalidConfig(
                f"linear_wb: reduction={self.reduction!r} applies to impl: module; the manual "
                "impl takes one squared error per sample, with nothing to reduce"
            )


@dataclass(frozen=True)
class LossLandscapeConfig:
    w: float = param(0.0, low=-1e6, high=1e6, doc="the weight at which the MSE is evaluated")
    b: float = param(0.0, low=-1e6, high=1e6, doc="the bias (0 gives the seed's y = w·x)")
    data: Any = param("seed", check=check_data, doc=DATA_DOC)
    data_seed: int = param(
        0,
        low=0,
        high=MAX_SEED,
        doc="seed that draws the 'random' data set: one data set for the whole study, "
        "not the per-trial seed (which varies only initialisation)",
    )


@dataclass(frozen=True)
class MnistConfig:
    dataset: str = param(
        "mnist5k",
        choices=DATASETS,
        doc="'mnist5k' (bundled 5k subset, offline) or 'mnist' (full, under data_root)",
    )
    data_root: str | None = param(
        None,
        doc="folder holding MNIST/raw/ for dataset 'mnist' "
        "(default $STUDY_HARNESS_DATA or ~/.cache/study-harness/data)",
    )
    download: bool = param(False, doc="let torchvision download full MNIST (needs a network)")
    lr: float = param(0.01, low=0.0, low_open=True, high=MAX_LR, doc="SGD learning rate")
    momentum: float = param(0.5, low=0.0, high=1.0, high_open=True, doc="SGD momentum")
    dropout: float = param(0.0, low=0.0, high=1.0, high_open=True, doc="dropout probability")
    weight_decay: float = param(0.0, low=0.0, high=1.0, doc="L2 regularisation (SGD weight_decay)")
    lr_decay: float = param(
        1.0, low=0.0, high=1.0, low_open=True, doc="per-epoch multiplicative lr factor (1.0 = off)"
    )
    batch_size: int = param(64, low=1, high=65536, doc="training batch size")
    epochs: int = param(10, low=1, high=10000, doc="maximum epochs")
    early_stop_patience: int = param(
        0, low=0, high=10000, doc="stop after this many epochs without a better val_acc (0 = off)"
    )
    loss: str = param(
        "cross_entropy",
        choices=("cross_entropy", "nll"),
        doc="CrossEntropyLoss, or log_softmax + NLLLoss",
    )
    val_fraction: float = param(
        0.1,
        low=0.0,
        high=0.5,
        low_open=True,
        doc="share of the training split held out for validation",
    )
    seed: int = param(
        0, low=0, high=MAX_SEED, doc="seed for initial weights, shuffling and dropout"
    )
    device: str = param("auto", choices=("auto", "cpu", "cuda"), doc="'auto' = cuda when available")
    train_limit: int = param(
        0, low=0, doc="train on at most this many examples (0 = all; smoke runs)"
    )
    eval_limit: int = param(
        0, low=0, doc="evaluate on at most this many examples (0 = all; smoke runs)"
    )


@dataclass(frozen=True)
class CnnConfig(MnistConfig):
    channels: list[int] = param([10, 20], low=1, high=1024, doc="output channels of each Conv2d")
    kernel_size: int | list[int] = param(
        5, low=1, high=28, doc="Conv2d kernel_size (int or per layer)"
    )
    stride: int | list[int] = param(1, low=1, high=28, doc="Conv2d stride (int or per layer)")
    padding: int | list[int] = param(
        0, low=0, high=28, doc="Conv2d zero padding (int or per layer)"
    )
    dilation: int | list[int] = param(1, low=1, high=28, doc="Conv2d dilation (int or per layer)")
    groups: int = param(1, low=1, high=1024, doc="Conv2d groups for layers after the first")
    bias: bool = param(True, doc="Conv2d bias")
    pool: str = param("max", choices=("max", "avg", "none"), doc="pooling after each Conv2d")
    pool_size: int = param(2, low=1, high=28, doc="pooling window and stride")
    plan: list[ConvLayer] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if len(self.channels) > 6:
            raise InvalidConfig(
                f"mnist_cnn: channels={short(self.channels)} has more than 6 layers"
            )
        try:
            plan = conv_plan(
                self.channels,
                self.kernel_size,
                self.stride,
                self.padding,
                self.dilation,
                self.groups,
                1 if self.pool == "none" else self.pool_size,
            )
        except ValueError as exc:
            raise InvalidConfig(f"mnist_cnn: {exc}") from None
        need = training_bytes(plan, self.batch_size, self.bias, self.pool != "none")
        if need > MAX_TRAIN_BYTES:
            raise InvalidConfig(
                f"mnist_cnn: needs about {need / 2**30:,.1f} GiB to train (channels="
                f"{short(self.channels)}, batch_size={self.batch_size}); allowed: at most "
                f"{MAX_TRAIN_BYTES / 2**30:g} GiB (fewer channels, pooling or a smaller batch)"
            )
        object.__setattr__(self, "plan", plan)


@dataclass(frozen=True)
class LrRangeConfig(CnnConfig):
    """The lr range test (fastai's / Lightning's lr_find) on the MLP or the CNN: the
    model's own keys, plus the sweep's."""

    model: str = param("mlp", choices=("mlp", "cnn"), doc="which network: the MLP or the CNN")
    epochs: int = param(1, low=1, high=1, doc="unused: the test runs `steps` batches")
    lr_min: float = param(1e-5, low=0.0, low_open=True, high=MAX_LR, doc="lr of the first step")
    lr_max: float = param(10.0, low=0.0, low_open=True, high=MAX_LR, doc="lr of the last step")
    steps: int = param(100, low=5, high=100_000, doc="training steps, lr growing exponentially")
    smoothing: float = param(
        0.98, low=0.0, high=1.0, high_open=True, doc="exponential smoothing of the loss"
    )
    stop_factor: float = param(
        4.0, low=1.0, low_open=True, doc="stop when the smoothed loss passes this x its minimum"
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.lr_min < self.lr_max:
            raise InvalidConfig(
                f"lr_range: lr_min < lr_max must hold, got lr_min={self.lr_min}, "
                f"lr_max={self.lr_max}"
            )
