"""Hand-built experiment folders: spec.yaml, trials.csv and history.csv written by the test."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml


def write_experiment(
    folder: Path,
    spec: dict[str, Any],
    trials: list[dict[str, Any]],
    history: list[dict[str, Any]] | None = None,
) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "spec.yaml").write_text(yaml.safe_dump(spec))
    pd.DataFrame(trials).to_csv(folder / "trials.csv", index=False)
    pd.DataFrame(history or [{"trial_id": t["trial_id"], "epoch": 1} for t in trials]).to_csv(
        folder / "history.csv", index=False
    )
    return folder


@pytest.fixture
def make_experiment(tmp_path):
    def make(name="exp", **kwargs):
        return write_experiment(tmp_path / name, **kwargs)

    return make


def remedy_experiment(make_experiment):
    """mlp-remedies in miniature: 3 variants x 2 seeds with known accuracies."""
    values = {  # variant: [(val_acc, test_acc, gap, best_epoch) per seed]
        "baseline": [(0.80, 0.79, 0.15, 10), (0.82, 0.81, 0.13, 12)],
        "dropout": [(0.86, 0.85, 0.05, 20), (0.88, 0.86, 0.03, 22)],
        "all": [(0.90, 0.89, 0.02, 25), (0.92, 0.91, 0.00, 27)],
    }
    trials, history = [], []
    for variant, seeds in values.items():
        for seed, (val, test, gap, best) in enumerate(seeds):
            tid = f"{variant}-{seed}"
            trials.append(
                {
                    "trial_id": tid,
                    "status": "completed",
                    "variant": variant,
                    "config/seed": seed,
                    "config/dropout": 0.3 if variant != "baseline" else 0.0,
                    "val_acc": val,
                    "test_acc": test,
                    "gap": gap,
                    "best_epoch": best,
                    "best/val_acc": val,
                    "objective": val,
                    "best/objective": val,
                    "epochs": 30,
                    "time_s": 10.0,
                }
            )
            for epoch in (1, 2):
                history.append(
                    {
                        "trial_id": tid,
                        "epoch": epoch,
                        "gap": gap * epoch / 2,
                        "val_acc": val,
                        "loss": 1.0 / epoch,
                    }
                )
    spec = {
        "name": "remedies",
        "trainable": "mnist_mlp",
        "metric": "val_acc",
        "mode": "max",
        "search": {"algorithm": "grid"},
        "scheduler": {"name": "fifo"},
        "variants": {v: {} for v in values},
        "space": {"seed": {"grid": [0, 1]}},
    }
    return make_experiment("remedies", spec=spec, trials=trials, history=history)
