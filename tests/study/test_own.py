"""Your own trainables under ``study run`` on a real Ray head (README, "Your own
trainables"): the README's three digits examples as written, and a plain Ray Tune
function that diverges, checkpoints and is retried from its own checkpoint.

Each study runs as a user runs it: ``study`` in a folder of its own, the module on
PYTHONPATH only. The session's head was started without that path, so its workers
find the module only because the driver ships it (study.cluster.plugin_runtime_env).
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest
import yaml
from journal_check import assert_matches_trials_csv
from readme_examples import write_examples

from .conftest import study_env

STUDY = str(Path(sys.executable).parent / "study")
pytestmark = pytest.mark.slow


def _study(tmp_path: Path, address: str, *args: str) -> subprocess.CompletedProcess:
    mods, here = tmp_path / "mods", tmp_path / "here"
    here.mkdir(exist_ok=True)
    env = {k: v for k, v in study_env().items() if k != "STUDY_HARNESS_TRAINABLES"}
    env["PYTHONPATH"] = os.pathsep.join([str(mods), os.environ.get("PYTHONPATH", "")])
    return subprocess.run(
        [STUDY, *args, "--storage", str(tmp_path / "st"), "--address", address],
        cwd=here,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.parametrize(
    ("spec", "name", "seeded"),
    [
        ("digits.yaml", "digits_mlp", True),
        ("ray_digits.yaml", "train_fn", False),
        ("digits_full.yaml", "digits_full", True),
    ],
)
def test_the_readme_examples_run_as_studies(ray_address, tmp_path, spec, name, seeded):
    mods = tmp_path / "mods"
    mods.mkdir()
    write_examples(mods)
    report = [] if spec == "ray_digits.yaml" else ["--no-report"]  # one report is enough
    out = _study(
        tmp_path,
        ray_address,
        "run",
        str(mods / spec),
        "--set",
        "num_samples=2",
        "epochs=2",
        *report,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    folder = tmp_path / "st" / name
    trials = pd.read_csv(folder / "trials.csv")
    assert list(trials["status"]) == ["completed", "completed"]
    assert list(trials["trial_index"]) == [0, 1]
    assert list(trials["epochs"]) == [2, 2] and (trials["val_acc"] > 0).all()
    assert {"config/lr", "config/hidden", "config/epochs", "config/seed"} <= set(trials)
    if seeded:  # a per-trial seed for a trainable that declares one
        assert (
            trials["trial_seed"].nunique() == 2
            and (trials["config/seed"] == trials["trial_seed"]).all()
        )
    else:  # a plain Ray function's config is its own: the spec fixed seed 0
        assert list(trials["trial_seed"]) == [0, 0]
    history = pd.read_csv(folder / "history.csv")
    assert history.groupby("trial_id")["epoch"].apply(list).tolist() == [[1, 2], [1, 2]]
    assert_matches_trials_csv(folder)
    if not report:
        html = (folder / "report" / "index.html").read_text()
        assert "train_fn" in html and "val_acc" in html
    if spec == "ray_digits.yaml":
        assert "ray_digits:train_fn is a plain Ray Tune function" in out.stdout + out.stderr


PLAIN = '''
import math
import os
import tempfile
from pathlib import Path

from ray import tune


def train_fn(config):
    """Ray's docs' pattern: resume from tune.get_checkpoint, report with a checkpoint."""
    start = 0
    checkpoint = tune.get_checkpoint()
    if checkpoint:
        with checkpoint.as_directory() as folder:
            start = int(Path(folder, "step.txt").read_text())
    for step in range(start, 4):
        marker = Path(config["marker"] + str(config["x"]))
        if step == 2 and not marker.exists():
            marker.write_text("failed once")
            raise RuntimeError("lost on purpose after step 2")
        loss = math.nan if config["x"] < 0 else config["x"] / (step + 1)
        with tempfile.TemporaryDirectory() as folder:
            Path(folder, "step.txt").write_text(str(step + 1))
            tune.report({"mean_loss": loss, "step": step + 1},
                        checkpoint=tune.Checkpoint.from_directory(folder))
'''


def test_a_plain_ray_function_diverges_or_resumes_from_its_own_checkpoint(ray_address, tmp_path):
    mods = tmp_path / "mods"
    mods.mkdir()
    (mods / "plain_ckpt.py").write_text(textwrap.dedent(PLAIN))
    spec = mods / "plain.yaml"
    spec.write_text(
        yaml.safe_dump(
            {
                "name": "plain",
                "trainable": "plain_ckpt:train_fn",
                "metric": "mean_loss",
                "mode": "min",
                "max_failures": 1,
                "search": {"algorithm": "grid"},
                "config": {"marker": str(tmp_path / "failed-")},
                "space": {"x": {"grid": [2.0, -1.0]}},
            }
        )
    )
    out = _study(tmp_path, ray_address, "run", str(spec), "--no-report")
    assert out.returncode == 0, out.stderr[-3000:]
    folder = tmp_path / "st" / "plain"
    trials = pd.read_csv(folder / "trials.csv").set_index("config/x")
    ok, bad = trials.loc[2.0], trials.loc[-1.0]
    # Failed after step 2, retried from its checkpoint: steps 3 and 4 counted on as
    # epochs 3 and 4, none repeated, none restarted at 1.
    assert ok["status"] == "completed" and ok["epoch"] == 4 and ok["step"] == 4
    assert ok["mean_loss"] == 0.5 and ok["retries"] == 1
    assert "lost on purpose" in Path(ok["error_file"]).read_text()
    history = pd.read_csv(folder / "history.csv")
    mine = history[history["trial_id"] == ok["trial_id"]]
    assert list(mine["epoch"]) == list(mine["step"]) == [1, 2, 3, 4]
    # A nan metric is a divergence, decided by the harness: the trial ends there.
    assert bad["status"] == "diverged" and bad["epoch"] == 1
    assert "mean_loss = nan" in bad["reason"]
