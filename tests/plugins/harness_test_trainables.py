"""Test-only trainables, registered through $STUDY_HARNESS_TRAINABLES (also in Ray workers)."""

from __future__ import annotations

import functools
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import trainables
from trainables.config import param, parse_config


@dataclass(frozen=True)
class FlakyConfig:
    epochs: int = param(3, low=1, doc="epochs to report")
    fail_at: int = param(0, low=0, doc="epoch at which to fail (0 = never)")
    how: str = param("raise", choices=("raise", "exit"), doc="raise an error or kill the process")
    marker: str = param("", doc="fail only while this file is absent (then create it)")
    value: float = param(1.0, doc="loss = value / epoch")
    sleep: float = param(0.0, low=0.0, doc="seconds to sleep per epoch")
    seed: int = param(0, low=0, doc="unused")


def flaky(
    config: dict[str, Any] | None = None, report=None, checkpoint=None, *, name: str = "flaky"
) -> dict[str, Any]:
    """Reports loss = value / epoch and fails at ``fail_at`` as told; checkpoints its epoch."""
    cfg = parse_config(FlakyConfig, config, name)
    start = 0
    if checkpoint is not None and (state := checkpoint.restore()) is not None:
        start = state["progress"]["epoch"]
    metrics: dict[str, Any] = {}
    for epoch in range(start + 1, cfg.epochs + 1):
        if epoch == cfg.fail_at and not (cfg.marker and Path(cfg.marker).exists()):
            if cfg.marker:
                Path(cfg.marker).write_text("failed once")
            if cfg.how == "exit":
                os._exit(3)
            raise RuntimeError(f"flaky failed on purpose at epoch {epoch}")
        time.sleep(cfg.sleep)
        metrics = {
            "epoch": epoch,
            "loss": cfg.value / epoch,
            "diverged": False,
            "resumed_from": start,
        }
        if checkpoint is not None:
            checkpoint.save({"progress": {"epoch": epoch}})
        if report is not None:
            report(metrics)
    return metrics


if "flaky" not in trainables.REGISTRY:
    trainables.register(
        trainables.TrainableInfo(
            "flaky", flaky, FlakyConfig, ("resumed_from",), True, "test-only: fails on demand"
        )
    )
    # The same without checkpoints: the study layer gives it none, so a retry starts over.
    trainables.register(
        trainables.TrainableInfo(
            "flaky_plain",
            functools.partial(flaky, name="flaky_plain"),
            FlakyConfig,
            ("resumed_from",),
            False,
            "test-only: fails on demand, no checkpoints",
        )
    )
