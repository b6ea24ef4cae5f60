"""Benchmark 15: which search spends trial-epochs best, at equal budgets (issue 34).

Five ways to search, each the harness's own searcher and scheduler objects
(study.search.registry: make_searcher, make_scheduler, the Optuna journal included),
driven one trial at a time by a small loop in place of Ray's controller:

- ``random+fifo``: random sampling, every trial to max_t;
- ``random+asha``: random sampling, the preset's ASHA;
- ``optuna+asha``: Optuna TPE + ASHA (the presets as shipped before this issue);
- ``bohb``: ``search: {algorithm: bohb}``, its Hyperband brackets;
- ``gp+asha``: Optuna's GPSampler + ASHA.

Each run stops at a budget of trial-epochs (every epoch of every trial counts, as
``epoch_budget`` counts them); the best validation value seen within 25 %, 50 % and
100 % of it is recorded, per search seed. The table gives the median over seeds, a
bootstrap 95 % interval of that median, and how often each way is at least as good
as random+fifo on the same seed (paired).

Benchmarks:

- ``curves`` (default): a cheap learning-curve function with no training. A config's
  final value peaks at a small effective step (lr · 64 / batch_size), and a small
  step learns slowly, so early ranks mislead: slow starters end best. 27 epochs;
  the budget is 20 trials × 27 epochs.
- ``mlp-search`` / ``cnn-search``: the presets' spaces and epochs on mnist5k, the
  trainable called in-process (one thread); the budget is num_samples × max_t.

    python benchmarks/search_curves.py [curves|mlp-search|cnn-search] [--seeds 10]
        [--ways random+fifo,bohb] [--jobs N] [--budget N] [--tag T]

Concurrency is 1 here: a laptop study runs trials side by side, which makes TPE lie
about running trials and ASHA judge with fewer values; that is not measured.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from common import RESULTS, save, table

import trainables
from trainables import trainable

WAYS = ("random+fifo", "random+asha", "optuna+asha", "bohb", "gp+asha")
FRACTIONS = (0.25, 0.5, 1.0)
CURVE_EPOCHS = 27
CURVE_TRIALS = 20  # the curve benchmark's "preset": 20 trials of 27 epochs


@trainable(
    metrics={"val_acc": "max"},
    config={"lr": 0.01, "batch_size": 64, "width": 0.5, "epochs": CURVE_EPOCHS, "seed": 0},
    name="learning_curve",
)
def learning_curve(config: dict[str, Any], report: Any) -> None:
    """A learning curve with no training: see :func:`curve`."""
    for epoch in range(1, int(config["epochs"]) + 1):
        report({"loss": 1 - curve(config, epoch), "val_acc": curve(config, epoch)})


def curve(config: dict[str, Any], epoch: int) -> float:
    """Validation accuracy after ``epoch``: the final value peaks at an effective step
    k* = 0.003 and falls 0.15 per decade away from it; the time constant grows as the
    step shrinks (k* needs about 9 epochs, a step 30× larger under 2), so the best
    configs trail at the first rungs. ``width`` adds up to 0.03 at 0.7. Noise: ±0.004
    per (config, epoch), from the trial's seed."""
    k = float(config["lr"]) * 64 / float(config["batch_size"])
    final = 0.97 - 0.15 * (math.log10(k) - math.log10(0.003)) ** 2
    final += 0.03 * (1 - abs(float(config["width"]) - 0.7) / 0.7)
    tau = 9.0 * math.sqrt(0.003 / k)
    rng = np.random.default_rng([int(config["seed"]), epoch])
    return float(final * (1 - math.exp(-epoch / tau)) + rng.normal(0, 0.004))


CURVES_SPEC: dict[str, Any] = {
    "trainable": "learning_curve",
    "metric": "val_acc",
    "mode": "max",
    "num_samples": CURVE_TRIALS,
    "search": {"algorithm": "optuna", "seed": 0},
    "scheduler": {"name": "asha", "max_t": CURVE_EPOCHS, "grace_period": 1, "reduction_factor": 3},
    "config": {"epochs": CURVE_EPOCHS},
    "space": {
        "lr": {"loguniform": [1e-4, 1.0]},
        "batch_size": {"choice": [16, 32, 64, 128, 256]},
        "width": {"uniform": [0.0, 1.0]},
    },
}


