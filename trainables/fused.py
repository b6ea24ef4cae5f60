"""Many configurations of one network trained together in one process: a fused group.

A group is up to K configs of ``mnist_mlp`` or ``mnist_cnn`` that agree on every key
that sets a tensor's shape or the data (:data:`MEMBER_KEYS` lists the keys that may
differ). Their weights are stacked along a leading member axis and trained with one
kernel per layer (stacked.py), HFTA's method (Wang et al., MLSys 2021): each ``Linear`` is a
``baddbmm`` over ``[K, in, out]`` weights, and the Conv2d layers are one grouped
convolution with K times the groups. ARCHITECTURE.md, "Fused trial groups", says why
this and not ``torch.func.vmap`` (measured: 0.6x the speed of K separate models on
this CPU, against 1.0-1.5x for the stacked kernels).

Each member trains as it would alone:

- its initial weights are its own seed's (the solo model is built under that seed
  and its tensors are stacked);
- its data order is its own seed's shuffle, gathered as a ``[K, B, ...]`` batch;
- SGD's lr, momentum and weight decay are per-member ``[K, 1, ...]`` tensors, with
  torch.optim.SGD's update rule; the lr decays per member;
- its dropout rate is its own, with masks of its own (drawn for the whole group, so
  not the masks its solo run draws);
- early stopping, the divergence checks and the metrics are the solo loop's, per
  member (trainables/mnist.py).

A member that diverges, stops early or is cut by the caller (``prune``: the
scheduler's say) leaves the stacked tensors; the others go on unchanged, as the
members never share a value. Without dropout, every member's metrics equal its
solo run's within float32 rounding (tests/trainables/test_fused.py states the
tolerance).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from .common import Checkpointer, Metrics, is_bad
from .config import InvalidConfig, group_key, parse_config, settings
from .mnist import CHECK_EVERY, EVAL_BATCH, _criterion, _Progress, load_data, resolve_device
from .model_configs import CnnConfig, MnistConfig
from .models import CNN, MLP
from .registry import NETWORK_KEYS
from .stacked import Stacked

log = logging.getLogger(__name__)

# The keys in which the members of a network group may differ (NETWORK_KEYS, named in
# trainables/__init__.py, which must not import torch); every other key (batch size,
# architecture, Conv2d plan, data set, epochs, loss...) makes another group.
MEMBER_KEYS = NETWORK_KEYS

# report(epoch's results): member index -> that member's metrics, for every member
# that trained in the epoch (those that diverged in it included).
GroupReport = Callable[[dict[int, Metrics]], None]
# prune(epoch's results) -> member indices to stop after this epoch (the scheduler).
Prune = Callable[[dict[int, Metrics]], Iterable[int]]


def _per_member(values: Sequence[float], device: torch.device) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float32, device=device)


@dataclass
class _Member:
    """One member's own state besides its weights."""

    index: int  # its place in the configs the group was given
    cfg: MnistConfig
    lr: float
    shuffle: torch.Generator
    progress: _Progress = field(default_factory=_Progress)
    last_finite_loss: float = math.nan
    ended: bool = False


