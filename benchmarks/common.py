"""Shared helpers: the machine's description, timing, saving and printing results."""

from __future__ import annotations

import json
import os
import platform
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).parent / "results"


def machine() -> dict[str, Any]:
    """What the numbers were measured on."""
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info = {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
    }
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def timed(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def save(name: str, data: dict[str, Any]) -> Path:
    """Write a benchmark's figures as JSON under benchmarks/results/."""
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps({"machine": machine(), **data}, indent=2, default=str))
    return path


def table(rows: list[dict[str, Any]]) -> str:
    """A Markdown table of rows (same keys), numbers to 4 significant digits."""
    if not rows:
        return ""
    keys = list(rows[0])
    fmt = [
        " | ".join(f"{r[k]:.4g}" if isinstance(r[k], float) else str(r[k]) for k in keys)
        for r in rows
    ]
    return "\n".join(
        ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)] + [f"| {line} |" for line in fmt]
    )