def base_spec(bench: str) -> dict[str, Any]:
    if bench == "curves":
        return dict(CURVES_SPEC)
    from study.specs.loading import load_raw

    return dict(load_raw(bench)[0])


def way_spec(base: dict[str, Any], way: str, seed: int) -> dict[str, Any]:
    """The spec of one way to search, from the preset's (its space, epochs and ASHA)."""
    algorithm, _, scheduler = way.partition("+")
    asha = dict(base["scheduler"])
    spec = {k: v for k, v in base.items() if k not in ("search", "scheduler", "name")}
    spec["name"] = f"{way.replace('+', '-')}-{seed}"
    spec["num_samples"] = 100_000  # the budget in trial-epochs binds, not the count
    spec["search"] = {"algorithm": algorithm, "seed": seed}
    if algorithm == "bohb":
        spec["scheduler"] = {k: asha[k] for k in ("max_t", "grace_period")}
    else:
        spec["scheduler"] = asha if scheduler == "asha" else {"name": "fifo"}
    return spec


class StopTrial(BaseException):
    """Raised inside a trainable's report to end the trial (the scheduler's STOP)."""


class Loop:
    """Runs one way to search until ``budget`` trial-epochs are spent."""

    def __init__(self, bench: str, way: str, seed: int, budget: int, folder: Path) -> None:
        from study import load_spec
        from study.search.fused import expand
        from study.search.registry import METRIC, make_scheduler, make_searcher, param_space
        from study.specs import Resources
        from study.specs.plan import make_plan

        self.bench, self.budget, self.metric = bench, budget, METRIC
        self.spec = load_spec(way_spec(base_spec(bench), way, seed))
        self.plan = make_plan(self.spec, Resources())
        self.max_t = self.spec.scheduler.max_t
        self.scheduler = make_scheduler(self.spec)
        self.scheduler.set_search_properties(METRIC, self.spec.mode)
        self.random = way.startswith("random")
        if self.random:
            self.proposals = expand(param_space(self.spec), 2000, seed)
        else:
            self.searcher = make_searcher(self.spec, 1, self.plan, folder)
            space = {k: d.to_ray() for k, d in self.spec.space.items()}
            self.searcher.set_search_properties(METRIC, self.spec.mode, space)
        self.spent, self.best, self.trace = 0, -math.inf, []  # trace: (spent, best)
        self.trials = 0

    def suggest(self, n: int) -> dict[str, Any] | None:
        from experiment_folder import TRIAL_INDEX

        if self.random:
            return {**self.proposals[n], TRIAL_INDEX: n} if n < len(self.proposals) else None
        params = self.searcher.suggest(f"t{n}")
        return params if isinstance(params, dict) else None

    def run(self) -> list[tuple[int, float]]:
        from study.specs.plan import trial_config

        n = 0
        while self.spent < self.budget:
            params = self.suggest(n)
            if params is None:
                break
            tid = f"t{n}"
            n += 1
            self.trials += 1
            config = trial_config(self.plan, params, tid)
            self.one(tid, config)
        return self.trace

    def one(self, tid: str, config: dict[str, Any]) -> None:
        class Trial:  # what Ray's schedulers read of a trial
            trial_id = tid

        Trial.config = config
        self.scheduler.on_trial_add(None, Trial)
        last: dict[str, Any] = {}

        def report(metrics: dict[str, Any]) -> None:
            nonlocal last
            epoch = int(metrics.get("epoch") or last.get("training_iteration", 0) + 1)
            value = float(metrics.get(self.spec.metric, math.nan))
            diverged = bool(metrics.get("diverged")) or not math.isfinite(value)
            objective = self.plan.worst if diverged else value
            self.spent += 1
            if not diverged:
                self.best = max(self.best, value)
            self.trace.append((self.spent, self.best))
            last = {
                self.metric: objective,
                "training_iteration": epoch,
                "epoch": epoch,
                "status": "diverged" if diverged else "running",
            }
            if diverged or epoch >= int(config.get("epochs") or self.max_t):
                last["status"] = "diverged" if diverged else "completed"
                raise StopTrial
            action = self.scheduler.on_trial_result(None, Trial, last)
            if not self.random:
                self.searcher.on_trial_result(tid, last)
            if action == "STOP" or self.spent >= self.budget:
                raise StopTrial

        try:
            if self.bench == "curves":
                learning_curve(config, report)
            else:
                trainables.get(self.spec.trainable).fn(config, report)
        except StopTrial:
            pass
        except trainables.InvalidConfig:
            last = {self.metric: self.plan.worst, "status": "invalid"}
        if last.get("status") == "running" and last.get("epoch", 0) >= self.max_t:
            last["status"] = "completed"
        if not self.random:
            self.searcher.on_trial_complete(tid, last)
        self.scheduler.on_trial_complete(None, Trial, last)