class Group:
    """A fused group's whole training state (what a checkpoint holds). With
    ``shared_order`` every member draws its batches in one order, its first member's
    seed's (HFTA's choice: the first layer is then one broadcast matmul over one batch),
    so the members are no longer their solo runs (README, "Fused trial groups")."""

    def __init__(
        self,
        cfgs: Sequence[MnistConfig],
        build: Callable[[MnistConfig], Any],
        shared_order: bool = False,
    ) -> None:
        first = cfgs[0]
        self.shared_order = torch.Generator().manual_seed(first.seed) if shared_order else None
        self.cfg = first
        self.device = resolve_device(first.device)
        solos = []
        for cfg in cfgs:
            torch.manual_seed(cfg.seed)  # each member's initial weights are its own seed's
            solos.append(build(cfg))
        self.stack = Stacked(solos, first)
        self.stack.params = {
            n: p.detach().to(self.device).requires_grad_() for n, p in self.stack.params.items()
        }
        self.members = [
            _Member(i, cfg, cfg.lr, torch.Generator().manual_seed(cfg.seed))
            for i, cfg in enumerate(cfgs)
        ]
        self.momentum_buffers = {n: torch.zeros_like(p) for n, p in self.stack.params.items()}
        self.data, self.train_eval = load_data(first, self.device)

    @property
    def active(self) -> list[_Member]:
        return [m for m in self.members if not m.ended]

    def cut(self, leaving: Iterable[int]) -> None:
        """Take the members with these config indices out of the stacked tensors."""
        gone = set(leaving)
        active = self.active
        rows = [r for r, m in enumerate(active) if m.index not in gone]
        if len(rows) == len(active):
            return
        for m in active:
            if m.index in gone:
                m.ended = True
        if rows:
            index = torch.tensor(rows, device=self.device)
            self.stack.keep(index)
            buffers = self.momentum_buffers.items()
            self.momentum_buffers = {n: b[index].contiguous() for n, b in buffers}

    def state_dict(self) -> dict[str, Any]:
        state: dict[str, Any] = {
            "params": {n: p.detach() for n, p in self.stack.params.items()},
            "momentum": self.momentum_buffers,
            "members": [
                {
                    "lr": m.lr,
                    "shuffle": m.shuffle.get_state(),
                    "progress": vars(m.progress),
                    "last_finite_loss": m.last_finite_loss,
                    "ended": m.ended,
                }
                for m in self.members
            ],
            "torch_rng": torch.get_rng_state(),
        }
        if self.shared_order is not None:
            state["shared_order"] = self.shared_order.get_state()
        if self.device.type == "cuda":
            state["cuda_rng"] = torch.cuda.get_rng_state(self.device)
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.stack.params = {
            n: p.to(self.device).requires_grad_() for n, p in state["params"].items()
        }
        self.momentum_buffers = {n: b.to(self.device) for n, b in state["momentum"].items()}
        for member, saved in zip(self.members, state["members"], strict=True):
            member.lr = float(saved["lr"])
            member.shuffle.set_state(saved["shuffle"])
            member.progress = _Progress(**saved["progress"])
            member.last_finite_loss = float(saved["last_finite_loss"])
            member.ended = bool(saved["ended"])
        torch.set_rng_state(state["torch_rng"])
        if self.shared_order is not None and "shared_order" in state:
            self.shared_order.set_state(state["shared_order"])
        if "cuda_rng" in state and self.device.type == "cuda":
            torch.cuda.set_rng_state(state["cuda_rng"], self.device)

    def _hyper(self, name: str) -> torch.Tensor:
        return _per_member([getattr(m.cfg, name) for m in self.active], self.device)

    def _sgd_step(self, grads: Sequence[torch.Tensor]) -> None:
        """torch.optim.SGD's rule (dampening 0, no Nesterov) with per-member lr,
        momentum and weight decay: d = g + wd·p; buf = momentum·buf + d; p -= lr·buf."""
        active = self.active
        lr = _per_member([m.lr for m in active], self.device)
        momentum, decay = self._hyper("momentum"), self._hyper("weight_decay")
        params = list(self.stack.params.values())
        buffers = list(self.momentum_buffers.values())

        def views(values: torch.Tensor) -> list[torch.Tensor]:
            return [values.view((-1,) + (1,) * (p.dim() - 1)) for p in params]

        with torch.no_grad():  # one foreach kernel per step of the rule, for all tensors
            steps = list(grads)
            if bool((decay != 0).any()):
                steps = list(torch._foreach_addcmul(steps, views(decay), params))
            torch._foreach_mul_(buffers, views(momentum))
            torch._foreach_add_(buffers, steps)
            torch._foreach_addcmul_(params, views(lr), buffers, value=-1.0)

    def _losses(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Each member's loss on each of its examples: ``[K, B]`` (mnist's criterion)."""
        k, b = target.shape
        each = _criterion(self.cfg.loss, logits.reshape(k * b, -1), target.reshape(-1), "none")
        return each.view(k, b)

    def train_epoch(self, epoch: int) -> tuple[dict[int, float], dict[int, str], float]:
        """One pass for every active member: (mean loss per member, divergence reason
        per member that blew up in it, seconds)."""
        x, y = self.data.train_x, self.data.train_y
        n, batch = len(y), self.cfg.batch_size
        start = time.perf_counter()
        active = self.active
        if self.shared_order is not None:  # one order for all: [1, n], used as [n]
            orders = torch.randperm(n, generator=self.shared_order).unsqueeze(0)
        else:
            orders = torch.stack([torch.randperm(n, generator=m.shuffle) for m in active])
        orders = orders.to(self.device)
        dropout = self._hyper("dropout")
        use_dropout = bool((dropout > 0).any())
        total = torch.zeros(len(active), device=self.device)
        steps = 0
        means: dict[int, float] = {}
        blew_up: dict[int, str] = {}
        for steps, begin in enumerate(range(0, n, batch), start=1):
            if not active:
                break
            drop = dropout if use_dropout else None
            if self.shared_order is not None:  # one [B, ...] batch for every member
                idx = orders[0, begin : begin + batch]
                logits = self.stack.forward(x[idx], drop, shared=True)
                losses = self._losses(logits, y[idx].expand(len(active), -1)).mean(dim=1)
            else:
                idx = orders[:, begin : begin + batch]
                logits = self.stack.forward(x[idx], drop)
                losses = self._losses(logits, y[idx]).mean(dim=1)
            grads = torch.autograd.grad(losses.sum(), list(self.stack.params.values()))
            self._sgd_step(grads)
            total += losses.detach()
            if steps == 1 or steps % CHECK_EVERY == 0:
                bad = []
                for member, mean in zip(active, (total / steps).tolist()):
                    if is_bad(mean):
                        means[member.index] = mean
                        blew_up[member.index] = _bad_loss(mean, epoch, member.lr)
                        bad.append(member.index)
                    else:
                        member.last_finite_loss = mean
                if bad:
                    keep = [r for r, m in enumerate(active) if m.index not in bad]
                    self.cut(bad)
                    active = self.active
                    total = total[keep]
                    if self.shared_order is None:
                        orders = orders[keep]
                    dropout = dropout[keep]
        for member, mean in zip(active, (total / max(steps, 1)).tolist()):
            means[member.index] = mean
        return means, blew_up, time.perf_counter() - start

    @torch.no_grad()
    def evaluate(self, x: torch.Tensor, y: torch.Tensor) -> tuple[list[float], list[float]]:
        """(mean loss, accuracy) of every active member, in eval mode."""
        k = self.stack.size
        loss_sum = torch.zeros(k, dtype=torch.float64, device=self.device)
        correct = torch.zeros(k, dtype=torch.int64, device=self.device)
        for begin in range(0, len(y), EVAL_BATCH):
            logits = self.stack.forward(x[begin : begin + EVAL_BATCH], None, shared=True)
            target = y[begin : begin + EVAL_BATCH].expand(k, -1)
            loss_sum += self._losses(logits, target).sum(dim=1).double()
            correct += (logits.argmax(dim=2) == target).sum(dim=1)
        return (loss_sum / len(y)).tolist(), (correct.double() / len(y)).tolist()

    def finite_members(self) -> list[bool]:
        """Whether each active member's weights are all finite."""
        k = self.stack.size
        ok = torch.ones(k, dtype=torch.bool, device=self.device)
        for p in self.stack.params.values():
            ok &= torch.isfinite(p.detach().reshape(k, -1)).all(dim=1)
        return ok.tolist()


