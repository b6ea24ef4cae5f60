"""Write the interrupted study folders that tests/study/test_old_folders.py resumes.

They were made once, by the last release with study/'s flat layout (commit bb7c85b,
before issue 33 grouped study/ by stage), with:

    python tests/study/old_folders/make_old_folders.py

Ray pickles the harness's classes by their module path (the searchers in
searcher-state-*.pkl, the callbacks and the stopper in tuner.pkl), so these folders
hold the old paths, and their resume proves that the new layout still reads them.
Run today, this script writes folders of today's layout instead, which proves
nothing: keep the tarballs as they are.

Each study is started with ``study run`` on a private Ray and sent SIGINT once two
trials have ended, so its folder holds finished trials, unfinished ones and Ray's
saved state, as a user's interrupted study does. They are written in WHERE, and the
test resumes them there: Ray's state names the folder by its absolute path, and a
folder resumed from another path loses the trials it runs (issue 38), which is not
what these folders are here to test.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tarfile
import time
from pathlib import Path

HERE = Path(__file__).parent
PLUGINS = HERE.parent.parent / "plugins"
STUDY = str(Path(sys.executable).parent / "study")

SPECS = {
    # Optuna + ASHA, one Ray trial per trial, a time budget (its stopper is pickled).
    "old-optuna": """\
name: old-optuna
trainable: flaky
metric: loss
mode: min
num_samples: 6
max_concurrent: 1
time_budget_s: 3600
search: {algorithm: optuna, seed: 0, n_startup_trials: 2}
scheduler: {name: asha, max_t: 3, grace_period: 1}
config: {epochs: 3, sleep: 0.4}
space:
  value: {uniform: [0.5, 5.0]}
""",
    # A grid: Ray's variant generator, restored by the harness's subclass.
    "old-grid": """\
name: old-grid
trainable: flaky
metric: loss
mode: min
max_concurrent: 1
search: {algorithm: grid}
config: {epochs: 3, sleep: 0.4}
space:
  value: {grid: [1, 2, 3, 4, 5, 6]}
""",
    # Fused groups under Optuna and ASHA: the group searcher around Optuna's, rungs inside.
    "old-fused-optuna": """\
name: old-fused-optuna
trainable: linear_w
metric: loss
mode: min
num_samples: 8
max_concurrent: 1
fuse: 2
search: {algorithm: optuna, seed: 0, n_startup_trials: 2}
scheduler: {name: asha, max_t: 150, grace_period: 50}
config: {data: outlier, epochs: 150}
space:
  lr: {loguniform: [1.0e-4, 1.0e-2]}
""",
    # Fused groups over a grid: the group searcher around a list of proposals.
    "old-fused-grid": """\
name: old-fused-grid
trainable: linear_w
metric: loss
mode: min
max_concurrent: 1
fuse: 2
search: {algorithm: grid}
config: {data: outlier, epochs: 150}
space:
  lr: {grid: [0.0001, 0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02]}
""",
}

ENDED = (" completed ", " stopped ", " diverged ")
# Where the folders are written, and where the test puts them back to resume them.
WHERE = Path("/tmp/study-harness-old-layout")


def _env() -> dict[str, str]:
    path = os.pathsep.join(filter(None, [str(PLUGINS), os.environ.get("PYTHONPATH")]))
    return {
        **os.environ,
        "PYTHONPATH": path,
        "STUDY_HARNESS_TRAINABLES": "harness_test_trainables",
        "RAY_USAGE_STATS_ENABLED": "0",
    }


def make(name: str, text: str, storage: Path) -> Path:
    spec = storage / f"{name}.yaml"
    spec.write_text(text)
    proc = subprocess.Popen(
        [STUDY, "run", str(spec), "--storage", str(storage), "--no-report"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(),
    )
    assert proc.stdout is not None
    seen: list[str] = []
    deadline = time.monotonic() + 300
    while sum(any(e in line for e in ENDED) for line in seen) < 2:
        line = proc.stdout.readline()
        if not line or time.monotonic() > deadline:
            break
        seen.append(line)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=300)
    if proc.returncode != 130:
        raise SystemExit(f"{name}: exit {proc.returncode}, not interrupted:\n{err}")
    return storage / name


def main() -> None:
    shutil.rmtree(WHERE, ignore_errors=True)
    WHERE.mkdir(mode=0o700)
    for name, text in SPECS.items():
        folder = make(name, text, WHERE)
        with tarfile.open(HERE / f"{name}.tar.gz", "w:gz") as tar:
            tar.add(folder, arcname=name)
        print(name, "written")
    shutil.rmtree(WHERE)


if __name__ == "__main__":
    main()
