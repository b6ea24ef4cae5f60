"""Benchmark 6: does the search learn what cannot train? Three ways side by side.

- ``optuna``: the harness as it is (invalid proposals skipped inside the searcher,
  invalid and diverged outcomes told to TPE as a violated constraint);
- ``random``: random search + FIFO;
- ``before``: the harness at an earlier commit (``--before REV``, default the commit
  before the search issue), run from a git worktree of that commit.

Each way runs in its own process (its own local Ray) for each search seed, on the
cnn-search preset (invalid Conv2d geometries) and on lr-divergence (where SGD blows
up). Figures, medians over seeds: the share of invalid or diverged proposals in
the first and the second half of each study (proposals in start order), trial-
epochs spent, Ray trials started, the best validation accuracy and the test
accuracy at the best trial's best validation epoch (selected by validation,
never by test), and the trial-epochs each way needed to reach random search's
best validation accuracy of the same seed. A microbenchmark times a skipped
proposal in the searcher itself (no Ray).

    python benchmarks/feasibility.py [--seeds 0,1,2,3,4] [--before REV]
        [--studies cnn-search,lr-divergence]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pandas as pd

sys.path.insert(0, str(Path(__file__).parent))
from common import RESULTS, save, table

ROOT = Path(__file__).resolve().parent.parent
BEFORE = "869faa7"  # the last commit before the search issue (12)
RANDOM_SAMPLES = {"cnn-search": 15, "lr-divergence": 30}  # random + FIFO: 15 x 8 epochs


def _one(way: str, study: str, seed: int, storage: str) -> None:
    """Run one study in this process (the parent sets PYTHONPATH for 'before')."""
    import logging

    from study import run_study
    from study.specs import presets

    logging.basicConfig(level=logging.WARNING)
    spec = presets.load(study)
    spec["name"] = f"{study}-{way}-{seed}"
    spec["search"] = {**spec.get("search", {}), "seed": seed}
    if way == "random":
        spec["search"] = {"algorithm": "random", "seed": seed}
        spec["scheduler"] = {"name": "fifo"}
        spec["num_samples"] = RANDOM_SAMPLES[study]
    started = time.monotonic()
    folder = run_study(spec, storage=storage, report=False)
    (Path(storage) / "done.json").write_text(
        json.dumps({"folder": str(folder), "wall_s": time.monotonic() - started})
    )


def _worktree(rev: str) -> Path:
    path = Path(tempfile.gettempdir()) / f"study-harness-{rev}"
    if not path.exists():
        subprocess.run(
            ["git", "-C", str(ROOT), "worktree", "add", "--detach", str(path), rev],
            check=True,
            capture_output=True,
        )
    return path


def _run(way: str, study: str, seed: int, before: Path) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as storage:
        tree = before if way == "before" else ROOT
        env = {**os.environ, "PYTHONPATH": str(tree), "RAY_USAGE_STATS_ENABLED": "0"}
        cmd = [sys.executable, __file__, "--one", way, study, str(seed), storage]
        subprocess.run(cmd, check=True, env=env, cwd=storage, capture_output=True)
        done = json.loads((Path(storage) / "done.json").read_text())
        folder = Path(done["folder"])
        trials = pd.read_csv(folder / "trials.csv")
        history = pd.read_csv(folder / "history.csv")
        ray_trials = sum(1 for p in folder.iterdir() if p.name.startswith("run_trial"))
        kept = RESULTS / "feasibility_runs"
        kept.mkdir(parents=True, exist_ok=True)
        trials.to_csv(kept / f"{study}-{way}-{seed}-trials.csv", index=False)
        history.to_csv(kept / f"{study}-{way}-{seed}-history.csv", index=False)
    return {
        "trials": trials,
        "history": history,
        "ray_trials": ray_trials,
        "wall_s": done["wall_s"],
    }


def _start_order(trials: pd.DataFrame, history: pd.DataFrame) -> pd.Series:
    """Proposals in the order they were made: a Ray trial's start (its first result's
    timestamp less the time it had run), a skipped proposal's own timestamp. (The first
    result's timestamp alone would put trials that end at once, invalid ones, first.)"""
    first = history.sort_values("timestamp").groupby("trial_id").first()
    began = first["timestamp"] - first["time_total_s"].fillna(0)
    start = trials["trial_id"].map(began)
    if "timestamp" in trials:  # proposals skipped as invalid carry their own
        start = start.fillna(pd.to_numeric(trials["timestamp"], errors="coerce"))
    return start.rank(method="first")


