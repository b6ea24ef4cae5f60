"""Starting or joining Ray: a private local instance, or an existing cluster by address."""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import sys
from collections.abc import Iterator
from typing import Any

from study.errors import ClusterError
from trainables.config import short

log = logging.getLogger(__name__)

# Ray Tune's defaults cost about 3 s per trivial trial on 2 cores (ARCHITECTURE.md, Facts).
# These settings, with reuse_actors=True, bring tiny trials to a few hundredths of a
# second (BENCHMARKS.md). They must be set before Ray Tune reads them.
TUNE_ENV = {
    # The JSON and CSV result loggers stay (analysis rebuilds tables from them);
    # TensorBoard's, which costs time per result, is not added.
    "TUNE_DISABLE_AUTO_CALLBACK_LOGGERS": "1",
    # The old console reporter honours verbose=0; the new one prints regardless.
    "RAY_AIR_NEW_OUTPUT": "0",
    # No usage-stats prompt or upload from a study.
    "RAY_USAGE_STATS_ENABLED": "0",
}


def configure_env() -> None:
    for key, value in TUNE_ENV.items():
        os.environ.setdefault(key, value)


def _use_token_if_available() -> None:
    """Joining a cluster: use Ray's token authentication when a token is at hand.

    Ray 2.60 starts clusters with token authentication on, but a driver that joins
    by address stays in 'disabled' mode unless RAY_AUTH_MODE says otherwise, and is
    then refused. Ray's own helper switches this process to token mode when a token
    is available (RAY_AUTH_TOKEN, RAY_AUTH_TOKEN_PATH, ~/.ray/auth_token); an
    explicit RAY_AUTH_MODE wins.
    """
    try:
        from ray._private.authentication.authentication_token_setup import (
            maybe_enable_token_auth_if_token_available,
        )
    except ImportError:  # older Ray: no token authentication to configure
        return
    # Ray logs "Token authentication is enabled ... Set RAY_AUTH_MODE=disabled to opt
    # out" through its own handler, raw, into the study's output (issue 22): nothing
    # to act on there, and advice against the README's. Shown with --debug.
    said = logging.getLogger("ray._private.authentication")
    level = said.level
    said.setLevel(log_level())
    try:
        maybe_enable_token_auth_if_token_available(warn_if_disabled=False)
    finally:
        said.setLevel(level)


def log_level() -> int:
    """Ray's own log level: silent unless the study logger is at DEBUG (--debug).

    What Ray would log (a failing trial's traceback, say) is in the experiment
    folder: error.txt per trial, and the error_file column of trials.csv.
    """
    debug = logging.getLogger("study").isEnabledFor(logging.DEBUG)
    return logging.DEBUG if debug else logging.CRITICAL


def plugin_runtime_env() -> dict[str, Any] | None:
    """What a cluster's workers need to run the driver's own trainables: the variable
    $STUDY_HARNESS_TRAINABLES and the modules it names, and the module of a trainable
    named by import path (``module:function``), as Ray's ``py_modules`` (a
    package's folder, or a single ``.py`` file). The nodes need not have either; they
    still need the project and torch installed (README, "Clusters"). None without
    plugins."""
    import trainables

    names = trainables.plugin_modules()
    # A spec's own trainable named by import path (module:function), imported by now.
    imported = list(trainables.IMPORTED.values())
    if not names and not imported:
        return None
    modules = []
    for top in dict.fromkeys(name.split(".")[0] for name in [*names, *imported]):
        module = sys.modules.get(top)  # imported when trainables or the spec loaded
        if module is not None and getattr(module, "__file__", None):
            modules.append(module)
    env = {"env_vars": {trainables.PLUGINS_ENV: ",".join(names)}} if names else {}
    return {**env, "py_modules": modules}


# How long a cluster address may take to accept a TCP connection. Ray's own connect
# retries a missing GCS for minutes (measured: over 10 minutes of "Failed to connect
# to GCS" lines), so an address that nothing answers at is refused here first.
REACH_TIMEOUT_S = 5.0


ADDRESS_FORMS = "auto, HOST:PORT or ray://HOST:PORT, with a port from 1 to 65535"
# Set by Ray Jobs for the driver (ray job submit, KubeRay's RayJob).
JOB_CONFIG_ENV = "RAY_JOB_CONFIG_JSON_ENV_VAR"


def resolve_address(address: str | None) -> str | None:
    """The cluster to join: ``address``, else ``$RAY_ADDRESS`` (which Ray Jobs sets for
    the driver, issue 22: without it a job's study started a private Ray whose workers
    could not fetch the job's files), else None for a private local Ray."""
    if address:
        return address
    env = os.environ.get("RAY_ADDRESS", "").strip()
    if not env:
        return None
    if env.startswith(("http://", "https://")):
        raise ClusterError(
            f"RAY_ADDRESS={short(env)}: a job server's address (for 'ray job submit'), not "
            "a cluster's; set it to HOST:PORT (or auto), or unset it for a private local Ray"
        )
    log.info("joining the Ray cluster at %s (RAY_ADDRESS)", env)
    return env


