"""Results in durable storage (issue 22): ``--storage s3://bucket/prefix``, tested
against a real S3 server (SeaweedFS's ``weed`` on 127.0.0.1, tests/helpers/s3_server.py),
never a mock. The studies join the session's Ray head (so Ray itself writes its state
and checkpoints to the URI, as on a cluster), except the outage test, whose study runs
on a private Ray (the mirror of a local working folder)."""

from __future__ import annotations

import functools
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml
from cli_inprocess import run_cli

from study import storage
from study.errors import StudyError
from study.run.resume import resume_study
from study.run.start import run_study

from . import procs
from .conftest import free_port, study_env

STUDY = str(Path(sys.executable).parent / "study")

GRID = {
    "name": "grid",
    "trainable": "flaky",
    "metric": "loss",
    "mode": "min",
    "search": {"algorithm": "grid"},
    "config": {"epochs": 3, "sleep": 0.3},
    "space": {"value": {"grid": [1, 2, 3, 4, 5, 6]}},
}
OPTUNA = {  # flaky checkpoints each epoch, so Ray has checkpoints to keep
    "name": "searched",
    "trainable": "flaky",
    "metric": "loss",
    "mode": "min",
    "num_samples": 4,
    "search": {"algorithm": "optuna", "seed": 5},
    "config": {"epochs": 3},
    "space": {"value": {"uniform": [1.0, 5.0]}},
}


# --- URI forms: one line for what cannot be a storage ---------------------------------


def test_a_file_uri_is_the_folder_it_names(tmp_path):
    where = storage.place(f"file://{tmp_path}/studies")
    assert where.root == tmp_path / "studies" and where.remote is None
    assert storage.place("studies").root == Path("studies")


@pytest.mark.parametrize(
    ("given", "said"),
    [
        ("s3://", "no bucket"),
        ("nosuch://bucket/prefix", "not a storage URI pyarrow can open"),
        ("file://relative/path", "needs an absolute path"),
    ],
)
def test_what_is_not_a_storage_uri_is_one_line_exit_2(tmp_path, monkeypatch, given, said):
    monkeypatch.chdir(tmp_path)
    code, _out, err = run_cli(["run", "quickstart", "--storage", given])
    assert code == 2, err
    assert err.count("\n") == 1 and said in err
    assert "file:///PATH" in err  # what is allowed
    assert list(tmp_path.iterdir()) == []  # nothing written, no Ray started


# --- refused before any trial runs ----------------------------------------------------


def test_wrong_credentials_are_one_line_exit_2_before_any_trial(s3, tmp_path, monkeypatch):
    server, bucket = s3
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret")
    code, _out, err = run_cli(["run", "quickstart", "--storage", f"s3://{bucket}/studies"])
    assert code == 2, err
    assert err.count("\n") == 1 and "credentials were refused" in err
    assert server.keys(bucket) == []
    assert not (tmp_path / "cache").exists()


def test_a_bucket_that_does_not_exist_is_one_line_exit_2_before_any_trial(s3, tmp_path):
    _server, _bucket = s3
    code, _out, err = run_cli(["run", "quickstart", "--storage", "s3://no-such-bucket/studies"])
    assert code == 2, err
    assert err.count("\n") == 1 and "the bucket 'no-such-bucket' does not exist" in err
    assert not (tmp_path / "cache").exists()


