"""The seed's regressions: y = w·x and y = w·x + b, trained and brute-forced.

These follow ``pytorch_learn.md`` sections 2, 5.1.2, 5.2 and 5.4 step for step
(manual autograd with ``w.data = w.data - lr * w.grad.data``; an ``nn.Linear``
with ``MSELoss(reduction="sum")`` and ``optim.SGD``), so a sweep over them shows
exactly what the seed's code does, divergence to nan/inf included.

Every regression reports ``loss`` as the mean squared error over its data after
the epoch, whatever the training criterion (the module variant trains on the
seed's summed loss), so the three trainables compare on one scale.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from .common import Metrics, Report, diverged, emit, is_bad
from .config import param, parse_config

SEED_DATA = ([1.0, 2.0, 3.0], [2.0, 4.0, 6.0])  # section 2 and 5.1.2
OUTLIER_DATA = ([1.0, 2.0, 3.0, 4.0, 5.0], [2.0, 1000.0, 6.0, 8.0, 10.0])  # section 5.2
NAMED_DATA = ("seed", "outlier", "random")
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
        return None if value in NAMED_DATA else f"{name}={value!r} is not a data set; {allowed}"
    if not isinstance(value, dict) or set(value) != {"x", "y"}:
        return f"{name}={value!r} is not a data set; {allowed}"
    xs, ys = value["x"], value["y"]
    for key, seq in (("x", xs), ("y", ys)):
        if not isinstance(seq, (list, tuple)) or not seq:
            return f"{name}.{key} must be a non-empty list of numbers, got {seq!r}"
        bad = [v for v in seq if isinstance(v, bool) or not isinstance(v, (int, float))]
        if bad or any(abs(float(v)) > 1e15 or float(v) != float(v) for v in seq):
            return f"{name}.{key} must hold finite numbers of magnitude <= 1e15, got {seq!r}"
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


def _mse(
    forward: Callable[[float], torch.Tensor], xs: Sequence[float], ys: Sequence[float]
) -> float:
    with torch.no_grad():
        total = sum(float((forward(x) - y) ** 2) for x, y in zip(xs, ys))
    return total / len(xs)


DATA_DOC = (
    "'seed' (x=[1,2,3], y=2x), 'outlier' (section 5.2, y holds 1000), 'random', "
    "or {x: [...], y: [...]}"
)


@dataclass(frozen=True)
class LinearWConfig:
    lr: float = param(0.01, low=0.0, low_open=True, doc="learning rate of the manual SGD step")
    epochs: int = param(100, low=1, high=1_000_000, doc="passes over the data")
    w0: float = param(1.0, low=-1e6, high=1e6, doc="initial weight (the seed uses 1.0)")
    data: Any = param("seed", check=check_data, doc=DATA_DOC)
    seed: int = param(0, low=0, doc="seed for the 'random' data set")


@dataclass(frozen=True)
class LinearWBConfig:
    impl: str = param(
        "manual", choices=("manual", "module"), doc="seed 5.2 manual SGD or 5.4 nn.Module"
    )
    lr: float = param(
        0.001, low=0.0, low_open=True, doc="learning rate (seed: 0.001 manual, 0.01 module)"
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
    seed: int = param(0, low=0, doc="seed for the random points and the module's initial weights")


@dataclass(frozen=True)
class LossLandscapeConfig:
    w: float = param(0.0, low=-1e6, high=1e6, doc="the weight at which the MSE is evaluated")
    b: float = param(0.0, low=-1e6, high=1e6, doc="the bias (0 gives the seed's y = w·x)")
    data: Any = param("seed", check=check_data, doc=DATA_DOC)
    seed: int = param(0, low=0, doc="seed for the 'random' data set")


def _manual_sgd(
    params: dict[str, torch.Tensor],
    forward: Callable[[float], torch.Tensor],
    data: tuple[Sequence[float], Sequence[float]],
    cfg: LinearWConfig | LinearWBConfig,
    report: Report | None,
    grad_names: dict[str, str],
) -> Metrics:
    """The seed's per-sample loop: loss, backward, ``p.data -= lr * p.grad.data``, zero grads.

    Reports the MSE after each epoch with each parameter's value and, for the
    parameters named in ``grad_names``, its last gradient under that name. Stops at
    the first nan/inf/overflow, reporting the last finite values it saw.
    """
    xs, ys = data
    # The last finite state, kept at epoch ends so that its loss, weights and
    # gradient belong together when a divergence report repeats them.
    last: Metrics = {"loss": _mse(forward, xs, ys), **_values(params)}
    last.update({g: 0.0 for g in grad_names.values()})
    for epoch in range(1, cfg.epochs + 1):
        for x, y in zip(xs, ys):
            loss = (forward(x) - y) ** 2
            loss.backward()
            grads = {n: float(p.grad) for n, p in params.items()}  # type: ignore[arg-type]
            for p in params.values():
                p.data = p.data - cfg.lr * p.grad.data  # type: ignore[union-attr]
                p.grad.data.zero_()  # type: ignore[union-attr]
            if is_bad(float(loss.detach()), *_values(params).values(), *grads.values()):
                return diverged(report, epoch, last, f"nan/inf/overflow at sample x={x:g}")
        mse = _mse(forward, xs, ys)
        if is_bad(mse):
            return diverged(report, epoch, last, f"mse={mse:g} after epoch {epoch}")
        last = {"loss": mse, **_values(params), **{g: grads[n] for n, g in grad_names.items()}}
        emit(report, {"epoch": epoch, "diverged": False, **last})
    return {"epoch": cfg.epochs, "diverged": False, **last}


def _values(params: dict[str, torch.Tensor]) -> dict[str, float]:
    return {n: float(p.detach()) for n, p in params.items()}


def linear_w(config: dict[str, Any] | None = None, report: Report | None = None) -> Metrics:
    """y = w·x by per-sample SGD, as the seed's 5.1.2 / 5.2 (defaults reproduce w = 1.9999996).

    Metrics per epoch: ``loss`` (MSE), ``w``, ``grad`` (the last sample's dloss/dw).
    """
    cfg = parse_config(LinearWConfig, config, "linear_w")
    data = resolve_data(cfg.data, cfg.seed, "seed")
    w = torch.Tensor([cfg.w0])
    w.requires_grad = True
    return _manual_sgd({"w": w}, lambda x: x * w, data, cfg, report, {"w": "grad"})


def linear_wb(config: dict[str, Any] | None = None, report: Report | None = None) -> Metrics:
    """y = w·x + b: the seed's manual 5.2 loop or its 5.4 ``nn.Linear`` + SGD (full batch).

    Metrics per epoch: ``loss`` (MSE), ``w``, ``b``.
    """
    cfg = parse_config(LinearWBConfig, config, "linear_wb")
    if cfg.impl == "module":
        return _linear_module(cfg, report)
    data = resolve_data(cfg.data, cfg.seed, "random")
    w = torch.Tensor([cfg.w0])
    b = torch.Tensor([cfg.b0])
    w.requires_grad = True
    b.requires_grad = True
    return _manual_sgd({"w": w, "b": b}, lambda x: w * x + b, data, cfg, report, {})


class LinearModel(torch.nn.Module):
    """The seed's 5.4 model: one ``nn.Linear(1, 1)``."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = torch.nn.Linear(1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x)


def _linear_module(cfg: LinearWBConfig, report: Report | None) -> Metrics:
    xs, ys = resolve_data(cfg.data, cfg.seed, "seed")
    torch.manual_seed(cfg.seed)
    model = LinearModel()
    criterion = torch.nn.MSELoss(reduction="sum")
    optimizer = torch.optim.SGD(model.parameters(), lr=cfg.lr)
    x_data = torch.tensor(xs).unsqueeze(1)
    y_data = torch.tensor(ys).unsqueeze(1)

    def state() -> Metrics:
        with torch.no_grad():
            mse = float(((model(x_data) - y_data) ** 2).mean())
        return {
            "loss": mse,
            "w": float(model.linear.weight.detach()),
            "b": float(model.linear.bias.detach()),
        }

    last = state()
    metrics = last
    for epoch in range(1, cfg.epochs + 1):
        cost = criterion(model(x_data), y_data)
        optimizer.zero_grad()
        cost.backward()
        optimizer.step()
        now = state()
        if is_bad(now["loss"], now["w"], now["b"], float(cost.detach())):
            return diverged(report, epoch, last, f"nan/inf/overflow in epoch {epoch}")
        last = now
        metrics = emit(report, {"epoch": epoch, "diverged": False, **now})
    return metrics


def loss_landscape(config: dict[str, Any] | None = None, report: Report | None = None) -> Metrics:
    """The seed's brute force (穷举法): the MSE of y = w·x + b at one point, reported once.

    A grid over ``w`` (and ``b``) reproduces the seed's ``plt.plot(w_list, mse_list)``.
    """
    cfg = parse_config(LossLandscapeConfig, config, "loss_landscape")
    xs, ys = resolve_data(cfg.data, cfg.seed, "seed")
    # The seed computes in Python floats (float64), so do we: MSE(w=0) = 18.666...
    mse = sum((cfg.w * x + cfg.b - y) ** 2 for x, y in zip(xs, ys)) / len(xs)
    metrics = {"epoch": 1, "loss": mse, "diverged": False, "w": cfg.w, "b": cfg.b}
    return emit(report, metrics)