def in_ray_job() -> bool:
    """Whether this process is the driver of a Ray Job."""
    return JOB_CONFIG_ENV in os.environ


def _host_port(address: str) -> tuple[str, int] | None:
    """The host and port an address names (``auto`` resolved as Ray resolves it); None
    for ``auto`` where no cluster is recorded on this machine (Ray says so at once).
    Anything else that names no host and port is a one-line ClusterError: Ray accepts
    some such addresses (a trailing space, port -1) and then retries for minutes."""
    target = address
    if address == "auto":
        try:
            from ray._private.services import canonicalize_bootstrap_address

            target = canonicalize_bootstrap_address("auto") or ""
        except Exception:  # no cluster recorded on this machine: Ray says so at once
            return None
    if target.startswith("ray://"):
        target = target[len("ray://") :]
    host, sep, port = target.rpartition(":")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    valid_host = bool(host) and all(c.isalnum() or c in ".-_:" for c in host)
    if not (sep and valid_host and port.isdigit() and port.isascii() and 0 < int(port) < 65536):
        raise ClusterError(f"--address {short(address)}: not an address; give {ADDRESS_FORMS}")
    return host, int(port)


def check_reachable(address: str) -> None:
    """A one-line ClusterError, within REACH_TIMEOUT_S, when nothing listens at the
    address; before Ray starts, so nothing is written."""
    target = _host_port(address)
    if target is None:
        return
    try:
        socket.create_connection(target, timeout=REACH_TIMEOUT_S).close()
    except OSError as exc:
        why = exc.strerror or type(exc).__name__.replace("Error", " error").lower()
        raise ClusterError(
            f"--address {short(address)}: no Ray cluster answers at {target[0]}:{target[1]} "
            f"({why}); start one with 'ray start --head', or leave out --address for a "
            "private local Ray"
        ) from None


def connect(address: str | None) -> bool:
    """Make sure Ray is up; True when this call started it (and so should stop it).

    Without an address a new local Ray starts, with no dashboard: a dashboard reachable
    from the network has been a remote-code-execution hole in Ray deployments. Ray
    2.60 binds its gRPC servers (GCS, raylet, workers) on every interface whatever
    the node IP (``_node_ip_address="127.0.0.1"`` is mapped back to the host's IP),
    so those ports rely on Ray's token authentication, on by default; once Ray is
    up, this asks Ray whether it is on and warns when it is not. With an address (``auto``,
    ``HOST:PORT`` or ``ray://...``) it joins that cluster.
    """
    import ray

    configure_env()
    if address and address != "auto":
        _host_port(address)  # a malformed address is one line, even where Ray is up
    if ray.is_initialized():
        return False
    if address:
        check_reachable(address)
        _use_token_if_available()
    from study.interrupts import deferred_sigint, raise_if_held

    try:
        with deferred_sigint() as held:
            _init(ray, address)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        where = f"the Ray cluster at {short(address)}" if address else "a local Ray instance"
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ClusterError(f"could not start or reach {where}: {first}") from None
    if held:  # a Ctrl-C while Ray started: stop it again, then let the interrupt through
        with deferred_sigint():
            ray.shutdown()
        raise_if_held(held)
    if not token_auth_on():
        log.warning(
            "Ray's token authentication is off: its ports accept unauthenticated "
            "connections from the network (README, 'Security model')"
        )
    return True


def _init(ray: Any, address: str | None) -> None:
    """ray.init: joining ``address``, or a new private local instance."""
    if address:
        ray.init(
            address=address,
            logging_level=log_level(),
            log_to_driver=False,
            # A Ray Job's driver has its job's runtime_env (its working_dir and env_vars
            # ship the user's modules and variables); Ray cannot add py_modules there
            # ("cannot pickle 'module' object", seen).
            runtime_env=None if in_ray_job() else plugin_runtime_env(),
        )
    else:
        ray.init(
            # "local": always a new instance. Without it ray.init() would join a
            # cluster started earlier with 'ray start' on this machine, if any.
            address="local",
            include_dashboard=False,
            logging_level=log_level(),
            log_to_driver=False,
        )


def token_auth_on() -> bool:
    """Whether this driver's Ray uses token authentication: asked of Ray itself, whatever
    RAY_AUTH_MODE is spelled (disabled, off, none, empty all turn it off)."""
    try:
        from ray._private.authentication.authentication_utils import is_token_auth_enabled
    except ImportError:  # a Ray without token authentication
        return False
    return bool(is_token_auth_enabled())


def cluster_gpus() -> float:
    import ray

    return float(ray.cluster_resources().get("GPU", 0.0))


def cluster_cpus() -> float:
    import ray

    return float(ray.cluster_resources().get("CPU", 0.0))


@contextlib.contextmanager
def session(address: str | None) -> Iterator[None]:
    """Ray up for the block; stopped afterwards only if this block started it."""
    owned = connect(address)
    try:
        yield
    finally:
        if owned:
            import ray

            from study.interrupts import deferred_sigint, raise_if_held

            with deferred_sigint() as held:
                ray.shutdown()
            raise_if_held(held)
