"""The seed's MNIST classifiers (section 7 MLP, section 8 CNN) as plain training functions.

One loop serves both models: SGD with momentum and weight decay (L2), per-epoch
exponential lr decay, dropout, early stopping on val_acc — the overfitting
remedies of the seed's section 6.4 — with metrics that show overfitting
(``gap`` = train_acc - val_acc) and divergence (``diverged``) per epoch.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from . import data as mnist_data
from .common import Checkpointer, Metrics, Report, diverged, emit, is_bad
from .config import InvalidConfig, parse_config
from .model_configs import CnnConfig, MnistConfig
from .models import CNN, MLP

log = logging.getLogger(__name__)

CHECK_EVERY = 10  # steps between nan/inf checks of the running loss (one host sync each)
EVAL_BATCH = 1000


def resolve_device(requested: str) -> torch.device:
    """'auto' -> cuda when available; 'cuda' without a GPU is an InvalidConfig."""
    if requested == "cuda" and not torch.cuda.is_available():
        raise InvalidConfig(
            "device='cuda' but no CUDA device is available; allowed here: 'auto', 'cpu'"
        )
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(requested)


def mnist_mlp(
    config: dict[str, Any] | None = None,
    report: Report | None = None,
    checkpoint: Checkpointer | None = None,
) -> Metrics:
    """The seed's 784-512-256-128-64-10 MLP on MNIST. See :class:`MnistConfig` for the keys."""
    cfg = parse_config(MnistConfig, config, "mnist_mlp")
    return train(cfg, lambda: MLP(cfg.dropout), report, checkpoint)


def mnist_cnn(
    config: dict[str, Any] | None = None,
    report: Report | None = None,
    checkpoint: Checkpointer | None = None,
) -> Metrics:
    """The classic small CNN with the seed's Conv2d settings. See :class:`CnnConfig`."""
    cfg = parse_config(CnnConfig, config, "mnist_cnn")
    return train(
        cfg,
        lambda: CNN(cfg.plan, cfg.bias, cfg.pool, cfg.pool_size, cfg.dropout),
        report,
        checkpoint,
    )


@dataclass
class _Progress:
    """What survives an epoch besides the model and optimiser (saved in checkpoints)."""

    epoch: int = 0
    best_val_acc: float = -1.0
    best_epoch: int = 0
    best_test_acc: float = 0.0
    bad_epochs: int = 0
    last: Metrics = field(default_factory=dict)  # last finite metrics, for a divergence report

    def advance(self, result: Metrics, epoch: int, patience: int) -> Metrics:
        """Take an epoch's metrics: the best epoch so far, early stopping; the metrics
        to report (with best_* and stopped_early)."""
        if result["val_acc"] > self.best_val_acc:
            self.best_val_acc, self.best_epoch = result["val_acc"], epoch
            self.best_test_acc, self.bad_epochs = result["test_acc"], 0
        else:
            self.bad_epochs += 1
        metrics = {
            **result,
            "best_epoch": self.best_epoch,
            "best_val_acc": self.best_val_acc,
            "best_test_acc": self.best_test_acc,
            "stopped_early": 0 < patience <= self.bad_epochs,
        }
        self.epoch, self.last = epoch, metrics
        return metrics


class _Run:
    """One training run's state: model, optimiser, lr schedule, RNGs and data."""

    def __init__(self, cfg: MnistConfig, build: Any) -> None:
        self.cfg = cfg
        self.device = resolve_device(cfg.device)
        mnist_data.check_available(cfg.dataset, cfg.data_root, cfg.download)
        torch.manual_seed(cfg.seed)
        self.model: nn.Module = build().to(self.device)
        if any(isinstance(m, nn.Conv2d) for m in self.model.modules()):
            # oneDNN's convolutions are ~30-40% faster on channels-last weights here
            # (BENCHMARKS.md, epoch throughput); a 1-channel input is already both layouts.
            self.model = self.model.to(memory_format=torch.channels_last)
        self.optimizer = torch.optim.SGD(
            self.model.parameters(), lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay
        )
        self.schedule = torch.optim.lr_scheduler.ExponentialLR(self.optimizer, gamma=cfg.lr_decay)
        self.shuffle = torch.Generator().manual_seed(cfg.seed)
        self.progress = _Progress()
        self.last_finite_loss = math.nan  # latest finite running loss, for divergence reports
        self.data, self.train_eval = load_data(cfg, self.device)

    def state_dict(self) -> dict[str, Any]:
        state = {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "schedule": self.schedule.state_dict(),
            "shuffle": self.shuffle.get_state(),
            "torch_rng": torch.get_rng_state(),
            "progress": vars(self.progress),
        }
        if self.device.type == "cuda":
            state["cuda_rng"] = torch.cuda.get_rng_state(self.device)
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.schedule.load_state_dict(state["schedule"])
        self.shuffle.set_state(state["shuffle"])
        torch.set_rng_state(state["torch_rng"])
        if "cuda_rng" in state and self.device.type == "cuda":
            torch.cuda.set_rng_state(state["cuda_rng"], self.device)
        self.progress = _Progress(**state["progress"])


def load_data(
    cfg: MnistConfig, device: torch.device
) -> tuple[mnist_data.Splits, tuple[torch.Tensor, torch.Tensor]]:
    """The config's splits on ``device``, and the slice of the training set that
    train_acc is measured on: in eval mode (no dropout), as large as the validation
    set, so that gap = train_acc - val_acc compares like with like and costs one
    extra val-sized pass."""
    splits = mnist_data.load_splits(
        cfg.dataset, cfg.data_root, cfg.val_fraction, str(device), cfg.download
    )
    data = _limit(splits, cfg.train_limit, cfg.eval_limit)
    n = min(len(data.train_y), len(data.val_y))
    return data, (data.train_x[:n], data.train_y[:n])


