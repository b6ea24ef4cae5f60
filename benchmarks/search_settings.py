"""Benchmark 8: the sampler settings for parallel trials, and the search against random.

Six ways, side by side in one run, for each search seed, on the mlp-search and the
cnn-search presets:

- ``shipped``: the harness as it is: Optuna 5's TPE (multivariate, constant_liar),
  invalid proposals skipped in the searcher, infeasibility told as a constraint, ASHA;
- ``independent``: the same with ``multivariate=False`` (each parameter on its own);
- ``no_liar``: the same with ``constant_liar=False`` (running trials not imputed);
- ``random``: random search + FIFO, as many trials as fill the budget random is
  given elsewhere in BENCHMARKS.md (mlp-search 10 x 20 epochs, cnn-search 15 x 8);
- ``before``: the harness at the commit before the search issue (a source tree
  given with ``--before-tree``, or a git worktree of ``--before``);
- ``fused8``: ``shipped`` with ``fuse: 8`` (BENCHMARKS.md section 12): Optuna asked 8
  proposals at a time.

Every study runs two trials at a time (``max_concurrent: 2``), what a 2-core laptop
does, so that a machine with more cores may run several studies at once
(``--parallel``) without changing what the searcher sees. Each study runs in its own
process with its own local Ray.

Figures per run (computed by ``benchmarks/feasibility.py``'s helpers, proposals in
start order, epochs in arrival order): the best validation accuracy within budgets of
trial-epochs, the test accuracy at the best trial's best validation epoch (selected by
validation), the trial-epochs needed to reach random's best validation accuracy of the
same seed, the invalid and diverged shares in each half, and how many proposals were
made while fewer than ``n_startup_trials`` trials had finished: the proposals TPE
necessarily drew at random (its start-up counts finished trials only).

    python benchmarks/search_settings.py [--seeds 0,1,2,3,4] [--parallel 1]
        [--studies mlp-search,cnn-search] [--ways shipped,independent,...]
        [--before 869faa7 | --before-tree PATH]
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pandas as pd

sys.path.insert(0, str(Path(__file__).parent))
from common import RESULTS, save, table
from feasibility import BEFORE, _epochs_to, _shares, _start_order, _worktree

ROOT = Path(__file__).resolve().parent.parent
WAYS = ("shipped", "independent", "no_liar", "random", "before", "fused8")
RANDOM = {"mlp-search": 10, "cnn-search": 15}  # random + FIFO trials (x 20 or x 8 epochs)
BUDGETS = {"mlp-search": (25, 50, 100, 150, 200), "cnn-search": (20, 40, 60, 90, 120)}
SAMPLER = {"independent": {"multivariate": False}, "no_liar": {"constant_liar": False}}
N_STARTUP = 10  # Optuna's default, which the presets keep
KEPT = RESULTS / "search_settings_runs"


SMOKE = os.environ.get("SEARCH_SETTINGS_SMOKE") == "1"  # a 3-trial run to try the script


def _one(way: str, study: str, seed: int, storage: str) -> None:
    """Run one study in this process (the parent sets PYTHONPATH for 'before')."""
    import logging

    import optuna

    from study import run_study
    from study.specs import presets

    logging.basicConfig(level=logging.WARNING)
    if way in SAMPLER:  # the searcher is built in this (the driver's) process
        optuna.samplers.TPESampler = functools.partial(  # type: ignore[misc]
            optuna.samplers.TPESampler, **SAMPLER[way]
        )
    spec = presets.load(study)
    spec["name"] = f"{study}-{way}-{seed}"
    spec["search"] = {**spec.get("search", {}), "seed": seed}
    spec["max_concurrent"] = 2
    if way == "fused8":  # the shipped search, 8 trials to a fused group (section 12)
        spec["fuse"] = 8
    if way == "random":
        spec["search"] = {"algorithm": "random", "seed": seed}
        spec["scheduler"] = {"name": "fifo"}
        spec["num_samples"] = RANDOM[study]
    if SMOKE:
        spec.update(num_samples=3, config={**spec["config"], "epochs": 2})
        if spec["scheduler"]["name"] == "asha":
            spec["scheduler"].update(max_t=2, grace_period=1)
    started = time.monotonic()
    folder = run_study(spec, storage=storage, report=False)
    (Path(storage) / "done.json").write_text(
        json.dumps({"folder": str(folder), "wall_s": time.monotonic() - started})
    )


def _run(way: str, study: str, seed: int, before: Path) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as storage:
        tree = before if way == "before" else ROOT
        path = os.pathsep.join(p for p in (str(tree), os.environ.get("PYTHONPATH")) if p)
        env = {**os.environ, "PYTHONPATH": path, "RAY_USAGE_STATS_ENABLED": "0"}
        cmd = [sys.executable, __file__, "--one", way, study, str(seed), storage]
        done = subprocess.run(cmd, env=env, cwd=storage, capture_output=True, text=True)
        if done.returncode:
            raise RuntimeError(f"{study} {way} {seed}: {done.stderr[-2000:]}")
        result = json.loads((Path(storage) / "done.json").read_text())
        folder = Path(result["folder"])
        trials = pd.read_csv(folder / "trials.csv")
        history = pd.read_csv(folder / "history.csv")
        ray_trials = sum(
            1 for p in folder.iterdir() if p.name.startswith(("run_trial", "run_group"))
        )
    KEPT.mkdir(parents=True, exist_ok=True)
    trials.to_csv(KEPT / f"{study}-{way}-{seed}-trials.csv", index=False)
    keep = [
        c
        for c in ("trial_id", "epoch", "timestamp", "time_total_s", "val_acc", "test_acc")
        if c in history
    ]
    history[keep].to_csv(KEPT / f"{study}-{way}-{seed}-history.csv", index=False)
    return {
        "trials": trials,
        "history": history,
        "ray_trials": ray_trials,
        "wall_s": result["wall_s"],
    }


def random_at_start(trials: pd.DataFrame, history: pd.DataFrame) -> int:
    """Proposals made before the N_STARTUP-th trial had finished (TPE's random ones).

    A Ray trial finishes at its last result, a skipped invalid proposal at once."""
    grouped = history.sort_values("timestamp").groupby("trial_id")
    first, last = grouped.first(), grouped.last()
    began = first["timestamp"] - first["time_total_s"].fillna(0)
    start = trials["trial_id"].map(began)
    end = trials["trial_id"].map(last["timestamp"])
    if "timestamp" in trials:
        own = pd.to_numeric(trials["timestamp"], errors="coerce")
        start, end = start.fillna(own), end.fillna(own)
    finished = end.sort_values().reset_index(drop=True)
    if len(finished) < N_STARTUP:
        return len(trials)
    tenth = finished.iloc[N_STARTUP - 1]
    return int((start < tenth).sum())


def best_within(history: pd.DataFrame, budget: int) -> float:
    """The best validation accuracy among the first ``budget`` trial-epochs to arrive."""
    ordered = history[history["epoch"] > 0].sort_values("timestamp")
    return float(ordered["val_acc"].head(budget).max())


def figures(study: str, run: dict[str, Any]) -> dict[str, Any]:
    trials, history = run["trials"], run["history"]
    order = _start_order(trials, history)
    inv = _shares(trials, order, "invalid")
    div = _shares(trials, order, "diverged")
    scored = trials[trials["status"].isin(("completed", "stopped", "early_stopped"))]
    best = scored.loc[scored["best/val_acc"].idxmax()]
    row: dict[str, Any] = {
        "proposals": len(trials),
        "ray_trials": run["ray_trials"],
        "invalid_1st_half": inv[0],
        "invalid_2nd_half": inv[1],
        "diverged_1st_half": div[0],
        "diverged_2nd_half": div[1],
        "random_at_start": random_at_start(trials, history),
        "trial_epochs": int(pd.to_numeric(trials["epochs"], errors="coerce").fillna(0).sum()),
        "best_val_acc": float(best["best/val_acc"]),
        "its_test_acc": float(best["best/test_acc"]),
        "wall_s": round(run["wall_s"], 1),
    }
    for budget in BUDGETS[study]:
        row[f"best_in_{budget}"] = best_within(history, budget)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0,1,2,3,4")
    parser.add_argument("--studies", default="mlp-search,cnn-search")
    parser.add_argument("--ways", default=",".join(WAYS))
    parser.add_argument("--parallel", type=int, default=1)
    parser.add_argument("--before", default=BEFORE)
    parser.add_argument("--before-tree", type=Path)
    parser.add_argument("--tag", default="")
    parser.add_argument("--one", nargs=4, metavar=("WAY", "STUDY", "SEED", "STORAGE"))
    args = parser.parse_args()
    if args.one:
        way, study, seed, storage = args.one
        _one(way, study, int(seed), storage)
        return
    ways = args.ways.split(",")
    before = (
        args.before_tree.resolve()
        if args.before_tree
        else (_worktree(args.before) if "before" in ways else ROOT)
    )
    seeds = [int(s) for s in args.seeds.split(",")]
    jobs = [(s, w, seed) for s in args.studies.split(",") for seed in seeds for w in ways]
    with ThreadPoolExecutor(args.parallel) as pool:
        runs = dict(zip(jobs, pool.map(lambda j: _run(j[1], j[0], j[2], before), jobs)))
    rows = []
    for (study, way, seed), run in runs.items():
        row = {"study": study, "way": way, "seed": seed, **figures(study, run)}
        if "random" in ways:
            target = figures(study, runs[(study, "random", seed)])["best_val_acc"]
            row["epochs_to_random_best"] = _epochs_to(run["history"], target)
        rows.append(row)
        print(json.dumps(row), flush=True)
    frame = pd.DataFrame(rows)
    medians = frame.drop(columns="seed").groupby(["study", "way"]).median(numeric_only=True)
    reached = (
        frame.groupby(["study", "way"])["epochs_to_random_best"].apply(
            lambda s: int(s.notna().sum())
        )
        if "epochs_to_random_best" in frame
        else None
    )
    print(table(medians.reset_index().to_dict("records")))
    print(
        save(
            f"search_settings{args.tag}",
            {
                "runs": rows,
                "medians": medians.reset_index().to_dict("records"),
                "seeds_reaching_random_best": None
                if reached is None
                else {f"{k[0]}/{k[1]}": v for k, v in reached.items()},
                "max_concurrent": 2,
                "before": str(args.before_tree or args.before),
            },
        )
    )


if __name__ == "__main__":
    main()
