"""Loading damaged folders, and the report files a person opens."""

from __future__ import annotations

import base64
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from analysis import load, write_comparison, write_report

from .conftest import remedy_experiment

STUDY = str(Path(sys.executable).parent / "study")


def _ray_trial(folder: Path, name: str, params: dict, results: list, error: str | None = None):
    trial = folder / name
    trial.mkdir(parents=True)
    (trial / "params.json").write_text(json.dumps(params))
    (trial / "result.json").write_text(
        "\n".join(r if isinstance(r, str) else json.dumps(r) for r in results) + "\n"
    )
    if error:
        (trial / "error.txt").write_text(f'Failure # 1\n  File "x.py", line 1\n{error}\n')


def _interrupted_folder(tmp_path: Path) -> Path:
    """A study whose driver died before writing trials.csv / history.csv."""
    folder = tmp_path / "killed"
    folder.mkdir()
    spec = {
        "name": "killed",
        "trainable": "mnist_cnn",
        "metric": "val_acc",
        "mode": "max",
        "space": {"channels": {"choice": [[10, 20], [8, 16]]}, "lr": {"loguniform": [1e-3, 1]}},
    }
    (folder / "spec.yaml").write_text(yaml.safe_dump(spec))
    ok = [
        {
            "trial_id": "a",
            "epoch": e,
            "val_acc": 0.5 + e / 10,
            "loss": 1.0 / e,
            "objective": 0.5 + e / 10,
            "status": "completed" if e == 2 else "running",
            "training_iteration": e,
            "time_total_s": 1.5 * e,
        }
        for e in (1, 2)
    ]
    _ray_trial(folder, "run_trial_a_1_x", {"channels": 1, "lr": 0.01}, ok)
    cut = [
        {
            "trial_id": "b",
            "epoch": 1,
            "val_acc": 0.3,
            "objective": 0.3,
            "status": "running",
            "training_iteration": 1,
            "time_total_s": 2.0,
        },
        '{"trial_id": "b", "epoch": 2, "val',
    ]
    _ray_trial(folder, "run_trial_b_2_x", {"channels": 0, "lr": 0.1}, cut)
    _ray_trial(
        folder, "run_trial_c_3_x", {"channels": 0, "lr": 0.5}, [], error="RuntimeError: boom"
    )
    return folder


def test_missing_tables_are_rebuilt_from_ray_files(tmp_path):
    exp = load(_interrupted_folder(tmp_path))
    assert exp.rebuilt
    trials = exp.trials.set_index("trial_id")
    assert trials.loc["a", "status"] == "completed" and trials.loc["a", "val_acc"] == 0.7
    assert trials.loc["a", "config/channels"] == [8, 16]  # index 1 decoded
    assert trials.loc["b", "status"] == "stopped" and trials.loc["b", "epochs"] == 1
    assert trials.loc["run_trial_c_3_x", "status"] == "error"
    assert trials.loc["run_trial_c_3_x", "reason"] == "RuntimeError: boom"
    assert len(exp.history) == 3  # 2 of a, 1 valid of b
    assert any("skipped 1 corrupt line" in w for w in exp.warnings)


def test_truncated_and_corrupt_csv_lines_are_dropped_with_a_warning(make_experiment):
    spec = {"name": "t", "trainable": "linear_w", "metric": "loss", "mode": "min"}
    trials = [
        {"trial_id": f"t{i}", "status": "completed", "loss": float(i), "objective": float(i)}
        for i in range(3)
    ]
    folder = make_experiment("t", spec=spec, trials=trials)
    text = (folder / "trials.csv").read_text()
    (folder / "trials.csv").write_text(text.rstrip("\n")[:-3])  # cut mid-line
    exp = load(folder)
    assert exp.trials["trial_id"].tolist() == ["t0", "t1"]
    assert any("truncated" in w for w in exp.warnings)
    lines = text.splitlines()
    (folder / "trials.csv").write_text(
        "\n".join([lines[0], lines[1], "x,y,z,1,2,3,4", lines[2]]) + "\n"
    )
    exp = load(folder)
    assert exp.trials["trial_id"].tolist() == ["t0", "t1"]
    assert any("malformed" in w for w in exp.warnings)


