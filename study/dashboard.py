"""``study dashboard``: optuna-dashboard on an experiment folder's Optuna journal.

The server listens on 127.0.0.1 only: a study's configs and results are nobody
else's business. On a cluster head, reach it through an SSH tunnel
(``ssh -L 8080:127.0.0.1:8080 head``).

Listening on loopback is not enough (issue 21): optuna-dashboard checks no Host
header, so a web page whose DNS name is rebound to 127.0.0.1 could read the study,
and its API could delete it or end a running trial. So :func:`guarded`:

- answers 403 unless the Host header is ``127.0.0.1:PORT`` or ``localhost:PORT``
  (a rebound name arrives with its own name in Host);
- is read-only: any request but GET and HEAD is refused (403), one from another
  origin with a word saying so, and the journal is opened read-only besides, so
  nothing the dashboard does can write it.

There is no switch to make it writable: the journal is the record of what the
study ran and mirrors trials.csv, a note or a deletion from the dashboard would make
them disagree, and a ``tell`` would race the driver that owns a running trial.

optuna-dashboard is an optional extra (``pip install 'study-harness[dashboard]'``);
without it the command says so in one line. The journal is read as it grows, so
the dashboard of a running study is live. Optuna's WSGI app is served by the
standard library's wsgiref, quietly (no line per request).
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from experiment_folder import OPTUNA_FILE, SPEC_FILE, SUITE_FILE
from study import interrupts
from study.errors import StudyError
from study.records import journal

log = logging.getLogger(__name__)
HOST = "127.0.0.1"
DEFAULT_PORT = 8080
INSTALL_HINT = "study dashboard needs optuna-dashboard: pip install 'study-harness[dashboard]'"


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # no line per request
        pass

    def get_stderr(self) -> Any:
        """Where wsgiref writes a request's traceback: the debug log, not the terminal
        (a Ctrl-C during a request is one of them: wsgiref catches every exception)."""
        return _DebugLog()


class _DebugLog:
    def write(self, text: str) -> None:
        if text.strip():
            log.debug("%s", text.rstrip())

    def flush(self) -> None:
        pass


class _Server(WSGIServer):
    def service_actions(self) -> None:
        """Between requests: a Ctrl-C that came while a request was handled was caught
        by wsgiref with the request's other errors, and the server went on serving
        (CI saw `study dashboard` ignore a SIGINT). The command's handler flagged it:
        raised here, it stops the server."""
        interrupts.raise_if_swallowed()


def check_journal(folder: Path) -> Path:
    """The folder's journal, a regular file (not a link), or a one-line StudyError."""
    if not folder.is_dir():
        raise StudyError(f"{folder}: no such experiment folder")
    if (folder / SUITE_FILE).is_file() and not (folder / SPEC_FILE).is_file():
        studies = sorted(p.name for p in folder.iterdir() if (p / OPTUNA_FILE).is_file())
        raise StudyError(
            f"{folder} is a suite: give one of its studies"
            + (f" ({', '.join(studies)})" if studies else " (none has an Optuna journal)")
        )
    path = folder / OPTUNA_FILE
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        raise StudyError(
            f"{folder}: no {OPTUNA_FILE}; only studies searched by Optuna keep one "
            "(random and grid studies do not)"
        ) from None
    if not stat.S_ISREG(mode):
        raise StudyError(f"{path}: not a regular file (a link, say); not opened")
    return path


def make_app(folder: Path) -> Any:
    """optuna-dashboard's WSGI app on the folder's journal, read-only and guarded."""
    path = check_journal(folder)
    journal.check(path)  # a damaged record: one line, not a traceback later
    try:
        import optuna_dashboard
    except ImportError:
        raise StudyError(INSTALL_HINT) from None
    return guarded(optuna_dashboard.wsgi(journal.open_storage(folder, writable=False)))


READS = ("GET", "HEAD")


def guarded(app: Any) -> Any:
    """``app`` behind the Host and read-only rules (module docstring)."""

    def guard(environ: dict[str, Any], start_response: Any) -> Any:
        port = environ.get("SERVER_PORT", "")
        ours = {f"127.0.0.1:{port}", f"localhost:{port}"}
        if port == "80":
            ours |= {"127.0.0.1", "localhost"}
        host = str(environ.get("HTTP_HOST", "")).lower()
        if host not in ours:
            return _refuse(
                start_response,
                "unknown Host: this dashboard answers only to " + " or ".join(sorted(ours)),
            )
        if environ.get("REQUEST_METHOD") not in READS:
            origin = environ.get("HTTP_ORIGIN")
            if origin is not None and origin.lower() not in {f"http://{h}" for h in ours}:
                return _refuse(start_response, "cross-origin request refused")
            return _refuse(start_response, "this dashboard is read-only")
        return app(environ, start_response)

    return guard


def _refuse(start_response: Any, why: str) -> list[bytes]:
    body = (why + "\n").encode("utf-8")
    start_response(
        "403 Forbidden",
        [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body)))],
    )
    return [body]


def serve(folder: Path, port: int = DEFAULT_PORT) -> None:
    """Serve the dashboard on 127.0.0.1:``port`` until Ctrl-C."""
    if not 0 < port < 65536:
        raise StudyError(f"--port {port}: a port is 1 to 65535")
    app = make_app(folder)
    try:
        server = make_server(HOST, port, app, server_class=_Server, handler_class=_Quiet)
    except OSError as exc:
        raise StudyError(
            f"--port {port}: cannot listen on {HOST}:{port} ({exc.strerror}); "
            "choose another with --port"
        ) from None
    log.info(
        "optuna-dashboard for %s at http://%s:%d/dashboard/ (Ctrl-C stops it)",
        folder,
        HOST,
        server.server_port,
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        log.info("dashboard stopped")
    finally:
        server.server_close()
