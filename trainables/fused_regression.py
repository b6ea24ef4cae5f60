"""The regressions as fused groups: every member's SGD in one vectorised loop.

The seed's per-sample SGD (trainables/regression.py) runs on ``[K]`` tensors, one
element per member, with the very operations of the solo loop (float32, autograd,
``p = p - lr * grad``), so each member's numbers are bitwise its solo run's
(tests/trainables/test_fused.py checks equality, not closeness). A member that
diverges stops there, with the solo loop's report; the others go on. The brute
force (``loss_landscape``) evaluates every member's point at once in float64, as
the solo path computes in Python floats.

Members may differ in :data:`REGRESSION_KEYS` (``loss_landscape``: in every key).
``linear_wb``'s ``impl: module`` (nn.Linear + optim.SGD) has no vectorised path:
its members run one after the other in this process, which is exact and still
saves each one's trial overhead.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import torch

from .common import Metrics, is_bad
from .config import InvalidConfig, group_key, parse_config, settings
from .fused import GroupReport, Prune
from .model_configs import LinearWBConfig, LinearWConfig, LossLandscapeConfig, resolve_data
from .registry import REGRESSION_KEYS
from .regression import linear_wb


def _parse(configs: Sequence[Mapping[str, Any]], cls: type, name: str) -> list[Any]:
    cfgs: list[Any] = [parse_config(cls, c, name) for c in configs]
    if not cfgs:
        raise InvalidConfig(f"{name}: a fused group needs at least one config")
    if len({group_key(settings(c), REGRESSION_KEYS) for c in cfgs}) > 1:
        raise InvalidConfig(
            f"{name}: the members of a fused group may differ only in {', '.join(REGRESSION_KEYS)}"
        )
    return cfgs


Forward = Callable[[dict[str, torch.Tensor], float], torch.Tensor]


def _mses(
    forward: Forward, params: dict[str, torch.Tensor], xs: Sequence[float], ys: Sequence[float]
) -> list[float]:
    """Each member's MSE over the data, summed in Python floats in the solo loop's order."""
    with torch.no_grad():
        columns = torch.stack([(forward(params, x) - y) ** 2 for x, y in zip(xs, ys)]).tolist()
    return [sum(float(row[k]) for row in columns) / len(xs) for k in range(len(columns[0]))]


def _keep_rows(
    params: dict[str, torch.Tensor], lr: torch.Tensor, rows: list[int]
) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """The parameters and learning rates of the members at ``rows`` only."""
    index = torch.tensor(rows, dtype=torch.long)
    kept = {n: p.detach()[index].clone().requires_grad_() for n, p in params.items()}
    return kept, lr[index]


def _manual_sgd_group(
    init: dict[str, list[float]],
    forward: Forward,
    data: tuple[Sequence[float], Sequence[float]],
    lrs: list[float],
    epochs: int,
    report: GroupReport | None,
    grad_names: dict[str, str],
    prune: Prune | None = None,
) -> dict[int, Metrics]:
    """regression._manual_sgd for every member at once (see that function)."""
    return _SgdGroup(init, forward, data, lrs, grad_names).run(epochs, report, prune)


class _SgdGroup:
    """The members still training (``alive``: member indices, in stack order), their
    stacked parameters and learning rates, and each member's last finite state, which
    is what a member that diverges reports (as the solo loop does)."""

    def __init__(
        self,
        init: dict[str, list[float]],
        forward: Forward,
        data: tuple[Sequence[float], Sequence[float]],
        lrs: list[float],
        grad_names: dict[str, str],
    ) -> None:
        self.forward, (self.xs, self.ys), self.grad_names = forward, data, grad_names
        self.alive = list(range(len(lrs)))
        self.params = {
            n: torch.tensor(v, dtype=torch.float32, requires_grad=True) for n, v in init.items()
        }
        self.lr = torch.tensor(lrs, dtype=torch.float32)
        zero = {n: [0.0] * len(self.alive) for n in grad_names}
        self.last = self._state(self._values(), _mses(forward, self.params, self.xs, self.ys), zero)

    def _values(self) -> dict[str, list[float]]:
        return {n: p.detach().tolist() for n, p in self.params.items()}

    def _state(
        self, values: dict[str, list[float]], losses: list[float], grads: dict[str, list[float]]
    ) -> dict[int, Metrics]:
        return {
            member: {
                "loss": losses[row],
                **{n: values[n][row] for n in values},
                **{self.grad_names[n]: grads[n][row] for n in self.grad_names},
            }
            for row, member in enumerate(self.alive)
        }

    def _keep(self, rows: list[int]) -> None:
        """Only the members at stack ``rows`` go on."""
        self.alive = [self.alive[r] for r in rows]
        self.params, self.lr = _keep_rows(self.params, self.lr, rows)

    def run(
        self, epochs: int, report: GroupReport | None, prune: Prune | None
    ) -> dict[int, Metrics]:
        final: dict[int, Metrics] = {}
        for epoch in range(1, epochs + 1):
            results: dict[int, Metrics] = {}
            grads = self._samples(epoch, results)
            if self.alive:
                self._epoch_end(epoch, results, grads)
            final.update(results)
            leaving = set(prune(results)) if prune is not None and results else set()
            if report is not None and results:
                report(results)
            if leaving & set(self.alive):
                self._keep([r for r, member in enumerate(self.alive) if member not in leaving])
            if not self.alive:
                break
        return final

    def _samples(self, epoch: int, results: dict[int, Metrics]) -> dict[str, list[float]]:
        """One epoch's per-sample SGD steps; a member whose loss, weights or gradient go
        bad at a sample diverges there. The last step's gradients of those left."""
        grads: dict[str, list[float]] = {}
        for x, y in zip(self.xs, self.ys):
            loss = (self.forward(self.params, x) - y) ** 2
            loss.sum().backward()
            grads = {n: p.grad.tolist() for n, p in self.params.items()}  # type: ignore[union-attr]
            for p in self.params.values():
                p.data = p.data - self.lr * p.grad.data  # type: ignore[union-attr]
                p.grad.data.zero_()  # type: ignore[union-attr]
            now = self._values()
            losses = loss.detach().tolist()
            bad = [
                row
                for row in range(len(self.alive))
                if is_bad(losses[row], *(now[n][row] for n in now), *(grads[n][row] for n in grads))
            ]
            for row in bad:
                member = self.alive[row]
                results[member] = {
                    **self.last[member],
                    "epoch": epoch,
                    "diverged": True,
                    "divergence": f"nan/inf/overflow at sample x={x:g}",
                }
            if bad:
                rows = [r for r in range(len(self.alive)) if r not in bad]
                if not rows:
                    self.alive = []
                    break
                self._keep(rows)
                grads = {n: [g[r] for r in rows] for n, g in grads.items()}
        return grads

    def _epoch_end(
        self, epoch: int, results: dict[int, Metrics], grads: dict[str, list[float]]
    ) -> None:
        """The epoch's MSE of each member left: one that is bad diverges, the others
        report their state."""
        mses = _mses(self.forward, self.params, self.xs, self.ys)
        now = self._values()
        bad_rows = [row for row, mse in enumerate(mses) if is_bad(mse)]
        for row in bad_rows:
            member = self.alive[row]
            results[member] = {
                **self.last[member],
                "epoch": epoch,
                "diverged": True,
                "divergence": f"mse={mses[row]:g} after epoch {epoch}",
            }
        fresh = self._state(now, mses, grads)
        for row, member in enumerate(self.alive):
            if row not in bad_rows:
                self.last[member] = fresh[member]
                results[member] = {"epoch": epoch, "diverged": False, **fresh[member]}
        if bad_rows:
            self._keep([r for r in range(len(self.alive)) if r not in bad_rows])


