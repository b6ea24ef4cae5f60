"""Benchmark 7: one lr range test against a sweep's fitted boundary, MLP and CNN.

At the seed's settings (momentum 0.5, batch 64, mnist5k), for each model: the lr
range test (``lr_range``, 100 steps) for 3 seeds, and a sweep of 24 one-epoch
trials with lr log-uniform in [1e-3, 30] (random search), whose fitted stability
map gives lr_50 with its 95 % bootstrap interval. Side by side: the range test's
``diverged_lr`` against the sweep's ``lr_50``, and what each costs in
trial-epochs (a range test's 100 batches are 100 / 63 of an epoch of 4,000
images at batch 64).

    python benchmarks/lr_range_vs_sweep.py
"""

from __future__ import annotations

import logging
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import save, table

SEED_SETTINGS = {"dataset": "mnist5k", "momentum": 0.5, "batch_size": 64}
STEPS = 100
EPOCH_BATCHES = 3600 // 64 + 1  # training split after validation: 3,600 images


def main() -> None:
    import ray

    import trainables
    from analysis import load, tables
    from analysis.tables.divergence_fit import lr_50_at
    from study import run_study
    from study.execution import cluster

    logging.basicConfig(level=logging.WARNING)
    rows = []
    for model, trainable in (("mlp", "mnist_mlp"), ("cnn", "mnist_cnn")):
        found = [
            trainables.TRAINABLES["lr_range"](
                {**SEED_SETTINGS, "model": model, "steps": STEPS, "seed": seed}
            )
            for seed in (0, 1, 2)
        ]
        cluster.configure_env()
        with tempfile.TemporaryDirectory() as storage:
            spec = {
                "name": f"sweep-{model}",
                "trainable": trainable,
                "metric": "val_acc",
                "num_samples": 24,
                "search": {"algorithm": "random", "seed": 0},
                "config": {**SEED_SETTINGS, "epochs": 1},
                "space": {"lr": {"loguniform": [1e-3, 30.0]}},
            }
            folder = run_study(spec, storage=storage, report=False)
            exp = load(folder)
            fit = tables.stability_map(exp)
            lr_50, low, high = lr_50_at(fit, {}) if fit.fitted else (None, None, None)
            diverged = int((exp.trials["status"] == "diverged").sum())
        ray.shutdown()
        diverged_lrs = [f["diverged_lr"] for f in found]
        rows.append(
            {
                "model": model,
                "range_test_diverged_lr": [round(v, 3) for v in diverged_lrs],
                "range_test_median": round(statistics.median(diverged_lrs), 3),
                "range_test_suggested_lr": [round(f["suggested_lr"], 4) for f in found],
                "range_test_epochs": round(STEPS / EPOCH_BATCHES, 2),
                "sweep_lr_50": lr_50,
                "sweep_lr_50_interval": (low, high),
                "sweep_diverged": f"{diverged} of 24",
                "sweep_epochs": 24,
                "fit": fit.reason or "fitted",
            }
        )
        print(rows[-1], flush=True)
    print(table(rows))
    print(save("lr_range_vs_sweep", {"rows": rows, "settings": SEED_SETTINGS}))


if __name__ == "__main__":
    main()
