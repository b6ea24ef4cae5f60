"""A small experiment folder written by hand (no Ray): for command-line tests that need
one to analyze or compare."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import yaml


def small_experiment(folder: Path, name: str | None = None) -> Path:
    """Four mnist_mlp trials over lr, two epochs each."""
    folder.mkdir(parents=True, exist_ok=True)
    spec = {
        "name": name or folder.name,
        "trainable": "mnist_mlp",
        "metric": "val_acc",
        "mode": "max",
        "search": {"algorithm": "random", "seed": 0},
        "space": {"lr": {"loguniform": [0.001, 1.0]}},
    }
    (folder / "spec.yaml").write_text(yaml.safe_dump(spec))
    trials, history = [], []
    for i, (lr, acc) in enumerate([(0.001, 0.6), (0.01, 0.8), (0.1, 0.9), (0.5, 0.7)]):
        tid = f"t{i}"
        trials.append(
            {
                "trial_id": tid,
                "status": "completed",
                "config/lr": lr,
                "val_acc": acc,
                "objective": acc,
                "best/val_acc": acc,
                "best/objective": acc,
                "epochs": 2,
            }
        )
        for epoch in (1, 2):
            history.append(
                {
                    "trial_id": tid,
                    "epoch": epoch,
                    "val_acc": acc * epoch / 2,
                    "objective": acc * epoch / 2,
                    "loss": 1.0 / epoch,
                    "val_loss": 1.2 / epoch,
                    "train_acc": acc * epoch / 2 + 0.05,
                }
            )
    pd.DataFrame(trials).to_csv(folder / "trials.csv", index=False)
    pd.DataFrame(history).to_csv(folder / "history.csv", index=False)
    return folder