def budget_of(bench: str) -> int:
    spec = base_spec(bench)
    return int(spec["num_samples"]) * int(spec["scheduler"]["max_t"])


def one_run(args: tuple[str, str, int, int | None]) -> dict[str, Any]:
    bench, way, seed, budget_override = args
    import optuna
    import torch

    torch.set_num_threads(1)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    logging.disable(logging.WARNING)
    budget = budget_override or budget_of(bench)
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as folder:
        loop = Loop(bench, way, seed, budget, Path(folder))
        trace = loop.run()
    best = {}
    for fraction in FRACTIONS:
        within = [b for spent, b in trace if spent <= fraction * budget]
        best[str(fraction)] = within[-1] if within else math.nan
    return {
        "bench": bench,
        "way": way,
        "seed": seed,
        "budget": budget,
        "trials": loop.trials,
        "spent": loop.spent,
        "best": best,
        "seconds": round(time.monotonic() - started, 2),
    }


def median_ci(values: list[float], seed: int = 0) -> tuple[float, float, float]:
    """The median and a 95 % percentile-bootstrap interval of the median."""
    data = np.asarray(values, dtype=float)
    rng = np.random.default_rng(seed)
    boots = np.median(rng.choice(data, (4000, len(data))), axis=1)
    low, high = np.quantile(boots, [0.025, 0.975])
    return float(np.median(data)), float(low), float(high)


def summarise(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    ways = [w for w in WAYS if any(r["way"] == w for r in runs)]
    by = {(r["way"], r["seed"]): r for r in runs}
    for fraction in FRACTIONS:
        key = str(fraction)
        for way in ways:
            seeds = sorted(s for w, s in by if w == way)
            values = [by[(way, s)]["best"][key] for s in seeds]
            med, low, high = median_ci(values)
            paired = [
                by[(way, s)]["best"][key] >= by[("random+fifo", s)]["best"][key]
                for s in seeds
                if ("random+fifo", s) in by
            ]
            rows.append(
                {
                    "budget": f"{int(fraction * 100)} %",
                    "way": way,
                    "seeds": len(values),
                    "median best": round(med, 4),
                    "95 % interval": f"{low:.4f} - {high:.4f}",
                    ">= random+fifo": f"{sum(paired)}/{len(paired)}" if paired else "-",
                    "trials (100 %)": int(np.median([by[(way, s)]["trials"] for s in seeds])),
                }
            )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "bench", nargs="?", default="curves", choices=("curves", "mlp-search", "cnn-search")
    )
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--ways", default=",".join(WAYS))
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--tag", default="")
    parser.add_argument(
        "--budget", type=int, help="trial-epochs in place of the preset's (a smoke run)"
    )
    parser.add_argument("--table", type=Path, help="only print the table of a .jsonl of runs")
    args = parser.parse_args()
    if args.table:
        print(table(summarise([json.loads(x) for x in args.table.read_text().splitlines() if x])))
        return
    ways = [w for w in args.ways.split(",") if w]
    for way in ways:
        if way not in WAYS:
            parser.error(f"--ways: unknown way {way!r}; allowed: {', '.join(WAYS)}")
    jobs = [(args.bench, way, seed, args.budget) for seed in range(args.seeds) for way in ways]
    started = time.monotonic()
    name = f"search_curves_{args.bench}{'_' + args.tag if args.tag else ''}"
    # Each run as it ends, so that a run stopped at a time limit keeps what it finished.
    partial = RESULTS / f"{name}.jsonl"
    RESULTS.mkdir(exist_ok=True)
    partial.write_text("")
    runs = []
    with ProcessPoolExecutor(args.jobs) as pool:
        for future in as_completed([pool.submit(one_run, job) for job in jobs]):
            runs.append(future.result())
            with partial.open("a") as f:
                f.write(json.dumps(runs[-1]) + "\n")
    rows = summarise(runs)
    print(table(rows))
    save(name, {"runs": runs, "rows": rows, "wall_s": round(time.monotonic() - started, 1)})


if __name__ == "__main__":
    main()
