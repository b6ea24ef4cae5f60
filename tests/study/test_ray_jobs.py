"""A study submitted as a Ray Job, as the README's "From a laptop to a cluster" says
(issue 22): a head with Ray's job server on 127.0.0.1, ``ray job submit`` with the
token, and the study joining the cluster through the RAY_ADDRESS that Ray Jobs sets.

The head is this module's own (the session's head has no job server), started and
stopped by its temp folder like every node in these tests."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from .conftest import PLUGINS, RAY, free_port, ray_start, stop_node, study_env

pytestmark = pytest.mark.slow
PLUGIN = PLUGINS / "harness_test_trainables.py"
NO_AGENT = "No available agent to submit job"

TINY = {
    "name": "tiny",
    "trainable": "linear_w",
    "metric": "loss",
    "mode": "min",
    "num_samples": 2,
    "search": {"algorithm": "random", "seed": 3},
    "config": {"epochs": 5},
    "space": {"lr": {"loguniform": [0.0001, 0.01]}},
}


def _env() -> dict[str, str]:
    """The README's environment for the ``ray`` commands: the token mode, and the
    environment's ``study`` on PATH (as an activated virtual environment has it)."""
    env = {k: v for k, v in study_env().items() if k != "STUDY_HARNESS_TRAINABLES"}
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env["RAY_AUTH_MODE"] = "token"
    return env


@pytest.fixture(scope="module")
def job_server(tmp_path_factory, s3_server):
    """A head with the job server (the dashboard) on 127.0.0.1 only: its URL. Its nodes
    have the S3 server's endpoint and credentials in their environment, as a cluster's
    nodes have their bucket's (deploy/rayjob.yaml: from a Secret)."""
    import tempfile

    temp_dir = tempfile.mkdtemp(prefix="rj", dir="/tmp")
    port, dashboard = free_port(), free_port()
    ray_start(
        "--head",
        f"--temp-dir={temp_dir}",
        "--node-ip-address=127.0.0.1",
        f"--port={port}",
        "--num-cpus=2",
        "--num-gpus=0",
        "--include-dashboard=true",
        "--dashboard-host=127.0.0.1",
        f"--dashboard-port={dashboard}",
        # Ports of its own: the agent's default (52365) is taken by any other Ray head
        # on the machine, and the job server then has "no available agent" for ever.
        f"--dashboard-agent-listen-port={free_port()}",
        f"--dashboard-agent-grpc-port={free_port()}",
        "--disable-usage-stats",
        env={
            **_env(),
            **s3_server.env(),
            "STUDY_HARNESS_CACHE": str(tmp_path_factory.mktemp("job-cache")),
        },
    )
    try:
        yield f"http://127.0.0.1:{dashboard}"
    finally:
        stop_node(temp_dir)


def _submit(
    url: str, working_dir: Path, *command: str, runtime_env: str | None = None
) -> subprocess.CompletedProcess:
    extra = ["--runtime-env-json", runtime_env] if runtime_env else []
    where = ["--address", url, "--working-dir", str(working_dir), *extra]
    deadline = time.monotonic() + 120
    while True:
        done = subprocess.run(
            [RAY, "job", "submit", *where, "--", *command],
            env=_env(),
            capture_output=True,
            text=True,
            timeout=300,
        )
        # A head just started has no job agent yet ("please try again later", says Ray).
        if NO_AGENT not in done.stderr + done.stdout or time.monotonic() > deadline:
            return done
        time.sleep(2)


def _exit_code(out: str) -> int | None:
    """The entrypoint's exit status, as Ray reports a failed job."""
    found = re.search(r"failed with exit code (\d+)", out)
    return int(found.group(1)) if found else None


def test_a_study_submitted_as_a_ray_job_runs_on_the_cluster(job_server, tmp_path):
    work = tmp_path / "project"
    work.mkdir()
    (work / "tiny.yaml").write_text(yaml.safe_dump(TINY))
    results = tmp_path / "results"
    done = _submit(job_server, work, "study", "run", "tiny.yaml", "--storage", str(results))
    out = done.stdout + done.stderr
    assert done.returncode == 0, out[-3000:]
    assert "joining the Ray cluster at" in out and "(RAY_ADDRESS)" in out
    trials = pd.read_csv(results / "tiny" / "trials.csv")
    assert len(trials) == 2 and (trials["status"] == "completed").all()  # not 'error'
    assert (results / "tiny" / "report" / "index.html").is_file()


def test_a_ray_job_keeps_its_results_in_s3(job_server, s3_server, tmp_path):
    """The README's cluster path: a preset submitted as a Ray Job with --storage
    s3://...; the head's copy goes with the job, the URI's stays."""
    s3_server.make_bucket("job-results")
    work = tmp_path / "project"
    work.mkdir()
    (work / "tiny.yaml").write_text(yaml.safe_dump(TINY))
    uri = "s3://job-results/studies"
    done = _submit(job_server, work, "study", "run", "tiny.yaml", "--storage", uri)
    out = done.stdout + done.stderr
    assert done.returncode == 0, out[-3000:]
    assert f"{uri}/tiny" in out  # the study's last line: where its results are kept
    keys = s3_server.keys("job-results/studies/tiny")
    assert {"trials.csv", "history.csv", "spec.yaml", "report/index.html"} <= set(keys)
    env = {**_env(), **s3_server.env(), "STUDY_HARNESS_CACHE": str(tmp_path / "cache")}
    again = subprocess.run(
        [str(Path(sys.executable).parent / "study"), "analyze", f"{uri}/tiny", "--out", "r"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert again.returncode == 0, again.stderr
    assert (tmp_path / "r" / "report.md").read_text() == s3_server.read(
        "job-results/studies/tiny/report/report.md"
    ).decode()


def test_a_jobs_exit_status_is_the_studys(job_server, tmp_path):
    work = tmp_path / "project"
    work.mkdir()
    (work / "tiny.yaml").write_text(yaml.safe_dump(TINY))
    # Results in the job's working_dir would be deleted with it: bad input, exit 2.
    done = _submit(job_server, work, "study", "run", "tiny.yaml", "--no-report")
    out = done.stdout + done.stderr
    assert done.returncode != 0 and _exit_code(out) == 2, out[-3000:]
    assert "relative to the Ray job's working_dir" in out
    # Every trial raises (a trainable of the user's, shipped in the working_dir): exit 1,
    # the results written.
    broken = {
        "name": "broken",
        "trainable": "flaky",
        "metric": "loss",
        "mode": "min",
        "num_samples": 2,
        "config": {"epochs": 2, "fail_at": 1},
    }
    (work / "broken.yaml").write_text(yaml.safe_dump(broken))
    (work / "harness_test_trainables.py").write_text(PLUGIN.read_text())
    results = tmp_path / "results"
    done = _submit(
        job_server,
        work,
        "study",
        "run",
        "broken.yaml",
        "--storage",
        str(results),
        runtime_env='{"env_vars": {"STUDY_HARNESS_TRAINABLES": "harness_test_trainables"}}',
    )
    out = done.stdout + done.stderr
    assert _exit_code(out) == 1, out[-3000:]
    assert "no trial trained" in out, out[-3000:]
    assert pd.read_csv(results / "broken" / "trials.csv")["status"].tolist() == ["error"] * 2
