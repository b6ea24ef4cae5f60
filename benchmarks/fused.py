"""Benchmark 12: fused trial groups (``fuse: K``) against one trial per Ray trial.

Parts, each side by side in one run, medians over ``--repeats``:

- ``presets``: the whole ``study run loss-surface`` and ``study run lr-divergence``
  (fresh processes, as a user types them), unfused (``--set fuse=1``) against fused
  (``--set fuse=N``); the tables are compared row by row (loss-surface by (w, b);
  lr-divergence, whose Optuna proposals differ between any two runs, each row against
  the solo trainable at the same config).
- ``mlp16``: a 16-trial MLP study (lr x momentum grid, 5 epochs, batch 64, mnist5k),
  unfused against ``fuse: 16``: study wall and aggregate training samples/s (every
  trial's epochs x training set / wall).
- ``kernels``: one training epoch in-process, K separate models stepped one after the
  other (what K unfused trials do, without Ray) against one fused group of K, MLP and
  CNN at batch 64, K = 1, 4, 16 (and 64 on a GPU): aggregate samples/s. ``--device
  cuda`` runs it on a GPU.

    python benchmarks/fused.py [presets] [mlp16] [kernels] [--repeats 3] [--device cpu]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pandas as pd

sys.path.insert(0, str(Path(__file__).parent))
from common import save, table

STUDY = str(Path(sys.executable).parent / "study")


def _run(args: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run([STUDY, *args], check=True, capture_output=True, text=True)
    return time.perf_counter() - start


def presets(repeats: int) -> list[dict[str, Any]]:
    from trainables import TRAINABLES

    rows = []
    for preset, fuse in (("loss-surface", 400), ("lr-divergence", 30)):
        walls: dict[str, list[float]] = {"unfused": [], "fused": []}
        worst = 0.0
        for _ in range(repeats):
            with tempfile.TemporaryDirectory() as tmp:
                folders = {}
                for how, k in (("unfused", 1), ("fused", fuse)):
                    storage = Path(tmp) / how
                    walls[how].append(
                        _run(["run", preset, "--storage", str(storage), "--set", f"fuse={k}"])
                    )
                    folders[how] = storage / preset
                worst = max(worst, _table_difference(preset, folders, TRAINABLES))
        unfused, fused = (statistics.median(walls[h]) for h in ("unfused", "fused"))
        rows.append(
            {
                "preset": preset,
                "fuse": fuse,
                "unfused s": unfused,
                "fused s": fused,
                "speed-up": unfused / fused,
                "max rel diff": worst,
                "runs": repeats,
            }
        )
        print(table(rows[-1:]), flush=True)
    return rows


def _table_difference(preset: str, folders: dict[str, Path], fns: Any) -> float:
    """The largest relative difference in loss between the runs' rows (loss-surface),
    or between each row and the solo trainable at its config (lr-divergence)."""
    fused = pd.read_csv(folders["fused"] / "trials.csv")
    unfused = pd.read_csv(folders["unfused"] / "trials.csv")
    if preset == "loss-surface":
        keys = ["config/w", "config/b"]
        a = fused.set_index(keys).sort_index()["loss"]
        b = unfused.set_index(keys).sort_index()["loss"]
        assert len(a) == len(b) == 357
        return float(((a - b).abs() / b.abs()).max())
    worst = 0.0
    for frame in (fused, unfused):
        for _, row in frame.iterrows():
            solo = fns["linear_w"]({"data": "outlier", "epochs": 100, "lr": row["config/lr"]})
            worst = max(worst, abs(row["loss"] - solo["loss"]) / abs(solo["loss"]))
    return worst


MLP16 = {
    "name": "mlp16",
    "trainable": "mnist_mlp",
    "metric": "val_acc",
    "search": {"algorithm": "grid"},
    "config": {"epochs": 5, "batch_size": 64, "dataset": "mnist5k"},
    "space": {
        "lr": {"grid": [0.01, 0.03, 0.1, 0.3]},
        "momentum": {"grid": [0.0, 0.5, 0.9, 0.95]},
    },
}


def mlp16(repeats: int) -> list[dict[str, Any]]:
    import yaml

    rows = []
    walls: dict[str, list[float]] = {"unfused": [], "fused": []}
    samples: dict[str, list[float]] = {"unfused": [], "fused": []}
    train_size = _train_size()
    with tempfile.TemporaryDirectory() as tmp:
        spec = Path(tmp) / "mlp16.yaml"
        spec.write_text(yaml.safe_dump(MLP16))
        for r in range(repeats):
            for how, k in (("unfused", 1), ("fused", 16)):
                storage = Path(tmp) / f"{how}{r}"
                wall = _run(
                    [
                        "run",
                        str(spec),
                        "--storage",
                        str(storage),
                        "--set",
                        f"fuse={k}",
                        "--no-report",
                    ]
                )
                trials = pd.read_csv(storage / "mlp16" / "trials.csv")
                walls[how].append(wall)
                samples[how].append(float(trials["epochs"].sum()) * train_size / wall)
    for how in ("unfused", "fused"):
        rows.append(
            {
                "how": how,
                "study wall s": statistics.median(walls[how]),
                "aggregate samples/s": statistics.median(samples[how]),
                "runs": repeats,
            }
        )
    rows.append(
        {
            "how": "fused / unfused",
            "study wall s": rows[0]["study wall s"] / rows[1]["study wall s"],
            "aggregate samples/s": rows[1]["aggregate samples/s"] / rows[0]["aggregate samples/s"],
            "runs": repeats,
        }
    )
    print(table(rows), flush=True)
    return rows


def _train_size() -> int:
    import torch

    from trainables.mnist import load_data
    from trainables.model_configs import MnistConfig

    data, _ = load_data(MnistConfig(), torch.device("cpu"))
    return len(data.train_y)


def kernels(repeats: int, device: str, sizes: list[int]) -> list[dict[str, Any]]:
    """Aggregate samples/s of one epoch: K solo runs one after another vs one group."""
    import torch

    from trainables import mnist
    from trainables.fused import Group
    from trainables.model_configs import CnnConfig, MnistConfig
    from trainables.models import CNN, MLP

    torch.set_num_threads(torch.get_num_threads())
    rows = []
    for model in ("mlp", "cnn"):
        cls = CnnConfig if model == "cnn" else MnistConfig

        def build(c: Any, model: str = model) -> Any:
            return CNN(c.plan, c.bias, c.pool, c.pool_size, c.dropout) if model == "cnn" else MLP()

        for k in sizes:
            cfgs = [cls(lr=0.01 * (1 + i), seed=i, device=device, batch_size=64) for i in range(k)]
            solo, fused = [], []
            for _ in range(repeats):
                runs = [mnist._Run(c, lambda c=c: build(c)) for c in cfgs]
                n = len(runs[0].data.train_y)
                mnist._train_epoch(runs[0])  # warm
                start = time.perf_counter()
                for run in runs:
                    mnist._train_epoch(run)
                _sync(device)
                solo.append(k * n / (time.perf_counter() - start))
                group = Group(cfgs, build)
                group.train_epoch(0)  # warm
                start = time.perf_counter()
                group.train_epoch(1)
                _sync(device)
                fused.append(k * n / (time.perf_counter() - start))
            row = {
                "model": model,
                "device": device,
                "K": k,
                "K solo runs samples/s": statistics.median(solo),
                "fused group samples/s": statistics.median(fused),
            }
            row["fused / solo"] = row["fused group samples/s"] / row["K solo runs samples/s"]
            rows.append(row)
            print(table([row]), flush=True)
    return rows


def _sync(device: str) -> None:
    if device == "cuda":
        import torch

        torch.cuda.synchronize()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("parts", nargs="*", default=["presets", "mlp16", "kernels"])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    args = parser.parse_args()
    out: dict[str, Any] = {}
    if "kernels" in args.parts:
        sizes = [1, 4, 16, 64] if args.device == "cuda" else [1, 4, 16]
        out["kernels"] = kernels(args.repeats, args.device, sizes)
    if "presets" in args.parts:
        out["presets"] = presets(args.repeats)
    if "mlp16" in args.parts:
        out["mlp16"] = mlp16(args.repeats)
    name = "fused_kernels" if args.parts == ["kernels"] else "fused"
    save(f"{name}_{args.device}", out)


if __name__ == "__main__":
    main()
