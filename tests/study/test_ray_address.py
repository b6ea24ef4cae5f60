"""Which cluster a study joins without --address (issue 22): $RAY_ADDRESS, as Ray Jobs
set it for the driver, and where a job's results may go. No Ray is started: joining is
replaced by a stand-in that records the address."""

from __future__ import annotations

import pytest
from cli_inprocess import run_cli

from study.execution import cluster

JOINED = "JOINED"


@pytest.fixture(autouse=True)
def record_join(monkeypatch):
    def refuse(address):
        raise cluster.ClusterError(f"{JOINED} {address}")

    monkeypatch.setattr(cluster, "connect", refuse)


def test_without_address_a_study_joins_ray_address(monkeypatch, tmp_path):
    monkeypatch.setenv("RAY_ADDRESS", "10.0.0.7:6379")
    _, out, err = run_cli(["run", "lr-divergence", "--storage", str(tmp_path)])
    assert f"{JOINED} 10.0.0.7:6379" in err
    assert "joining the Ray cluster at 10.0.0.7:6379 (RAY_ADDRESS)" in out
    # --address wins over the variable.
    where = ["--address", "auto", "--storage", str(tmp_path)]
    _, out, err = run_cli(["run", "lr-divergence", *where])
    assert f"{JOINED} auto" in err


def test_without_either_a_study_starts_a_private_ray(monkeypatch, tmp_path):
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    _, _, err = run_cli(["run", "lr-divergence", "--storage", str(tmp_path)])
    assert f"{JOINED} None" in err


def test_a_job_servers_url_in_ray_address_is_one_line(monkeypatch, tmp_path):
    monkeypatch.setenv("RAY_ADDRESS", "http://127.0.0.1:8265")
    code, _, err = run_cli(["run", "lr-divergence", "--storage", str(tmp_path)])
    assert code == 2 and err.count("\n") == 1 and "a job server's address" in err
    assert not any(tmp_path.iterdir())


def test_in_a_ray_job_a_relative_storage_is_refused(monkeypatch, tmp_path):
    monkeypatch.setenv(cluster.JOB_CONFIG_ENV, "{}")
    monkeypatch.setenv("RAY_ADDRESS", "10.0.0.7:6379")
    monkeypatch.chdir(tmp_path)
    code, _, err = run_cli(["run", "lr-divergence"])
    assert code == 2 and "relative to the Ray job's working_dir" in err
    assert not any(tmp_path.iterdir())
    _, _, err = run_cli(["run", "lr-divergence", "--storage", str(tmp_path / "abs")])
    assert f"{JOINED} 10.0.0.7:6379" in err  # an absolute one goes on


@pytest.mark.parametrize("uri", ["s3://bucket/prefix", "s3://bucket/prefix?region=us-east-1"])
def test_a_storage_uri_is_never_a_local_folder(tmp_path, monkeypatch, uri):
    """Before issue 22's storage, Path('s3://b/p') made a folder 's3:'; now a URI whose
    storage does not answer is one line, and nothing is written here (the storage
    tests, tests/study/test_storage.py, run against a real S3 server)."""
    from .conftest import free_port

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("STUDY_HARNESS_CACHE", str(tmp_path / "cache"))
    code, _, err = run_cli(["run", "lr-divergence", "--storage", uri])
    assert code == 2 and err.count("\n") == 1 and "the storage did not answer" in err, err
    assert not any(tmp_path.iterdir())  # no folder named s3:, no working folder


def test_a_refused_address_on_a_suite_writes_nothing(tmp_path):
    """A suite's folder is made once Ray is reached (issue 22: suite.yaml was written
    first, and the next run went to quickstart-2)."""
    import subprocess
    import sys
    from pathlib import Path

    from .conftest import free_port, study_env

    study = str(Path(sys.executable).parent / "study")
    where = ["--address", f"127.0.0.1:{free_port()}", "--storage", str(tmp_path)]
    done = subprocess.run(
        [study, "run", "quickstart", *where],
        capture_output=True,
        text=True,
        timeout=120,
        env=study_env(),
    )
    assert done.returncode == 2 and "no Ray cluster answers at" in done.stderr
    assert not any(tmp_path.iterdir())