def _bad_loss(loss: float, epoch: int, lr: float) -> str:
    return f"training loss {loss:g} in epoch {epoch} (lr={lr:g})"  # mnist._epoch's words


def _epoch(group: Group, epoch: int) -> dict[int, Metrics | str]:
    """Train and evaluate one epoch: each member's metrics, or why it diverged."""
    start = time.perf_counter()
    lrs = {m.index: m.lr for m in group.active}
    losses, out, seconds = group.train_epoch(epoch)
    results: dict[int, Metrics | str] = dict(out)
    for member, finite in zip(group.active, group.finite_members()):
        lr = lrs[member.index]
        if is_bad(losses[member.index]):  # the epoch's mean, if it went bad after a check
            results[member.index] = _bad_loss(losses[member.index], epoch, lr)
        elif not finite:
            results[member.index] = f"non-finite weights after epoch {epoch} (lr={lr:g})"
    group.cut(i for i, r in results.items() if isinstance(r, str) and i not in out)
    active = group.active
    if active:
        val = group.evaluate(group.data.val_x, group.data.val_y)
        train = group.evaluate(*group.train_eval)
        test = group.evaluate(group.data.test_x, group.data.test_y)
        n = len(group.data.train_y)
        for row, member in enumerate(active):
            lr = lrs[member.index]
            val_loss, val_acc = val[0][row], val[1][row]
            if is_bad(val_loss):
                results[member.index] = f"validation loss {val_loss:g} in epoch {epoch} (lr={lr:g})"
                continue
            member.lr = member.lr * member.cfg.lr_decay  # ExponentialLR's step
            train_acc, test_acc = train[1][row], test[1][row]
            results[member.index] = {
                "epoch": epoch,
                "loss": losses[member.index],
                "train_acc": train_acc,
                "val_loss": val_loss,
                "val_acc": val_acc,
                "test_acc": test_acc,
                "gap": train_acc - val_acc,
                "lr": lr,
                "time_s": time.perf_counter() - start,
                "samples_per_s": n / seconds,  # this member's: the group's epoch, n samples each
                "diverged": False,
            }
    group.cut(i for i, r in results.items() if isinstance(r, str))
    return results


