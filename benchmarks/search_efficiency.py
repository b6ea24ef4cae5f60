"""Benchmark 3: search efficiency on the mnist5k MLP, Optuna TPE + ASHA vs random + FIFO.

Both search the mlp-search preset's space for 3 seeds. Random + FIFO runs 10 trials
of 20 epochs (200 trial-epochs); Optuna + ASHA runs the preset's scheduler with
enough trials to spend about the same (num_samples 40 spends ~200 epochs: most
trials stop at the 2-epoch rung, though TPE's later trials run longer). Epochs
are counted in the order the results arrived (their timestamps), so "epochs to X"
is what a user would have paid, and "best in 200" looks only at the first 200
trial-epochs of each run. Each run's history is kept in benchmarks/results/.

    python benchmarks/search_efficiency.py [--seeds 0,1,2] [--target 0.93]
        [--optuna-set scheduler.grace_period=4 ...] [--reuse-random] [--tag NAME]

``--optuna-set`` changes the Optuna + ASHA spec (as ``study run --set`` does), to
compare variants of it; ``--reuse-random`` reads the random runs of the last full
run from benchmarks/results/ instead of running them again (for exploring only:
the figures in BENCHMARKS.md come from runs side by side).
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

sys.path.insert(0, str(Path(__file__).parent))
from common import RESULTS, save, table

RANDOM = {"search": {"algorithm": "random"}, "scheduler": {"name": "fifo"}, "num_samples": 10}


def arrival(history: pd.DataFrame) -> pd.DataFrame:
    """Every reported epoch of every trial, in the order the results arrived."""
    return history.sort_values("timestamp").reset_index(drop=True)


def epochs_to(history: pd.DataFrame, accuracy: float) -> float:
    """Trial-epochs spent (in arrival order) until some result reached ``accuracy`` test acc."""
    ordered = arrival(history)
    hit = ordered.index[ordered["test_acc"] >= accuracy - 1e-12]
    return float(hit[0] + 1) if len(hit) else float("nan")


def run(way: str, seed: int, storage: str, sets: dict[str, Any]) -> pd.DataFrame:
    from study import run_study
    from study.specs import presets

    spec = presets.load("mlp-search")
    spec["name"] = f"{way}-{seed}"
    spec["search"]["seed"] = seed
    if way == "random":
        spec.update(RANDOM)
        spec["search"] = {"algorithm": "random", "seed": seed}
        sets = {}
    # As 'study run --set ... --num-samples N' would apply them.
    sets = dict(sets)
    num_samples = sets.pop("num_samples", None)
    folder = run_study(spec, storage=storage, set=sets, num_samples=num_samples, report=False)
    history = pd.read_csv(folder / "history.csv")
    return history[history["epoch"] > 0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--target", type=float, default=0.93)
    parser.add_argument("--budget", type=int, default=200, help="trial-epochs compared")
    parser.add_argument("--optuna-set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--reuse-random", action="store_true")
    parser.add_argument("--tag", default="", help="suffix for the result files")
    args = parser.parse_args()
    sets = {k: yaml.safe_load(v) for k, v in (kv.split("=", 1) for kv in args.optuna_set)}
    import ray

    from study.execution import cluster

    cluster.configure_env()
    ray.init(
        num_cpus=2, include_dashboard=False, logging_level=logging.CRITICAL, log_to_driver=False
    )
    rows = []
    with tempfile.TemporaryDirectory() as storage:
        for seed in (int(s) for s in args.seeds.split(",")):
            if args.reuse_random:
                runs = {"random": pd.read_csv(RESULTS / f"search_random_{seed}.csv")}
            else:
                runs = {"random": run("random", seed, storage, sets)}
            runs["optuna_asha"] = run("optuna_asha", seed, storage, sets)
            random_best = float(runs["random"]["test_acc"].max())
            RESULTS.mkdir(exist_ok=True)
            for way, history in runs.items():
                if way == "random" and args.reuse_random:
                    continue
                history.assign(way=way, seed=seed).to_csv(
                    RESULTS / f"search_{way}_{seed}{args.tag}.csv", index=False
                )
                within = arrival(history).head(args.budget)
                rows.append(
                    {
                        "seed": seed,
                        "way": way,
                        "epochs_spent": len(history),
                        f"best_test_acc_in_{args.budget}": float(within["test_acc"].max()),
                        f"epochs_to_{args.target:g}": epochs_to(history, args.target),
                        "epochs_to_random_best": epochs_to(history, random_best),
                        "epochs_random_took": epochs_to(runs["random"], random_best),
                    }
                )
                print(table(rows[-1:]), flush=True)
    frame = pd.DataFrame(rows)
    medians = frame.groupby("way").median(numeric_only=True).drop(columns="seed").reset_index()
    print(table(rows))
    print("\nmedians over seeds:\n" + table(medians.to_dict("records")))
    print(
        save(
            f"search_efficiency{args.tag}",
            {
                "rows": rows,
                "medians": medians.to_dict("records"),
                "target": args.target,
                "optuna_set": sets,
                "reused_random": args.reuse_random,
            },
        )
    )


if __name__ == "__main__":
    main()