def _limit(splits: mnist_data.Splits, train_limit: int, eval_limit: int) -> mnist_data.Splits:
    def cut(x: torch.Tensor, limit: int) -> torch.Tensor:
        return x[:limit] if limit else x

    return mnist_data.Splits(
        cut(splits.train_x, train_limit),
        cut(splits.train_y, train_limit),
        cut(splits.val_x, eval_limit),
        cut(splits.val_y, eval_limit),
        cut(splits.test_x, eval_limit),
        cut(splits.test_y, eval_limit),
    )


def _criterion(
    kind: str, logits: torch.Tensor, target: torch.Tensor, reduction: str = "mean"
) -> torch.Tensor:
    if kind == "nll":  # the seed's "NLLLoss = log + onehot": log_softmax then NLLLoss
        return F.nll_loss(F.log_softmax(logits, dim=1), target, reduction=reduction)
    return F.cross_entropy(logits, target, reduction=reduction)


def _train_epoch(run: _Run) -> tuple[float, float, float]:
    """One pass over shuffled training batches. Returns (mean loss, seconds, samples/s).

    The mean loss is nan/inf when training diverged; the loop stops at the first
    check that sees it, rather than spending the rest of the epoch on nan.
    """
    cfg, model, x, y = run.cfg, run.model, run.data.train_x, run.data.train_y
    model.train()
    start = time.perf_counter()
    order = torch.randperm(len(y), generator=run.shuffle).to(x.device)
    total = torch.zeros((), device=x.device)
    steps = 0
    for steps, begin in enumerate(range(0, len(y), cfg.batch_size), start=1):
        idx = order[begin : begin + cfg.batch_size]
        loss = _criterion(cfg.loss, model(x[idx]), y[idx])
        run.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        run.optimizer.step()
        total += loss.detach()
        if steps == 1 or steps % CHECK_EVERY == 0:
            mean = float(total) / steps
            if is_bad(mean):
                break
            run.last_finite_loss = mean
    seconds = time.perf_counter() - start
    return float(total) / max(steps, 1), seconds, len(y) / seconds


@torch.no_grad()
def _evaluate(run: _Run, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    """(mean loss, accuracy) of the model in eval mode."""
    run.model.eval()
    loss_sum, correct = 0.0, 0
    for begin in range(0, len(y), EVAL_BATCH):
        logits = run.model(x[begin : begin + EVAL_BATCH])
        target = y[begin : begin + EVAL_BATCH]
        loss_sum += float(_criterion(run.cfg.loss, logits, target, reduction="sum"))
        correct += int((logits.argmax(dim=1) == target).sum())
    return loss_sum / len(y), correct / len(y)


def _params_finite(model: nn.Module) -> bool:
    return all(bool(torch.isfinite(p).all()) for p in model.parameters())


def _epoch(run: _Run, epoch: int) -> Metrics | str:
    """Train and evaluate one epoch; return its metrics, or the reason it diverged."""
    start = time.perf_counter()
    lr = run.optimizer.param_groups[0]["lr"]
    loss, _, samples_per_s = _train_epoch(run)
    if is_bad(loss):
        return f"training loss {loss:g} in epoch {epoch} (lr={lr:g})"
    if not _params_finite(run.model):
        return f"non-finite weights after epoch {epoch} (lr={lr:g})"
    val_loss, val_acc = _evaluate(run, run.data.val_x, run.data.val_y)
    _, train_acc = _evaluate(run, *run.train_eval)
    _, test_acc = _evaluate(run, run.data.test_x, run.data.test_y)
    if is_bad(val_loss):
        return f"validation loss {val_loss:g} in epoch {epoch} (lr={lr:g})"
    run.schedule.step()
    return {
        "epoch": epoch,
        "loss": loss,
        "train_acc": train_acc,
        "val_loss": val_loss,
        "val_acc": val_acc,
        "test_acc": test_acc,
        "gap": train_acc - val_acc,
        "lr": lr,
        "time_s": time.perf_counter() - start,
        "samples_per_s": samples_per_s,
        "diverged": False,
    }


def train(
    cfg: MnistConfig, build: Any, report: Report | None, checkpoint: Checkpointer | None
) -> Metrics:
    """Train until ``epochs``, early stopping or divergence; report after every epoch.

    With a ``checkpoint``, the run resumes from its last saved state and saves after
    each epoch, so an interrupted trial continues exactly where it stopped.
    """
    run = _Run(cfg, build)
    saved = checkpoint.restore() if checkpoint is not None else None
    if saved is not None:
        run.load_state_dict(saved)
        log.info("resumed after epoch %d", run.progress.epoch)
    progress = run.progress
    metrics: Metrics = dict(progress.last)
    for epoch in range(progress.epoch + 1, cfg.epochs + 1):
        result = _epoch(run, epoch)
        if isinstance(result, str):
            # Before any epoch finished only the running training loss is known.
            last = progress.last or {"loss": run.last_finite_loss}
            return diverged(report, epoch, last, result)
        metrics = progress.advance(result, epoch, cfg.early_stop_patience)
        stop = metrics["stopped_early"]
        if checkpoint is not None:
            checkpoint.save(run.state_dict())
        emit(report, metrics)
        if stop:
            break
    return metrics