def _shares(trials: pd.DataFrame, order: pd.Series, status: str) -> tuple[float, float]:
    bad = trials["status"] == status
    first = order <= len(order) / 2
    return float(bad[first].mean()), float(bad[~first].mean())


def _epochs_to(history: pd.DataFrame, value: float, column: str = "val_acc") -> float:
    ordered = history[history["epoch"] > 0].sort_values("timestamp").reset_index(drop=True)
    hit = ordered.index[ordered[column] >= value - 1e-12]
    return float(hit[0] + 1) if len(hit) else float("nan")


def _figures(study: str, run: dict[str, Any]) -> dict[str, Any]:
    trials, history = run["trials"], run["history"]
    order = _start_order(trials, history)
    inv = _shares(trials, order, "invalid")
    div = _shares(trials, order, "diverged")
    row: dict[str, Any] = {
        "proposals": len(trials),
        "ray_trials": run["ray_trials"],
        "invalid": int((trials["status"] == "invalid").sum()),
        "invalid_1st_half": inv[0],
        "invalid_2nd_half": inv[1],
        "diverged": int((trials["status"] == "diverged").sum()),
        "diverged_1st_half": div[0],
        "diverged_2nd_half": div[1],
        "trial_epochs": int(pd.to_numeric(trials["epochs"], errors="coerce").fillna(0).sum()),
        "wall_s": round(run["wall_s"], 1),
    }
    if study == "cnn-search":
        scored = trials[trials["status"].isin(("completed", "stopped", "early_stopped"))]
        best = scored.loc[scored["best/val_acc"].idxmax()]
        row["best_val_acc"] = float(best["best/val_acc"])
        row["its_test_acc"] = float(best["best/test_acc"])
    return row


def _skip_cost() -> dict[str, float]:
    """Time per proposal in the searcher alone (no Ray) on cnn-search's space."""
    from study.search.registry import make_searcher
    from study.specs import Resources, presets
    from study.specs.loading import spec_from_raw
    from study.specs.plan import make_plan

    spec = spec_from_raw(presets.load("cnn-search"), {}, 60)
    with tempfile.TemporaryDirectory() as folder:
        limiter = make_searcher(spec, 1, make_plan(spec, Resources()), Path(folder))
        space = {k: d.to_ray() for k, d in spec.space.items()}
        limiter.set_search_properties("objective", "max", space)
        searcher = limiter.searcher
        started = time.perf_counter()
        for i in range(60):
            searcher.suggest(f"t{i}")
            searcher.on_trial_complete(f"t{i}", {"status": "completed", "objective": 0.9})
        seconds = time.perf_counter() - started
        skipped = searcher.invalid_count
    return {
        "proposals": 60 + skipped,
        "skipped_invalid": skipped,
        "ms_per_proposal": round(1000 * seconds / (60 + skipped), 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0,1,2,3,4")
    parser.add_argument("--before", default=BEFORE)
    parser.add_argument("--studies", default="cnn-search,lr-divergence")
    parser.add_argument("--one", nargs=4, metavar=("WAY", "STUDY", "SEED", "STORAGE"))
    args = parser.parse_args()
    if args.one:
        way, study, seed, storage = args.one
        _one(way, study, int(seed), storage)
        return
    before = _worktree(args.before)
    seeds = [int(s) for s in args.seeds.split(",")]
    rows = []
    for study in args.studies.split(","):
        for seed in seeds:
            runs = {way: _run(way, study, seed, before) for way in ("optuna", "random", "before")}
            figures = {way: _figures(study, run) for way, run in runs.items()}
            if study == "cnn-search":
                target = figures["random"]["best_val_acc"]
                for way, run in runs.items():
                    figures[way]["epochs_to_random_best"] = _epochs_to(run["history"], target)
            for way, row in figures.items():
                rows.append({"study": study, "way": way, "seed": seed, **row})
                print(study, way, seed, row, flush=True)
    frame = pd.DataFrame(rows)
    medians = frame.drop(columns="seed").groupby(["study", "way"]).median(numeric_only=True)
    print(table(medians.reset_index().to_dict("records")))
    cost = _skip_cost()
    print("skipped proposal:", cost)
    print(
        save(
            "feasibility",
            {
                "runs": rows,
                "medians": medians.reset_index().to_dict("records"),
                "skip_cost": cost,
                "before": args.before,
                "seeds": seeds,
            },
        )
    )


if __name__ == "__main__":
    main()
