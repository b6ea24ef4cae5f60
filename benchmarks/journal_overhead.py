"""What keeping the Optuna study in optuna.journal costs the searcher (issue 15).

The searcher (in the driver) does, per trial: ask, one report per epoch, user
attributes, tell. This times exactly those Optuna calls, on the journal file
storage the harness uses (study.optuna_storage.open_storage: flock lock, fsync per
write) against Optuna's in-memory storage (what Ray's OptunaSearch keeps without
a storage), for lr-divergence's shape (20 trials x 100 epochs) and mlp-search's
(60 trials x 20 epochs). Medians of 5 repeats; BENCHMARKS.md section 10.

    python benchmarks/journal_overhead.py
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

import optuna
from optuna.distributions import FloatDistribution

from study.records.journal import open_storage

SPACE = {"lr": FloatDistribution(1e-4, 1.0, log=True)}
SHAPES = {"lr-divergence": (20, 100), "mlp-search": (60, 20)}
REPEATS = 5


def one_study(storage: object, trials: int, epochs: int) -> float:
    started = time.perf_counter()
    study = optuna.create_study(storage=storage, study_name="bench", direction="minimize")  # type: ignore[arg-type]
    for i in range(trials):
        trial = study.ask(SPACE)
        trial.set_user_attr("trial_id", f"t{i}")
        for epoch in range(1, epochs + 1):
            trial.report(1.0 / epoch, epoch)
        trial.set_user_attr("status", "completed")
        trial.set_user_attr("reason", "")
        study.tell(trial, 1.0 / epochs)
    return time.perf_counter() - started


def main() -> None:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    for name, (trials, epochs) in SHAPES.items():
        memory, journal = [], []
        for _ in range(REPEATS):  # interleaved, so drift hits both alike
            memory.append(one_study(None, trials, epochs))
            with tempfile.TemporaryDirectory() as tmp:
                journal.append(one_study(open_storage(Path(tmp)), trials, epochs))
        m, j = statistics.median(memory), statistics.median(journal)
        writes = trials * (epochs + 4)
        print(
            f"{name}: {trials} trials x {epochs} epochs: in-memory {m:.3f} s, journal {j:.3f} s "
            f"(+{j - m:.3f} s, {1000 * (j - m) / writes:.2f} ms per write, {writes} writes); "
            f"min/max journal {min(journal):.3f}/{max(journal):.3f} s"
        )


if __name__ == "__main__":
    main()
