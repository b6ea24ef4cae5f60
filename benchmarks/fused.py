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

- ``warm``: ``presets`` on a Ray head started once, without the report: what fusing
  saves once Ray's start and the report are paid anyway.

    python benchmarks/fused.py [presets] [warm] [mlp16] [kernels] [--repeats 3]
        [--device cpu]
"""

from __future__ import annotations

import argparse
import re
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


def _run(args: list[str], env: dict[str, str] | None = None) -> float:
    return _timed(args, env)[0]


def _timed(args: list[str], env: dict[str, str] | None = None) -> tuple[float, float]:
    """(the command's wall, the study's own seconds: its "N trials in S s" line, from
    the Tuner's start to the tables, without Python's imports, Ray's start or the
    report)."""
    start = time.perf_counter()
    done = subprocess.run([STUDY, *args], check=True, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - start
    found = re.search(r"\d+ trials in ([\d.]+) s", done.stdout + done.stderr)
    return wall, float(found.group(1)) if found else float("nan")


def presets(repeats: int, address: str | None = None, env: dict | None = None) -> list[dict]:
    """The whole command (a private Ray, the report) or, with ``address``, on a running
    Ray without the report; and the study's own seconds either way."""
    from trainables import TRAINABLES

    rows = []
    extra = ["--address", address, "--no-report"] if address else []
    for preset, fuse in (("loss-surface", 400), ("lr-divergence", 30)):
        walls: dict[str, list[float]] = {"unfused": [], "fused": []}
        own: dict[str, list[float]] = {"unfused": [], "fused": []}
        worst = 0.0
        for _ in range(repeats):
            with tempfile.TemporaryDirectory() as tmp:
                folders = {}
                for how, k in (("unfused", 1), ("fused", fuse)):
                    storage = Path(tmp) / how
                    args = ["run", preset, "--storage", str(storage), "--set", f"fuse={k}"]
                    wall, seconds = _timed(args + extra, env)
                    walls[how].append(wall)
                    own[how].append(seconds)
                    folders[how] = storage / preset
                worst = max(worst, _table_difference(preset, folders, TRAINABLES))
        med = {h: (statistics.median(walls[h]), statistics.median(own[h])) for h in walls}
        rows.append(
            {
                "preset": preset,
                "where": "running Ray, no report" if address else "whole command",
                "fuse": fuse,
                "unfused s": med["unfused"][0],
                "fused s": med["fused"][0],
                "speed-up": med["unfused"][0] / med["fused"][0],
                "study's own s, unfused": med["unfused"][1],
                "fused": med["fused"][1],
                "own speed-up": med["unfused"][1] / med["fused"][1],
                "max rel diff": worst,
                "runs": repeats,
            }
        )
        print(table(rows[-1:]), flush=True)
    return rows


def warm_presets(repeats: int) -> list[dict[str, Any]]:
    """presets() on a Ray head started once (as the test suite starts it)."""
    root = Path(__file__).resolve().parent.parent
    sys.path.insert(0, str(root))
    from tests.study.conftest import ensure_token, start_head, stop_node, study_env

    ensure_token()
    address, temp_dir = start_head(num_cpus=2)
    try:
        return presets(repeats, address, study_env())
    finally:
        stop_node(temp_dir)


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
    ways = {
        "unfused": ["fuse=1"],
        "fused": ["fuse=16"],
        "fused, shared order": ["fuse=16", "fuse_data=shared"],
    }
    walls: dict[str, list[float]] = {how: [] for how in ways}
    samples: dict[str, list[float]] = {how: [] for how in ways}
    train_size = _train_size()
    with tempfile.TemporaryDirectory() as tmp:
        spec = Path(tmp) / "mlp16.yaml"
        spec.write_text(yaml.safe_dump(MLP16))
        for r in range(repeats):
            for i, (how, sets) in enumerate(ways.items()):
                storage = Path(tmp) / f"{i}-{r}"
                args = ["run", str(spec), "--storage", str(storage), "--set", *sets]
                wall = _run([*args, "--no-report"])
                trials = pd.read_csv(storage / "mlp16" / "trials.csv")
                walls[how].append(wall)
                samples[how].append(float(trials["epochs"].sum()) * train_size / wall)
    for how in ways:
        rows.append(
            {
                "how": how,
                "study wall s": statistics.median(walls[how]),
                "aggregate samples/s": statistics.median(samples[how]),
                "runs": repeats,
            }
        )
    for row in rows[1:3]:  # speed-ups: unfused wall / fused wall, fused rate / unfused rate
        rows.append(
            {
                "how": f"{row['how']} / unfused",
                "study wall s": rows[0]["study wall s"] / row["study wall s"],
                "aggregate samples/s": row["aggregate samples/s"] / rows[0]["aggregate samples/s"],
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
    if "warm" in args.parts:
        out["warm"] = warm_presets(args.repeats)
    if "mlp16" in args.parts:
        out["mlp16"] = mlp16(args.repeats)
    save(f"fused_{'_'.join(args.parts)}_{args.device}", out)


if __name__ == "__main__":
    main()
