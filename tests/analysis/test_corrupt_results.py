"""Property-based: ``study analyze`` on corrupt or truncated result files.

Any damage to any file of an experiment folder ends in a report (bad lines
skipped with a warning) or a one-line error with exit code 2: never a
traceback, and nothing written outside the report folder.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import pandas as pd
import yaml
from cli_inprocess import files, run_cli
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

SPEC = {
    "name": "lr",
    "trainable": "linear_w",
    "metric": "loss",
    "mode": "min",
    "space": {"lr": {"loguniform": [1e-4, 1.0]}},
}
FILES = [
    "spec.yaml",
    "trials.csv",
    "history.csv",
    "run_trial_t0/result.json",
    "run_trial_t0/params.json",
]


def _experiment(folder: Path) -> None:
    """Three linear_w trials, with tables and Ray's trial folders (for rebuilding)."""
    folder.mkdir(parents=True)
    (folder / "spec.yaml").write_text(yaml.safe_dump(SPEC))
    trials, history = [], []
    for i, lr in enumerate((0.001, 0.01, 0.1)):
        tid = f"t{i}"
        rows = [
            {
                "trial_id": tid,
                "epoch": e,
                "loss": lr / e,
                "objective": lr / e,
                "status": "completed" if e == 3 else "running",
                "iteration": e,
            }
            for e in (1, 2, 3)
        ]
        history += rows
        trials.append(
            {
                "trial_id": tid,
                "status": "completed",
                "config/lr": lr,
                "loss": lr / 3,
                "objective": lr / 3,
                "best/objective": lr / 3,
                "epochs": 3,
            }
        )
        trial = folder / f"run_trial_{tid}"
        trial.mkdir()
        (trial / "params.json").write_text(json.dumps({"lr": lr}))
        (trial / "result.json").write_text("".join(json.dumps(r) + "\n" for r in rows))
    pd.DataFrame(trials).to_csv(folder / "trials.csv", index=False)
    pd.DataFrame(history).to_csv(folder / "history.csv", index=False)


damage = st.one_of(
    st.tuples(st.just("truncate"), st.floats(0, 1)),
    st.tuples(st.just("garble"), st.floats(0, 1), st.binary(min_size=1, max_size=40)),
    st.tuples(st.just("delete")),
    st.tuples(st.just("empty")),
)


def _apply(path: Path, how: tuple) -> None:
    if how[0] == "delete":
        path.unlink()
    elif how[0] == "empty":
        path.write_bytes(b"")
    else:
        data = path.read_bytes()
        at = int(how[1] * len(data))
        path.write_bytes(
            data[:at] if how[0] == "truncate" else data[:at] + how[2] + data[at + len(how[2]) :]
        )


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(st.sampled_from(FILES), damage), min_size=1, max_size=3, unique_by=lambda x: x[0]
    )
)
def test_analyze_on_damaged_files_reports_or_says_why_in_one_line(damages):
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "exp"
        _experiment(folder)
        for name, how in damages:
            _apply(folder / name, how)
        before = files(Path(tmp))
        code, _, err = run_cli(
            ["analyze", str(folder), "--out", str(Path(tmp) / "rep"), "--format", "md"]
        )
        written = {f for f in files(Path(tmp)) - before if not f.startswith("rep")}
        report = Path(tmp) / "rep" / "report.md"
        text = report.read_text() if report.exists() else ""
        shutil.rmtree(Path(tmp) / "rep", ignore_errors=True)
    assert "Traceback" not in err
    assert not written, written
    if code == 0:
        assert text.startswith("#")  # a report, whatever survived
    else:
        assert code == 2, err
        assert err.startswith("error: ") and err.count("\n") == 1
