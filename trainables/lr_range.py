"""The lr range test in one short run (fastai's / Lightning's ``lr_find``), on the seed's
MLP or CNN.

The learning rate grows exponentially per batch from ``lr_min`` to ``lr_max`` over
``steps`` steps; the training loss is recorded per step and smoothed
exponentially (debiased, as fastai does); the run stops when the smoothed loss
passes ``stop_factor`` × its minimum or turns non-finite. It reports, per step,
``loss`` (the batch's), ``smoothed_loss`` and ``lr``, and at the end
``diverged_lr`` (where the loss blew up; nan if it never did) and
``suggested_lr`` (the steepest descent of the smoothed loss against log lr,
Lightning's suggestion).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from .common import Metrics, Report, emit
from .config import parse_config
from .mnist import _criterion, _Run
from .model_configs import LrRangeConfig
from .models import CNN, MLP


def lr_range(config: dict[str, Any] | None = None, report: Report | None = None) -> Metrics:
    """Run the lr range test; see the module's docstring and :class:`LrRangeConfig`."""
    cfg = parse_config(LrRangeConfig, config, "lr_range")
    if cfg.model == "cnn":
        run = _Run(cfg, lambda: CNN(cfg.plan, cfg.bias, cfg.pool, cfg.pool_size, cfg.dropout))
    else:
        run = _Run(cfg, lambda: MLP(cfg.dropout))
    x, y = run.data.train_x, run.data.train_y
    factor = (cfg.lr_max / cfg.lr_min) ** (1.0 / (cfg.steps - 1))
    run.model.train()
    smoothed, best, lrs, curve = 0.0, math.inf, [], []
    blew_up = math.nan
    pending: Metrics | None = None  # each step is reported once the next one starts
    order = torch.randperm(len(y), generator=run.shuffle).to(x.device)
    at = 0
    for step in range(1, cfg.steps + 1):
        lr = cfg.lr_min * factor ** (step - 1)
        for group in run.optimizer.param_groups:
            group["lr"] = lr
        if at + cfg.batch_size > len(y):  # a new pass over the shuffled data
            order, at = torch.randperm(len(y), generator=run.shuffle).to(x.device), 0
        idx = order[at : at + cfg.batch_size]
        at += cfg.batch_size
        loss = _criterion(cfg.loss, run.model(x[idx]), y[idx])
        run.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        run.optimizer.step()
        value = float(loss.detach())
        if not math.isfinite(value):
            blew_up = lr
            break
        smoothed = cfg.smoothing * smoothed + (1 - cfg.smoothing) * value
        debiased = smoothed / (1 - cfg.smoothing**step)
        best = min(best, debiased)
        lrs.append(lr)
        curve.append(debiased)
        if pending is not None:
            emit(report, pending)
        pending = {
            "epoch": step,
            "loss": value,
            "smoothed_loss": debiased,
            "lr": lr,
            "diverged": False,
        }
        if debiased > cfg.stop_factor * best:
            blew_up = lr
            break
    ending = {
        "diverged_lr": blew_up,
        "suggested_lr": suggestion(lrs, curve),
        "stopped_early": math.isfinite(blew_up),  # its own stopping rule: the blow-up
    }
    if pending is None:  # not one finite step
        return {"epoch": 0, "loss": math.nan, "diverged": True, **ending}
    return emit(report, {**pending, **ending})


SKIP_BEGIN = 10  # Lightning's default: the first steps' smoothed loss is mostly noise


def suggestion(lrs: list[float], curve: list[float]) -> float:
    """The lr where the smoothed loss falls fastest against log lr (Lightning's rule,
    skipping the first SKIP_BEGIN steps), before the loss climbs away; nan with too
    few points."""
    upto = int(np.argmin(curve)) + 1  # the descent, not the blow-up after it
    if upto - SKIP_BEGIN < 3:
        return math.nan
    lr, loss = np.log(np.asarray(lrs[SKIP_BEGIN:upto])), np.asarray(curve[SKIP_BEGIN:upto])
    return float(np.exp(lr[int(np.argmin(np.gradient(loss, lr)))]))