def test_report_is_self_contained_with_every_section(make_experiment, tmp_path):
    exp = load(remedy_experiment(make_experiment))
    out = write_report(exp, tmp_path / "report")
    page = (out / "index.html").read_text()
    for title in ("Summary", "Overfitting remedies", "Training dynamics"):
        assert re.search(f"<h2 id='[a-z_.-]+'>{title}</h2>", page)
    images = re.findall(r"src='data:image/png;base64,([A-Za-z0-9+/=]+)'", page)
    assert len(images) >= 3
    assert all(base64.b64decode(i).startswith(b"\x89PNG") for i in images)
    assert "http://" not in page and "https://" not in page  # reads offline
    md = (out / "report.md").read_text()
    for png in re.findall(r"\]\(([^)]+\.png)\)", md):
        assert (out / png).is_file()
    remedies = (out / "remedies.csv").read_text().splitlines()
    assert remedies[0].startswith("remedy,n,val_acc mean,val_acc low,val_acc high")
    assert remedies[1].startswith("baseline,2,0.81")
    differences = (out / "remedy_differences.csv").read_text().splitlines()
    assert differences[0].startswith("remedy,n_seeds,val_acc diff,val_acc low,val_acc high")


def test_report_of_a_rebuilt_folder_says_so(tmp_path):
    exp = load(_interrupted_folder(tmp_path))
    page = (write_report(exp, tmp_path / "r", "html") / "index.html").read_text()
    assert "rebuilt from Ray Tune&#x27;s trial files" in page or "rebuilt from Ray" in page
    assert not (tmp_path / "r" / "report.md").exists()


def test_comparison_of_two_experiments(make_experiment, tmp_path):
    first = remedy_experiment(make_experiment)
    spec = {
        "name": "other",
        "trainable": "mnist_mlp",
        "metric": "val_acc",
        "mode": "max",
        "search": {"algorithm": "random"},
        "scheduler": {"name": "asha"},
    }
    trials = [
        {
            "trial_id": f"o{i}",
            "status": "completed",
            "val_acc": 0.7 + i / 100,
            "best/val_acc": 0.7 + i / 100,
            "objective": 0.7 + i / 100,
            "epochs": 5,
        }
        for i in range(4)
    ]
    second = make_experiment("other", spec=spec, trials=trials)
    out = write_comparison([first, second], tmp_path / "cmp")
    table = (out / "comparison.csv").read_text().splitlines()
    assert table[0].startswith("experiment,trainable,metric,search,scheduler,trials")
    rows = {line.split(",")[0]: line for line in table[1:]}
    assert ",asha,4," in rows["other"] and ",grid," in rows["remedies"]
    assert (out / "best_vs_epochs.png").is_file()


def test_study_analyze_cli(make_experiment, tmp_path):
    folder = remedy_experiment(make_experiment)
    out = subprocess.run(
        [STUDY, "analyze", str(folder), "--out", str(tmp_path / "rep"), "--format", "md"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == str(tmp_path / "rep" / "report.md")
    bad = subprocess.run(
        [STUDY, "analyze", str(tmp_path)], capture_output=True, text=True, timeout=120
    )
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1
    assert "not a study folder" in bad.stderr and "Traceback" not in bad.stderr


@pytest.mark.parametrize("garbage", [b"", b"\x00\xff\xfe binary", b"trial_id\n", b'"unclosed'])
def test_corrupt_trials_csv_never_gives_a_traceback(make_experiment, tmp_path, garbage):
    spec = {"name": "g", "trainable": "linear_w", "metric": "loss", "mode": "min"}
    folder = make_experiment("g", spec=spec, trials=[{"trial_id": "t", "status": "completed"}])
    (folder / "trials.csv").write_bytes(garbage)
    out = subprocess.run(
        [STUDY, "analyze", str(folder), "--out", str(tmp_path / "o")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "Traceback" not in out.stderr
    assert out.returncode in (0, 2) and (out.returncode == 0 or out.stderr.count("\n") == 1)


def test_a_params_file_that_is_not_utf8_is_skipped_with_a_warning(tmp_path):
    """Found by test_corrupt_results: a garbled params.json raised UnicodeDecodeError."""
    folder = _interrupted_folder(tmp_path)
    (folder / "run_trial_a_1_x" / "params.json").write_bytes(b"\x80garbled")
    exp = load(folder)
    assert "a" in set(exp.trials["trial_id"])
    assert any("run_trial_a_1_x/params.json is unreadable" in w for w in exp.warnings)