def linear_w_group(
    configs: Sequence[Mapping[str, Any]],
    report: GroupReport | None = None,
    prune: Prune | None = None,
) -> dict[int, Metrics]:
    """``linear_w`` for every config at once, bitwise as each would run alone."""
    cfgs = _parse(configs, LinearWConfig, "linear_w")
    first = cfgs[0]
    data = resolve_data(first.data, first.data_seed, "seed")
    return _manual_sgd_group(
        {"w": [c.w0 for c in cfgs]},
        lambda p, x: x * p["w"],
        data,
        [c.lr for c in cfgs],
        first.epochs,
        report,
        {"w": "grad"},
        prune,
    )


def linear_wb_group(
    configs: Sequence[Mapping[str, Any]],
    report: GroupReport | None = None,
    prune: Prune | None = None,
) -> dict[int, Metrics]:
    """``linear_wb`` for every config at once, bitwise as each would run alone."""
    cfgs = _parse(configs, LinearWBConfig, "linear_wb")
    first = cfgs[0]
    if first.impl == "module":
        return run_each(linear_wb, configs, report, prune)
    data = resolve_data(first.data, first.data_seed, "random")
    return _manual_sgd_group(
        {"w": [c.w0 for c in cfgs], "b": [c.b0 for c in cfgs]},
        lambda p, x: p["w"] * x + p["b"],
        data,
        [c.lr for c in cfgs],
        first.epochs,
        report,
        {},
        prune,
    )


