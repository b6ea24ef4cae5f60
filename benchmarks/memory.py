"""Benchmark 4: peak memory of a study with 2 concurrent MNIST trials vs a single trial.

Uses full-size MNIST (60,000 training images written as IDX files, as in
epoch_throughput.py) so the data set's size (~190 MB as normalised float32) shows.
A sampler reads VmRSS of every Ray trial worker from /proc every 0.1 s. With
reused actors each worker process loads the data once and keeps it for every
trial it runs, so the peak per worker should not grow with the number of trials,
and the total should be about one copy per concurrent worker, not per trial.

    python benchmarks/memory.py [--trials 6]
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import save, table
from epoch_throughput import make_idx

MB = 1024 * 1024


class RssSampler(threading.Thread):
    """Peak RSS per Ray trial-worker process, and the peak of their sum."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.peak_per_pid: dict[int, int] = {}
        self.peak_total = 0
        self.running = True

    def run(self) -> None:
        while self.running:
            total = 0
            for proc in Path("/proc").iterdir():
                if not proc.name.isdigit():
                    continue
                try:
                    cmd = (proc / "cmdline").read_bytes()
                    if b"ImplicitFunc" not in cmd and b"run_trial" not in cmd:
                        continue
                    status = (proc / "status").read_text()
                except OSError:
                    continue
                rss = next(
                    (
                        int(line.split()[1]) * 1024
                        for line in status.splitlines()
                        if line.startswith("VmRSS:")
                    ),
                    0,
                )
                pid = int(proc.name)
                self.peak_per_pid[pid] = max(self.peak_per_pid.get(pid, 0), rss)
                total += rss
            self.peak_total = max(self.peak_total, total)
            time.sleep(0.1)


def measure(root: Path, storage: str, trials: int, concurrent: int) -> dict[str, float]:
    from study import run_study

    spec = {
        "name": f"mem-{trials}-{concurrent}",
        "trainable": "mnist_mlp",
        "metric": "val_acc",
        "mode": "max",
        "num_samples": trials,
        "max_concurrent": concurrent,
        "search": {"algorithm": "random", "seed": 0},
        "config": {
            "dataset": "mnist",
            "data_root": str(root),
            "epochs": 1,
            "train_limit": 3000,
            "eval_limit": 1000,
        },
        "space": {"lr": {"loguniform": [1e-3, 0.1]}},
    }
    sampler = RssSampler()
    sampler.start()
    start = time.perf_counter()
    run_study(spec, storage=storage, report=False)
    seconds = time.perf_counter() - start
    sampler.running = False
    sampler.join()
    peaks = sorted(sampler.peak_per_pid.values(), reverse=True)
    return {
        "trials": trials,
        "concurrent": concurrent,
        "workers": len(peaks),
        "peak_total_MB": sampler.peak_total / MB,
        "peak_per_worker_MB": (peaks[0] if peaks else 0) / MB,
        "seconds": seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=6)
    args = parser.parse_args()
    import ray

    from study.execution import cluster

    cluster.configure_env()
    ray.init(
        num_cpus=2, include_dashboard=False, logging_level=logging.CRITICAL, log_to_driver=False
    )
    data_mb = (60_000 + 10_000) * 784 * 4 / MB
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "data"
        make_idx(root)
        rows = [
            measure(root, tmp, 1, 1),
            measure(root, tmp, args.trials, 1),
            measure(root, tmp, args.trials, 2),
        ]
    print(f"normalised float32 data set: {data_mb:.0f} MB per copy")
    print(table(rows))
    print(save("memory", {"data_MB": data_mb, "rows": rows}))


if __name__ == "__main__":
    main()
