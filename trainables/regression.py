"""The seed's regressions: y = w·x and y = w·x + b, trained and brute-forced.

These follow ``pytorch_learn.md`` sections 2, 5.1.2, 5.2 and 5.4 step for step
(manual autograd with ``w.data = w.data - lr * w.grad.data``; an ``nn.Linear``
with ``MSELoss(reduction="sum")``, or ``"mean"``, and ``optim.SGD``), so a sweep over them shows
exactly what the seed's code does, divergence to nan/inf included.

Every regression reports ``loss`` as the mean squared error over its data after
the epoch, whatever the training criterion (the module variant trains on the
seed's summed loss), so the three trainables compare on one scale.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch

from .common import Metrics, Report, diverged, emit, is_bad
from .config import parse_config
from .model_configs import LinearWBConfig, LinearWConfig, LossLandscapeConfig, resolve_data


def _mse(
    forward: Callable[[float], torch.Tensor], xs: Sequence[float], ys: Sequence[float]
) -> float:
    with torch.no_grad():
        total = sum(float((forward(x) - y) ** 2) for x, y in zip(xs, ys))
    return total / len(xs)


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
    data = resolve_data(cfg.data, cfg.data_seed, "seed")
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
    data = resolve_data(cfg.data, cfg.data_seed, "random")
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
    xs, ys = resolve_data(cfg.data, cfg.data_seed, "seed")
    torch.manual_seed(cfg.seed)
    model = LinearModel()
    criterion = torch.nn.MSELoss(reduction=cfg.reduction)
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
    xs, ys = resolve_data(cfg.data, cfg.data_seed, "seed")
    # The seed computes in Python floats (float64), so do we: MSE(w=0) = 18.666...
    mse = sum((cfg.w * x + cfg.b - y) ** 2 for x, y in zip(xs, ys)) / len(xs)
    metrics = {"epoch": 1, "loss": mse, "diverged": False, "w": cfg.w, "b": cfg.b}
    return emit(report, metrics)