def run_each(
    fn: Callable[..., Metrics],
    configs: Sequence[Mapping[str, Any]],
    report: GroupReport | None,
    prune: Prune | None = None,
) -> dict[int, Metrics]:
    """Each member's solo run in turn, reported epoch by epoch once all have run; a
    member that ``prune`` stops after an epoch reports none after it (exact: the
    members never interact, so its later epochs are simply not used)."""
    epochs: list[list[Metrics]] = []
    final: dict[int, Metrics] = {}
    for index, config in enumerate(configs):
        seen: list[Metrics] = []
        final[index] = fn(dict(config), lambda m, seen=seen: seen.append(dict(m)))
        epochs.append(seen)
    pruned: set[int] = set()
    for step in range(max((len(e) for e in epochs), default=0)):
        results = {i: e[step] for i, e in enumerate(epochs) if step < len(e) and i not in pruned}
        if not results:
            break
        for i, metrics in results.items():
            final[i] = metrics
        leaving = set(prune(results)) if prune is not None else set()
        if report is not None:
            report(results)
        pruned |= leaving
    return final


def loss_landscape_group(
    configs: Sequence[Mapping[str, Any]],
    report: GroupReport | None = None,
    prune: Prune | None = None,
) -> dict[int, Metrics]:
    """The brute force at every member's (w, b) at once: one float64 array operation per
    data set. Members may differ in every key."""
    cfgs = [parse_config(LossLandscapeConfig, c, "loss_landscape") for c in configs]
    results: dict[int, Metrics] = {}
    by_data: dict[str, list[int]] = {}
    for index, cfg in enumerate(cfgs):
        by_data.setdefault(repr((cfg.data, cfg.data_seed)), []).append(index)
    for members in by_data.values():
        first = cfgs[members[0]]
        data = resolve_data(first.data, first.data_seed, "seed")
        xs, ys = (np.asarray(v, dtype=np.float64) for v in data)
        w = np.array([cfgs[i].w for i in members], dtype=np.float64)[:, None]
        b = np.array([cfgs[i].b for i in members], dtype=np.float64)[:, None]
        mse = (((w * xs + b - ys) ** 2).sum(axis=1) / len(xs)).tolist()
        for row, index in enumerate(members):
            cfg = cfgs[index]
            point = {"w": cfg.w, "b": cfg.b}
            results[index] = {"epoch": 1, "loss": mse[row], "diverged": False, **point}
    if report is not None:
        report(results)
    return results
