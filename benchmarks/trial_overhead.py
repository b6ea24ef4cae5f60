"""Benchmark 2: per-trial overhead of tiny trials (linear_w, 20 epochs) three ways.

- plain Optuna in-process: ``optuna.create_study().optimize`` on the same objective;
- ``study`` (run_study, the harness's settings: reused actors, no TensorBoard logger);
- Ray Tune with its default settings (a fresh process without the harness's settings).

Each way runs a small and a large number of trials; the seconds per trial after
start-up are (T_large - T_small) / (N_large - N_small), and start-up is what is
left of T_small. "Overhead" subtracts the trial's own work (linear_w alone).

    python benchmarks/trial_overhead.py [--n 50] [--n-defaults 15]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import save, table

EPOCHS = 20
SPEC = {
    "name": "overhead",
    "trainable": "linear_w",
    "metric": "loss",
    "mode": "min",
    "search": {"algorithm": "optuna", "seed": 0},
    "config": {"epochs": EPOCHS},
    "space": {"lr": {"loguniform": [1e-3, 0.05]}},
}


def own_work() -> float:
    from trainables import TRAINABLES

    times = []
    for i in range(30):
        start = time.perf_counter()
        TRAINABLES["linear_w"]({"epochs": EPOCHS, "lr": 0.01 + i * 1e-4})
        times.append(time.perf_counter() - start)
    return statistics.median(times[5:])


def plain_optuna(n: int) -> float:
    import optuna

    from trainables import TRAINABLES

    optuna.logging.set_verbosity(optuna.logging.WARNING)

    def objective(trial: optuna.Trial) -> float:
        lr = trial.suggest_float("lr", 1e-3, 0.05, log=True)
        return float(TRAINABLES["linear_w"]({"epochs": EPOCHS, "lr": lr})["loss"])

    start = time.perf_counter()
    optuna.create_study(sampler=optuna.samplers.TPESampler(seed=0)).optimize(objective, n_trials=n)
    return time.perf_counter() - start


def harness(n: int, storage: str) -> float:
    from study import run_study

    start = time.perf_counter()
    run_study(SPEC, storage=storage, num_samples=n, report=False)
    return time.perf_counter() - start


def ray_defaults(n: int, storage: str) -> float:
    """Ray Tune as its documentation's quick start uses it: defaults everywhere."""
    from ray import tune

    from trainables import TRAINABLES

    def trainable(config: dict) -> None:
        TRAINABLES["linear_w"]({"epochs": EPOCHS, "lr": config["lr"]}, tune.report)

    start = time.perf_counter()
    tune.Tuner(
        trainable,
        param_space={"lr": tune.loguniform(1e-3, 0.05)},
        tune_config=tune.TuneConfig(
            num_samples=n, metric="loss", mode="min", max_concurrent_trials=2
        ),
        run_config=tune.RunConfig(storage_path=storage, name=f"defaults-{n}", verbose=0),
    ).fit()
    return time.perf_counter() - start


def part(name: str, small: int, large: int) -> dict[str, float]:
    """Run one way in this (fresh) process: Ray start-up, T(small), T(large)."""
    from trainables import TRAINABLES

    TRAINABLES["linear_w"]({"epochs": 1})  # imports torch: not part of any way's cost
    with tempfile.TemporaryDirectory() as storage:
        ray_start = 0.0
        if name != "optuna":
            import ray

            if name == "harness":
                from study.execution import cluster

                cluster.configure_env()
            start = time.perf_counter()
            ray.init(
                num_cpus=2,
                include_dashboard=False,
                logging_level=logging.CRITICAL,
                log_to_driver=False,
            )
            ray_start = time.perf_counter() - start
        run = {
            "optuna": lambda n: plain_optuna(n),
            "harness": lambda n: harness(n, storage),
            "defaults": lambda n: ray_defaults(n, storage),
        }[name]
        t_small, t_large = run(small), run(large)
    per_trial = (t_large - t_small) / (large - small)
    return {
        "ray_init_s": ray_start,
        "t_small": t_small,
        "t_large": t_large,
        "per_trial_s": per_trial,
        "startup_s": t_small - small * per_trial,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=50, help="trials (harness and Optuna)")
    parser.add_argument("--n-defaults", type=int, default=15, help="trials (Ray defaults: slow)")
    parser.add_argument("--part", help=argparse.SUPPRESS)
    parser.add_argument("--sizes", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.part:
        small, large = (int(s) for s in args.sizes.split(","))
        print(json.dumps(part(args.part, small, large)))
        return
    work = own_work()
    rows = []
    sizes = {"optuna": (10, args.n), "harness": (10, args.n), "defaults": (5, args.n_defaults)}
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("TUNE_", "RAY_AIR"))}
    for name, (small, large) in sizes.items():
        out = subprocess.run(
            [sys.executable, __file__, "--part", name, "--sizes", f"{small},{large}"],
            capture_output=True,
            text=True,
            env=clean,
            check=True,
        )
        result = json.loads(out.stdout.strip().splitlines()[-1])
        at_once = 1 if name == "optuna" else 2
        rows.append(
            {
                "way": name,
                "trials": f"{small} / {large}",
                **result,
                "overhead_per_trial_s": result["per_trial_s"] - work / at_once,
            }
        )
        print(table(rows[-1:]), flush=True)
    print(
        f"\ntrial's own work (linear_w, {EPOCHS} epochs): {work:.4f} s; Ray runs 2 trials at "
        "once, so overhead = per-trial time - own work / 2 (Optuna: - own work)"
    )
    print(table(rows))
    print(save("trial_overhead", {"own_work_s": work, "rows": rows}))


if __name__ == "__main__":
    main()
