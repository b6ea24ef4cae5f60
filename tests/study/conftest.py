"""One Ray head node for the whole session, started with ``ray start --head`` on 127.0.0.1.

Every study test joins it by address, so the suite also proves the cluster path
(``--address``) and pays Ray's start-up once. Its workers inherit
$STUDY_HARNESS_TRAINABLES and PYTHONPATH, so they know the test-only trainables.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from . import procs

PLUGINS = Path(__file__).parent.parent / "plugins"
SESSION_NODE: dict[str, str] = {}  # "temp_dir" of the session's head node, once started
RAY = str(Path(sys.executable).parent / "ray")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def study_env() -> dict[str, str]:
    """The environment for Ray and for ``study`` subprocesses in these tests."""
    path = os.pathsep.join(filter(None, [str(PLUGINS), os.environ.get("PYTHONPATH")]))
    return {
        **os.environ,
        "PYTHONPATH": path,
        "STUDY_HARNESS_TRAINABLES": "harness_test_trainables",
        "RAY_USAGE_STATS_ENABLED": "0",
    }


@pytest.fixture(scope="session")
def ray_address():
    import ray

    import trainables
    from study.execution import cluster

    sys.path.insert(0, str(PLUGINS))
    import harness_test_trainables  # noqa: F401  (registers "flaky" in this process too)

    # This process is the driver of the in-process studies: it ships the plugin to the
    # head, which was started without it, as a user's laptop would. The variable is
    # needed only while connecting (Ray keeps the job's runtime_env), and must not leak
    # into the subprocesses of other tests.
    os.environ["STUDY_HARNESS_TRAINABLES"] = "harness_test_trainables"

    cluster.configure_env()
    ensure_token()
    address, temp_dir = start_head(num_cpus=2)
    SESSION_NODE["temp_dir"] = temp_dir
    try:
        try:
            cluster.connect(address)
        finally:
            os.environ.pop("STUDY_HARNESS_TRAINABLES", None)
        assert "flaky" in trainables.REGISTRY
        yield address
    finally:
        ray.shutdown()
        stop_node(temp_dir)


def ensure_token() -> None:
    """Ray 2.60's token authentication: nodes that join a head (the lost-worker test) need
    the token in ~/.ray/auth_token. On a machine that never ran Ray there is none until
    something creates it, so create it as Ray's own CLI would (no-op when it exists)."""
    subprocess.run([RAY, "get-auth-token", "--generate"], capture_output=True, timeout=60)


def ray_start(*args: str, env: dict[str, str] | None = None) -> None:
    """``ray start ARGS`` with the tests' environment; fails the test if Ray refuses."""
    out = subprocess.run(
        [RAY, "start", *args],
        env=env or study_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr[-2000:]


def start_head(num_cpus: int) -> tuple[str, str]:
    """A ``ray start --head`` node on 127.0.0.1 without a dashboard: (address, temp_dir).

    The node has a folder of its own (short: Ray puts Unix sockets in it), so that
    stop_node stops its processes only, not another Ray on the machine ('ray stop'
    would)."""
    port = free_port()
    temp_dir = tempfile.mkdtemp(prefix="rt", dir="/tmp")
    # Started as a cluster admin would: without the tests' plugin variable or module
    # path. Drivers that join it ship both (study.cluster.plugin_runtime_env), so every
    # test that runs a test-only trainable on it checks that shipping works.
    bare = {k: v for k, v in study_env().items() if k != "STUDY_HARNESS_TRAINABLES"}
    bare["PYTHONPATH"] = os.environ.get("PYTHONPATH", "")
    ray_start(
        "--head",
        f"--temp-dir={temp_dir}",
        "--node-ip-address=127.0.0.1",
        f"--port={port}",
        f"--num-cpus={num_cpus}",
        "--num-gpus=0",
        "--include-dashboard=false",
        "--disable-usage-stats",
        env=bare,
    )
    return f"127.0.0.1:{port}", temp_dir


def start_worker(address: str, env: dict[str, str] | None = None) -> tuple[int, int]:
    """A second node (one CPU) joining the head at ``address`` on this machine, with a
    node-manager port of its own: (that port, which marks its processes; its raylet's
    PID). Ray 2.60 clusters use token authentication, so it joins in token mode."""
    node_port = free_port()
    ray_start(
        f"--address={address}",
        f"--node-manager-port={node_port}",
        "--node-ip-address=127.0.0.1",
        "--num-cpus=1",
        "--num-gpus=0",
        env={**(env or study_env()), "RAY_AUTH_MODE": "token"},
    )
    raylet = next(
        p
        for p in procs.with_marker(f"--node_manager_port={node_port}")
        if "raylet" in procs.cmdline(p)
    )
    return node_port, raylet


def stop_node(temp_dir: str) -> None:
    """Stop the Ray processes of the node started with ``temp_dir``, then remove it: the
    children of its processes first (the raylet's agents rename themselves, as
    ``ray::DashboardAgent``, so only their parent names the node), then the processes."""
    found = procs.with_marker(temp_dir)
    children = sorted(set().union(*(procs.descendants(p) for p in found)) - set(found))
    for group in (children, found):
        procs.kill(group, signal.SIGTERM)
        procs.kill(procs.wait_gone(group, 3))  # what has not stopped in 3 s is killed
        procs.wait_gone(group, 10)
    shutil.rmtree(temp_dir, ignore_errors=True)


def session_trial_workers() -> list[int]:
    """The trial worker processes of the session's head node (and no other Ray's)."""
    raylets = [
        p for p in procs.with_marker(SESSION_NODE["temp_dir"]) if "raylet" in procs.cmdline(p)
    ]
    return [
        p
        for raylet in raylets
        for p in procs.descendants(raylet)
        if "ray::ImplicitFunc" in procs.cmdline(p)
    ]


@pytest.fixture(scope="session")
def s3_server():
    """One real S3 server (SeaweedFS's ``weed``) on 127.0.0.1 for the session, stopped
    by its PID (tests/helpers/s3_server.py)."""
    import s3_server as s3

    server = s3.start()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(server.folder, ignore_errors=True)


@pytest.fixture
def s3(s3_server, monkeypatch, tmp_path, request):
    """The session's S3 server with a bucket of this test's own, its endpoint and
    credentials in the environment (as a user sets them), and the working folders of
    URI storage under the test's tmp_path: (server, bucket)."""
    import re

    bucket = "t-" + re.sub(r"[^a-z0-9-]", "-", request.node.name.lower())[:50].strip("-")
    s3_server.make_bucket(bucket)
    for key, value in s3_server.env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("STUDY_HARNESS_CACHE", str(tmp_path / "cache"))
    return s3_server, bucket