def test_a_storage_that_does_not_answer_is_one_line_exit_2(s3, tmp_path, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")
    code, _out, err = run_cli(["run", "quickstart", "--storage", f"s3://{s3[1]}/studies"])
    assert code == 2, err
    assert err.count("\n") == 1 and "the storage did not answer" in err


def test_the_mirror_uploads_only_what_changed(s3, tmp_path):
    server, bucket = s3
    folder = tmp_path / "study"
    (folder / "trial_1").mkdir(parents=True)
    (folder / "spec.yaml").write_text("a: 1\n")
    (folder / "trial_1" / "result.json").write_text("{}\n")
    (folder / ".study.lock").write_text("123")
    (folder / "optuna.journal.flock").write_text("")
    mirror = storage.Mirror(folder, storage.resolve(f"s3://{bucket}/p/study"))
    assert mirror.push() and mirror.uploads == 2
    assert server.keys(f"{bucket}/p/study") == ["spec.yaml", "trial_1/result.json"]
    assert mirror.push() and mirror.uploads == 2  # nothing changed: nothing sent
    (folder / "trial_1" / "result.json").write_text('{"epoch": 1}\n')
    assert mirror.push() and mirror.uploads == 3
    assert server.read(f"{bucket}/p/study/trial_1/result.json") == b'{"epoch": 1}\n'


@pytest.mark.parametrize("key", ["a/../../escape", "../x", "/etc/passwd", "a//b", "./a", ""])
def test_a_key_that_would_leave_the_folder_is_refused(key):
    # weed itself refuses to store such keys; another store may not, so the check is
    # the harness's own.
    remote = storage.Remote("s3://bucket/p", None, "bucket/p")
    with pytest.raises(StudyError, match="leaves the folder"):
        storage.key_parts(remote, key)
    assert storage.key_parts(remote, "trial_1/result.json") == ("trial_1", "result.json")


# --- end to end, on the session's cluster -------------------------------------------


@pytest.mark.slow
def test_a_study_kept_in_s3_is_analyzed_and_resumed_from_the_uri_alone(
    s3, ray_address, tmp_path, monkeypatch
):
    server, bucket = s3
    uri = f"s3://{bucket}/studies"
    folder = run_study(OPTUNA, storage=uri, address=ray_address)
    keys = server.keys(f"{bucket}/studies/searched")
    for expected in (
        "spec.yaml",
        "trials.csv",
        "history.csv",
        "finished.jsonl",
        "optuna.journal",
        "report/index.html",
        "report/report.md",
        "tuner.pkl",
    ):
        assert expected in keys, keys
    assert any(k.startswith("experiment_state-") for k in keys)
    assert any("/checkpoint_" in k for k in keys)  # Ray's own, written by the trials
    assert not any(k.endswith((".lock", ".flock")) for k in keys)
    trials = pd.read_csv(folder / "trials.csv")
    assert len(trials) == 4
    assert (
        server.read(f"{bucket}/studies/searched/trials.csv") == (folder / "trials.csv").read_bytes()
    )
    assert folder.is_relative_to(tmp_path / "cache")
    report_md = (folder / "report" / "report.md").read_text()

    shutil.rmtree(tmp_path / "cache")  # every local file gone; "another machine"
    monkeypatch.chdir(tmp_path)
    code, out, err = run_cli(["analyze", f"{uri}/searched", "--out", "again"])
    assert code == 0, err
    assert (tmp_path / "again" / "index.html").is_file()
    assert (tmp_path / "again" / "report.md").read_text() == report_md
    assert not (tmp_path / "cache").exists()  # analyze keeps no copy behind
    # Without --out the report goes back up, beside the study.
    server.filesystem().delete_dir_contents(f"{bucket}/studies/searched/report")
    code, out, err = run_cli(["analyze", f"{uri}/searched"])
    assert code == 0, err
    assert out.strip() == f"{uri}/searched/report/index.html"
    assert server.read(f"{bucket}/studies/searched/report/report.md").decode() == report_md

    code, out, err = run_cli(["resume", f"{uri}/searched"])
    assert code == 0, err
    assert "nothing to resume" in out and out.strip().endswith(f"{uri}/searched")


_spawn = functools.partial(procs.spawn, stderr=subprocess.STDOUT)
_read_until = functools.partial(procs.read_until, strict=True)


@pytest.mark.slow
def test_a_killed_driver_resumes_from_the_uri_with_the_local_folder_deleted(
    s3, ray_address, tmp_path
):
    server, bucket = s3
    spec = tmp_path / "grid.yaml"
    spec.write_text(yaml.safe_dump(GRID))
    env = {**study_env(), **server.env(), "STUDY_HARNESS_CACHE": str(tmp_path / "cache")}
    uri = f"s3://{bucket}/studies"
    proc = _spawn("run", str(spec), "--storage", uri, "--address", ray_address, env=env)
    seen = _read_until(proc, 2, " completed ", timeout=180)
    proc.kill()  # SIGKILL: nothing flushed or uploaded on the way out
    proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    finished = {line.split()[1] for line in seen if " completed " in line}
    # Each trial's end was uploaded as it ended: a killed driver loses at most those
    # in flight.
    ledger = server.read(f"{bucket}/studies/grid/finished.jsonl").decode().splitlines()
    assert finished <= {json.loads(line)["trial_id"] for line in ledger}

    shutil.rmtree(tmp_path / "cache")
    os.environ["STUDY_HARNESS_CACHE"] = str(tmp_path / "cache2")
    folder = resume_study(f"{uri}/grid", address=ray_address, report=False)
    after = pd.read_csv(folder / "trials.csv").set_index("trial_id")
    assert len(after) == 6 and after.index.is_unique
    assert (after["status"] == "completed").all()
    assert sorted(after["config/value"]) == [1, 2, 3, 4, 5, 6]
    ends = [json.loads(line)["trial_id"] for line in (folder / "finished.jsonl").open()]
    assert len(ends) == len(set(ends)) == 6, ends  # none that had ended ran again
    uploaded = pd.read_csv(
        __import__("io").BytesIO(server.read(f"{bucket}/studies/grid/trials.csv"))
    )
    assert len(uploaded) == 6 and (uploaded["status"] == "completed").all()


@pytest.mark.slow
def test_the_storage_stopped_mid_study_loses_nothing(s3, tmp_path):
    """A private Ray (no --address): its state and checkpoints stay in the working
    folder, so the outage costs no trial; what could not be uploaded goes when the
    server answers again, or with 'study sync'."""
    server, bucket = s3
    spec = tmp_path / "grid.yaml"
    spec.write_text(yaml.safe_dump({**GRID, "config": {"epochs": 3, "sleep": 0.5}}))
    env = {**study_env(), **server.env(), "STUDY_HARNESS_CACHE": str(tmp_path / "cache")}
    env.pop("RAY_ADDRESS", None)
    uri = f"s3://{bucket}/studies"
    proc = _spawn("run", str(spec), "--storage", uri, "--no-report", env=env)
    seen = _read_until(proc, 1, " completed ", timeout=300)
    server.stop()
    try:
        seen += _read_until(proc, 2, " completed ", timeout=300)
    finally:
        server.start()
    rest, _ = proc.communicate(timeout=600)
    out = "".join(seen) + rest
    assert proc.returncode == 0, out[-3000:]
    assert out.count("could not upload to") == 1, out  # said once, not per trial
    folder = tmp_path / "cache" / "s3" / bucket / "studies" / "grid"
    if "answers again" not in out:
        # The study ended before the server was back: the documented way up.
        done = subprocess.run(
            [STUDY, "sync", str(folder)], env=env, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stderr
    local = pd.read_csv(folder / "trials.csv")
    assert len(local) == 6 and (local["status"] == "completed").all()
    for name in ("trials.csv", "history.csv", "finished.jsonl", "spec.yaml"):
        assert server.read(f"{bucket}/studies/grid/{name}") == (folder / name).read_bytes()
    keys = server.keys(f"{bucket}/studies/grid")
    assert sum(k.endswith("/result.json") for k in keys) == 6
