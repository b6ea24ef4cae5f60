"""``study dashboard``: optuna-dashboard on a folder's journal, on 127.0.0.1 only.

The journal here is written by Optuna directly (no Ray); that a study writes it as
trials.csv says is checked by journal_check in the study tests."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import optuna
import pytest
from cli_inprocess import run_cli
from optuna.distributions import FloatDistribution

from experiment_folder import OPTUNA_FILE
from study.records import journal as optuna_storage

STUDY = str(Path(sys.executable).parent / "study")
LR = {"lr": FloatDistribution(1e-4, 1.0, log=True)}


def _trial(state: str, value: float | None, lr: float, trial_id: str) -> optuna.trial.FrozenTrial:
    return optuna.trial.create_trial(
        state=optuna.trial.TrialState[state],
        value=value,
        params={"lr": lr},
        distributions=LR,
        intermediate_values={1: 0.5, 2: 0.8} if state != "FAIL" else None,
        user_attrs={"trial_id": trial_id, "status": "completed", "reason": ""},
    )


@pytest.fixture
def journal_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "mlp"
    folder.mkdir()
    study = optuna.create_study(
        study_name="mlp", storage=optuna_storage.open_storage(folder), direction="maximize"
    )
    study.add_trial(_trial("COMPLETE", 0.9, 0.05, "aaa"))
    study.add_trial(_trial("PRUNED", None, 0.9, "bbb"))
    return folder


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(port: int, path: str) -> object:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
        return json.loads(response.read())


def _listening_addresses(port: int) -> set[str]:
    """Local addresses listening on ``port``, from /proc/net/tcp{,6} (hex, as the kernel has it)."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        if not os.path.exists(table):
            continue
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.split(":")
            if int(hex_port, 16) == port and state == "0A":  # LISTEN
                found.add(address)
    return found


def test_the_dashboard_serves_the_study_live_on_loopback_only(journal_folder):
    port = _free_port()
    proc = subprocess.Popen(
        [STUDY, "dashboard", str(journal_folder), "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        studies = None
        while studies is None and time.monotonic() < deadline:
            try:
                studies = _get(port, "/api/studies")
            except OSError:
                time.sleep(0.3)
        assert studies is not None, proc.stderr
        (summary,) = studies["study_summaries"]  # type: ignore[index]
        assert summary["study_name"] == "mlp" and summary["directions"] == ["maximize"]
        # 127.0.0.1, in the kernel's little-endian hex; never 0.0.0.0 or a public address.
        assert _listening_addresses(port) == {"0100007F"}

        # Live: a trial appended to the journal by the running study shows up.
        optuna.load_study(
            study_name="mlp", storage=optuna_storage.open_storage(journal_folder)
        ).add_trial(_trial("COMPLETE", 0.0, 1e-3, "ccc"))
        detail = _get(port, f"/api/studies/{summary['study_id']}")
        trials = {
            {a["key"]: a["value"] for a in t["user_attrs"]}["trial_id"]: t
            for t in detail["trials"]  # type: ignore[index]
        }
        assert set(trials) == {"aaa", "bbb", "ccc"}
        assert trials["aaa"]["state"] == "Complete" and trials["aaa"]["values"] == [0.9]
        assert trials["bbb"]["state"] == "Pruned"
        assert [v["value"] for v in trials["aaa"]["intermediate_values"]] == [0.5, 0.8]
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert f"http://127.0.0.1:{port}/dashboard/" in out
    assert "Traceback" not in err


def test_without_the_extra_one_line_says_how_to_install_it(journal_folder, monkeypatch):
    monkeypatch.setitem(sys.modules, "optuna_dashboard", None)  # import fails as if absent
    code, _, err = run_cli(["dashboard", str(journal_folder)])
    assert code == 2
    assert err == "error: study dashboard needs optuna-dashboard: " + (
        "pip install 'study-harness[dashboard]'\n"
    )


def test_a_study_without_a_journal_says_which_studies_keep_one(tmp_path):
    (tmp_path / "grid").mkdir()
    code, _, err = run_cli(["dashboard", str(tmp_path / "grid")])
    assert code == 2 and err.count("\n") == 1
    assert "no optuna.journal; only studies searched by Optuna keep one" in err


def test_a_journal_that_is_a_link_is_not_opened(tmp_path, journal_folder):
    other = tmp_path / "other"
    other.mkdir()
    (other / OPTUNA_FILE).symlink_to(journal_folder / OPTUNA_FILE)
    code, _, err = run_cli(["dashboard", str(other)])
    assert code == 2 and "not a regular file (a link, say); not opened" in err


def test_a_busy_port_or_a_bad_one_is_one_line(journal_folder):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        code, _, err = run_cli(["dashboard", str(journal_folder), "--port", str(port)])
    assert code == 2 and f"--port {port}: cannot listen on 127.0.0.1:{port}" in err
    code, _, err = run_cli(["dashboard", str(journal_folder), "--port", "70000"])
    assert code == 2 and err == "error: --port 70000: a port is 1 to 65535\n"


def test_a_ctrl_c_during_a_request_stops_the_dashboard(journal_folder, monkeypatch, capfd):
    """wsgiref catches every exception a request raises, a KeyboardInterrupt too: a
    Ctrl-C that came while a request was handled was swallowed and the server went on
    (CI saw `study dashboard` ignore its SIGINT). Here the Ctrl-C comes inside a request,
    every time: serve must return, with no traceback on the terminal."""
    import threading

    from study import dashboard, interrupts

    def app(environ, start_response):
        os.kill(os.getpid(), signal.SIGINT)  # the user's Ctrl-C, while this request runs
        for _ in range(100):  # the handler raises at the next bytecode: here
            time.sleep(0.01)
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]

    monkeypatch.setattr(dashboard, "make_app", lambda folder: app)
    port = _free_port()
    backstop = threading.Event()

    def client() -> None:
        for _ in range(300):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5).read()
                break
            except OSError:
                time.sleep(0.1)
        # Were the first Ctrl-C lost, a second one, much later, ends the server anyway,
        # and the assertion below says so instead of the test hanging.
        if not stopped.wait(60):
            backstop.set()
            os.kill(os.getpid(), signal.SIGINT)

    stopped = threading.Event()
    thread = threading.Thread(target=client, daemon=True)
    thread.start()
    with interrupts.sigint_guard():
        dashboard.serve(journal_folder, port)
    stopped.set()
    thread.join(10)
    assert not backstop.is_set(), "the Ctrl-C during the request was swallowed"
    assert "Traceback" not in capfd.readouterr().err