def train_group(
    cfgs: Sequence[MnistConfig],
    build: Callable[[MnistConfig], Any],
    report: GroupReport | None,
    checkpoint: Checkpointer | None = None,
    prune: Prune | None = None,
    shared_order: bool = False,
) -> dict[int, Metrics]:
    """Train the members until each ends (its epochs, early stopping, divergence, or
    ``prune``); ``report`` after every epoch. Returns each member's last metrics."""
    group = Group(cfgs, build, shared_order)
    saved = checkpoint.restore() if checkpoint is not None else None
    if saved is not None:
        group.load_state_dict(saved)
        log.info("group resumed after epoch %d", max(m.progress.epoch for m in group.members))
    last: dict[int, Metrics] = {m.index: dict(m.progress.last) for m in group.members}
    for epoch in range(1, group.cfg.epochs + 1):
        if not group.active:
            break
        if all(m.progress.epoch >= epoch for m in group.active):
            continue  # done before the checkpoint this run resumed from
        results: dict[int, Metrics] = {}
        for index, result in _epoch(group, epoch).items():
            member = group.members[index]
            progress = member.progress
            if isinstance(result, str):
                before = progress.last or {"loss": member.last_finite_loss}
                results[index] = {**before, "epoch": epoch, "diverged": True, "divergence": result}
                member.ended = True
                continue
            results[index] = progress.advance(result, epoch, member.cfg.early_stop_patience)
        ending = {i for i, m in results.items() if m.get("stopped_early")}
        if prune is not None:
            ending |= set(prune(results))
        group.cut(ending)
        last.update(results)
        if checkpoint is not None:
            checkpoint.save(group.state_dict())
        if report is not None:
            report(results)
    return last


def _parse(
    configs: Sequence[Mapping[str, Any]], cls: type[MnistConfig], name: str
) -> list[MnistConfig]:
    cfgs = [parse_config(cls, c, name) for c in configs]
    if not cfgs:
        raise InvalidConfig(f"{name}: a fused group needs at least one config")
    keys = {group_key(settings(c), MEMBER_KEYS) for c in cfgs}
    if len(keys) > 1:
        raise InvalidConfig(
            f"{name}: the members of a fused group may differ only in {', '.join(MEMBER_KEYS)}"
        )
    return cfgs


def mnist_mlp_group(
    configs: Sequence[Mapping[str, Any]],
    report: GroupReport | None = None,
    checkpoint: Checkpointer | None = None,
    prune: Prune | None = None,
    shared_order: bool = False,
) -> dict[int, Metrics]:
    """``mnist_mlp`` for every config at once (see the module's docstring)."""
    cfgs = _parse(configs, MnistConfig, "mnist_mlp")
    return train_group(cfgs, lambda c: MLP(c.dropout), report, checkpoint, prune, shared_order)


def mnist_cnn_group(
    configs: Sequence[Mapping[str, Any]],
    report: GroupReport | None = None,
    checkpoint: Checkpointer | None = None,
    prune: Prune | None = None,
    shared_order: bool = False,
) -> dict[int, Metrics]:
    """``mnist_cnn`` for every config at once (see the module's docstring)."""
    cfgs = _parse(configs, CnnConfig, "mnist_cnn")

    def build(c: MnistConfig) -> CNN:
        assert isinstance(c, CnnConfig)
        return CNN(c.plan, c.bias, c.pool, c.pool_size, c.dropout)

    return train_group(cfgs, build, report, checkpoint, prune, shared_order)
