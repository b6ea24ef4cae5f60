"""Hardening, round two (issue 21): each hole an independent attack found, as a test that
failed before its fix. Ray is replaced by a stand-in that refuses to start (as in
test_hardening), so each refusal is shown to come before Ray; the tests that need a
real study are in test_hardening_two_ray.py."""

from __future__ import annotations

import csv
import errno
import io
import json
import os
import pickle
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pandas as pd
import pytest
import yaml
from cli_inprocess import run_cli
from folders import small_experiment
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from optuna.distributions import FloatDistribution

import analysis
from experiment_folder import LOCK_FILE, csv_bytes, unescape_csv
from study import records
from study.errors import DiskFull, StudyError
from study.execution import cluster
from study.records import journal as optuna_storage
from study.records import ledger
from study.run import start as runner
from study.storage import lock as folder_lock
from study.storage.trust import check_owned

REACHED_RAY = "REACHED RAY"
REAL_CONNECT = cluster.connect
ROOT = os.geteuid() == 0


@pytest.fixture(autouse=True)
def no_ray(monkeypatch):
    def refuse(address):
        raise cluster.ClusterError(REACHED_RAY)

    monkeypatch.setattr(cluster, "connect", refuse)


class Payload:
    """Unpickling it creates ``marker``: the planted code of the attack."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _finished_study(folder: Path) -> Path:
    """A study folder as a finished run leaves it, Ray's state included in outline."""
    folder.mkdir(parents=True)
    spec = {
        "name": folder.name,
        "trainable": "linear_w",
        "metric": "loss",
        "mode": "min",
        "run": {"resources": {"cpu": 1.0, "gpu": 0.0}, "interrupted": False},
    }
    (folder / "spec.yaml").write_text(yaml.safe_dump(spec))
    (folder / "trials.csv").write_text("trial_id,status\nt0,completed\n")
    (folder / "tuner.pkl").write_bytes(pickle.dumps(None))
    (folder / "t0").mkdir()
    return folder


def _plant(folder: Path, where: str, marker: Path) -> Path:
    """A payload in one of the files Ray reads on restore."""
    blob = pickle.dumps(Payload(marker)).hex()
    fallback = {"_type": "CLOUDPICKLE_FALLBACK", "value": blob}
    state = json.dumps({"trial_data": [], "runner_data": fallback})
    if where == "experiment_state":
        path = folder / "experiment_state-2026-01-01_00-00-00.json"
        path.write_text(state)
    elif where == "backup":
        (folder / ".study-state").mkdir()
        path = folder / ".study-state" / "experiment_state-2026-01-01_00-00-00.json"
        path.write_text(state)
    else:  # a trial's pickled error
        path = folder / "t0" / "error.pkl"
        path.write_bytes(pickle.dumps(Payload(marker)))
    return path


# --- 1. no code from a state file the trust check never looked at -------------------


@pytest.mark.parametrize("where", ["experiment_state", "backup", "error_pkl"])
@pytest.mark.parametrize("how", ["world_writable", "foreign_owner"])
def test_resume_runs_no_code_from_a_state_file_it_cannot_vouch_for(tmp_path, where, how):
    if how == "foreign_owner" and not ROOT:
        pytest.skip("giving a file to another user needs root")
    folder = _finished_study(tmp_path / "s")
    marker = tmp_path / "PAYLOAD_RAN"
    planted = _plant(folder, where, marker)
    if how == "world_writable":
        os.chmod(planted, 0o666)
    else:
        os.chown(planted, 65534, 65534)  # nobody
    code, _, err = run_cli(["resume", str(folder)])
    assert not marker.exists()
    assert code == 2 and err.count("\n") == 1 and planted.name in err, err
    assert REACHED_RAY not in err
    assert ("anyone may write it" if how == "world_writable" else "owned by uid 65534") in err


def test_the_payload_would_run_if_read(tmp_path):
    """The planted state is a real attack: Ray's own reader runs it (so the refusal above
    is what keeps it from running)."""
    from ray.tune.utils.serialization import TuneFunctionDecoder

    folder = _finished_study(tmp_path / "s")
    marker = tmp_path / "PAYLOAD_RAN"
    path = _plant(folder, "experiment_state", marker)
    json.loads(path.read_text(), cls=TuneFunctionDecoder, allow_cloudpickle=True)
    assert marker.exists()


def test_a_link_or_a_fifo_anywhere_in_the_folder_is_refused(tmp_path):
    folder = _finished_study(tmp_path / "s")
    (folder / "t0" / "checkpoint_000001").mkdir()
    link = folder / "t0" / "checkpoint_000001" / "model.pt"
    link.symlink_to(tmp_path / "elsewhere.pt")
    with pytest.raises(StudyError, match=r"model.pt: a link, not a regular file"):
        check_owned(folder)
    link.unlink()
    os.mkfifo(link)
    with pytest.raises(StudyError, match=r"model.pt: a special file"):
        check_owned(folder)
    link.unlink()
    check_owned(folder)  # a clean folder passes


# --- 2. the dashboard: Host, Origin, read-only --------------------------------------


def _journal(folder: Path, trials: int = 2) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    study = optuna.create_study(
        study_name=folder.name, storage=optuna_storage.open_storage(folder), direction="maximize"
    )
    for i in range(trials):
        study.add_trial(
            optuna.trial.create_trial(
                params={"lr": 0.01 * (i + 1)},
                distributions={"lr": FloatDistribution(1e-4, 1.0, log=True)},
                value=0.5 + i / 100,
                user_attrs={"trial_id": f"t{i}", "status": "completed"},
            )
        )
    return folder / "optuna.journal"


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _request(port: int, method: str, path: str, host: str, origin: str | None = None):
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    headers = {"Host": host}
    if origin is not None:
        headers["Origin"] = origin
    body = b"{}" if method in ("POST", "PUT") else None
    if body is not None:
        headers["Content-Type"] = "application/json"
    conn.request(method, path, body=body, headers=headers)
    response = conn.getresponse()
    data = response.read()
    conn.close()
    return response.status, data


def test_the_dashboard_answers_only_its_own_host_and_writes_nothing(tmp_path):
    folder = tmp_path / "mlp"
    journal = _journal(folder)
    before = journal.read_bytes()
    port = _free_port()
    study = str(Path(sys.executable).parent / "study")
    proc = subprocess.Popen(
        [study, "dashboard", str(folder), "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    own = f"127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                status, _ = _request(port, "GET", "/api/studies", own)
                break
            except OSError:
                assert time.monotonic() < deadline, proc.stderr
                time.sleep(0.3)
        assert status == 200
        assert _request(port, "GET", "/api/studies", f"localhost:{port}")[0] == 200
        # DNS rebinding: the attacker's name arrives in Host.
        status, body = _request(port, "GET", "/api/studies", f"rebind.attacker.example:{port}")
        assert status == 403 and b"answers only to" in body
        assert _request(port, "GET", "/api/studies", "127.0.0.1")[0] == 403  # wrong port
        status, body = _request(port, "DELETE", "/api/studies/0", f"rebind.example:{port}")
        assert status == 403
        # Its own host, but from another origin: a page that posts to it.
        status, body = _request(port, "DELETE", "/api/studies/0", own, "http://evil.example")
        assert status == 403 and b"cross-origin" in body
        # Its own host and origin: still read-only.
        for method, path in [
            ("DELETE", "/api/studies/0"),
            ("POST", "/api/trials/0/tell"),
            ("PUT", "/api/studies/0/note"),
            ("POST", "/api/trials/0/user-attrs"),
            ("POST", "/api/studies"),
        ]:
            status, body = _request(port, method, path, own, f"http://{own}")
            assert status == 403 and b"read-only" in body, (method, path)
        assert _request(port, "GET", "/api/studies", own)[0] == 200
    finally:
        proc.terminate()
        proc.communicate(timeout=30)
    assert journal.read_bytes() == before
    assert (
        len(optuna.load_study(study_name="mlp", storage=optuna_storage.open_storage(folder)).trials)
        == 2
    )


def test_the_dashboards_storage_refuses_writes(tmp_path):
    folder = tmp_path / "mlp"
    journal = _journal(folder)
    before = journal.read_bytes()
    storage = optuna_storage.open_storage(folder, writable=False)
    study = optuna.load_study(study_name="mlp", storage=storage)
    with pytest.raises(StudyError, match="opened read-only"):
        study.add_trial(study.trials[0])
    with pytest.raises(StudyError, match="opened read-only"):
        optuna.delete_study(study_name="mlp", storage=storage)
    assert journal.read_bytes() == before


# --- 3. a torn or damaged journal -----------------------------------------------------


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(cut=st.floats(0.0, 1.0, exclude_max=True))
def test_a_torn_journal_is_cut_back_to_its_last_whole_record(tmp_path_factory, cut):
    folder = tmp_path_factory.mktemp("torn") / "mlp"
    journal = _journal(folder, trials=3)
    whole = journal.read_bytes()
    at = int(len(whole) * cut)
    if at < len(whole) and whole[at - 1 : at] == b"\n":
        at += 1  # a cut right after a newline leaves whole records: nothing to repair
    journal.write_bytes(whole[:at])
    repaired = optuna_storage.repair_tail(folder)
    kept = journal.read_bytes()
    assert whole.startswith(kept) and (kept == b"" or kept.endswith(b"\n"))
    torn = list(folder.glob("optuna.journal.torn-*"))
    if repaired:
        assert kept + torn[0].read_bytes() == whole[:at]
    else:
        assert kept == whole[:at] and not torn
    # Optuna reads it and appends to it again, and then reads that too.
    storage = optuna_storage.open_storage(folder)
    if kept:
        study = optuna.load_study(study_name="mlp", storage=storage)
        study.add_trial(study.trials[0]) if study.trials else study.ask()
        optuna.load_study(study_name="mlp", storage=optuna_storage.open_storage(folder))
    assert optuna_storage.check(journal) is None


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(where=st.floats(0.0, 1.0), junk=st.sampled_from([b"\x00", b"{", b"}", b"\xff", b"\n"]))
def test_a_damaged_record_before_the_last_is_one_line_and_changes_nothing(
    tmp_path_factory, where, junk
):
    folder = tmp_path_factory.mktemp("bad") / "mlp"
    journal = _journal(folder, trials=3)
    whole = journal.read_bytes()
    last_line = whole.rstrip(b"\n").rfind(b"\n")  # damage before the last record
    at = min(int(last_line * where), last_line - 2)
    damaged = whole[:at] + junk + whole[at + 1 :]
    journal.write_bytes(damaged)
    lines = damaged.splitlines(keepends=True)
    if all(optuna_storage._whole_record(line) for line in lines[:-1]):
        return  # the junk left every record whole (a newline between records, say)
    with pytest.raises(StudyError, match=r"record [\d,]+ of [\d,]+ is damaged"):
        optuna_storage.repair_tail(folder)
    assert journal.read_bytes() == damaged


def test_resume_of_a_study_with_a_damaged_journal_is_one_line_before_ray(tmp_path):
    folder = _finished_study(tmp_path / "s")
    records.add_wall_time(folder, 1.0, interrupted=True)
    journal = _journal(folder, trials=3)
    lines = journal.read_bytes().splitlines(keepends=True)
    lines[1] = lines[1][:10] + lines[1][11:]
    journal.write_bytes(b"".join(lines))
    trials_before = (folder / "trials.csv").read_bytes()
    code, _, err = run_cli(["resume", str(folder)])
    assert code == 2 and err.count("\n") == 1 and "record 2 of" in err and REACHED_RAY not in err
    assert (folder / "trials.csv").read_bytes() == trials_before
    assert journal.read_bytes() == b"".join(lines)


def test_the_dashboard_on_a_damaged_journal_is_one_line(tmp_path):
    folder = tmp_path / "mlp"
    journal = _journal(folder, trials=3)
    lines = journal.read_bytes().splitlines(keepends=True)
    journal.write_bytes(lines[0] + b"garbage\n" + b"".join(lines[1:]))
    code, _, err = run_cli(["dashboard", str(folder), "--port", str(_free_port())])
    assert code == 2 and err.count("\n") == 1 and "record 2 of" in err


def test_no_table_has_fewer_trials_than_the_ledger(tmp_path):
    """Ray's state lost every trial (a resume from a damaged state): trials.csv still has
    each trial the ledger holds, with its result and its epochs."""
    from study.specs import build_spec

    folder = tmp_path / "s"
    (folder / "lin_t1").mkdir(parents=True)
    epochs = [
        {"epoch": e, "loss": 1.0 / e, "objective": 1.0 / e, "training_iteration": e}
        for e in (1, 2, 3)
    ]
    (folder / "lin_t1" / "result.json").write_text("\n".join(json.dumps(r) for r in epochs))
    last = {**epochs[-1], "status": "completed", "trial_id": "t1"}
    ledger.record(folder, "t1", "TERMINATED", last, "lin_t1")
    ledger.record(folder, "t2", "ERROR", {"trial_id": "t2"}, "lin_t2")
    # Its result.json lost as well (the disk was full): its last epoch, as the ledger has it.
    lost = {"epoch": 5, "loss": 0.1, "objective": 0.1, "status": "completed"}
    ledger.record(folder, "t3", "TERMINATED", {**lost, "training_iteration": 5}, "lin_t3")
    spec = build_spec({"trainable": "linear_w", "metric": "loss", "mode": "min"})
    trials, history = records.build_tables([], spec, {}, ledger.read(folder), [], {}, folder)
    by_id = trials.set_index("trial_id")
    assert set(by_id.index) == {"t1", "t2", "t3"}
    assert by_id.loc["t3", "epochs"] == 5 and by_id.loc["t3", "loss"] == 0.1
    assert by_id.loc["t1", "status"] == "completed" and by_id.loc["t1", "epochs"] == 3
    assert by_id.loc["t1", "loss"] == pytest.approx(1 / 3)
    assert by_id.loc["t2", "status"] == "error"
    assert list(history["epoch"]) == [1, 2, 3, 5]


# --- 4. one writer per folder ---------------------------------------------------------


def test_a_second_command_on_a_locked_folder_names_the_first(tmp_path):
    folder = _finished_study(tmp_path / "s")
    records.add_wall_time(folder, 1.0, interrupted=True)
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from pathlib import Path\n"
            "from study.storage import lock as folder_lock\n"
            "with folder_lock.hold(Path(sys.argv[1])):\n"
            "    print('held', flush=True); time.sleep(60)",
            str(folder),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        code, _, err = run_cli(["resume", str(folder)])
        assert code == 2 and err.count("\n") == 1, err
        assert f"another study command (pid {holder.pid}) is running" in err
        assert REACHED_RAY not in err
    finally:
        holder.kill()
        holder.wait()
    code, _, err = run_cli(["resume", str(folder)])  # the lock died with its holder
    assert REACHED_RAY in err


def test_two_runs_of_one_name_at_once_get_two_folders(tmp_path):
    with runner.claimed(tmp_path, "same") as first, runner.claimed(tmp_path, "same") as second:
        assert first == tmp_path / "same" and second == tmp_path / "same-2"
        assert (first / LOCK_FILE).is_file()
    with runner.claimed(tmp_path, "same") as third:  # lock file only: not a study
        assert third == tmp_path / "same-3"


def test_the_lock_is_never_taken_through_a_link(tmp_path):
    folder = tmp_path / "s"
    folder.mkdir()
    (folder / LOCK_FILE).symlink_to(tmp_path / "victim")
    with pytest.raises(StudyError, match="a link; not opened"), folder_lock.hold(folder):
        pass
    assert not (tmp_path / "victim").exists()


# --- 5. CSV formula injection ---------------------------------------------------------

FORMULAS = ['=HYPERLINK("http://x")', "+1+2", "-2+3", "@SUM(A1)", "\tcmd", "\r=x", "'=quoted"]


@pytest.mark.parametrize("text", FORMULAS)
def test_a_formula_is_escaped_where_tables_are_written_and_read_back_as_it_was(text):
    frame = pd.DataFrame({"trial_id": [text, "plain"], "value": [-1.5, 2.0], "n": [-3, 4]})
    raw = csv_bytes(frame)
    first = list(csv.reader(io.StringIO(raw.decode(), newline="")))[1]
    assert first[0] == "'" + text and first[1:] == ["-1.5", "-3"]  # numbers stay numbers
    back = unescape_csv(pd.read_csv(io.BytesIO(raw)))
    assert back["trial_id"].tolist() == [text, "plain"]
    assert back["value"].tolist() == [-1.5, 2.0] and back["n"].tolist() == [-3, 4]


def test_numbers_written_as_text_stay_numbers():
    raw = csv_bytes(pd.DataFrame({"x": ["-1", "-2.5e-3", "+4", "-inf"]})).decode()
    assert raw.splitlines()[1:] == ["-1", "-2.5e-3", "+4", "-inf"]


def test_analyze_of_a_crafted_folder_writes_no_formula_into_the_reports_csvs(tmp_path):
    folder = small_experiment(tmp_path / "crafted")
    trials = pd.read_csv(folder / "trials.csv")
    trials["trial_id"] = ["=cmd|' /C calc'!A0", "+t1", "@t2", "-t3"]
    (folder / "trials.csv").write_text(trials.to_csv(index=False))
    history = pd.read_csv(folder / "history.csv")
    history["trial_id"] = history["trial_id"].map(
        dict(zip(["t0", "t1", "t2", "t3"], trials["trial_id"]))
    )
    (folder / "history.csv").write_text(history.to_csv(index=False))
    code, _, err = run_cli(["analyze", str(folder)])
    assert code == 0, err
    csvs = list((folder / "report").glob("*.csv"))
    assert csvs
    for path in csvs:
        for row in pd.read_csv(path, dtype=str, keep_default_na=False).itertuples(index=False):
            for cell in row:
                assert not cell.startswith(("=", "+", "@", "\t", "\r")), (path.name, cell)
                assert not (cell.startswith("-") and not _number(cell)), (path.name, cell)
    # The harness itself reads its own tables back as they were.
    assert set(analysis.load(folder).trials["trial_id"]) == set(trials["trial_id"])


def _number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def test_a_variant_named_like_a_formula_is_escaped_in_trials_csv(tmp_path):
    from study.specs import build_spec

    spec = build_spec({"trainable": "linear_w", "metric": "loss", "mode": "min"})
    row = records.invalid_row({"trial_id": "t0", "params": {"variant": "=1+1"}}, spec)
    records.write_tables(tmp_path, pd.DataFrame([row]), pd.DataFrame())
    text = (tmp_path / "trials.csv").read_text()
    assert "'=1+1" in text and ",=1+1" not in text


# --- 6. a full disk ---------------------------------------------------------------------


def test_the_full_disk_line_says_what_survived_and_how_to_finish(tmp_path):
    """The message the runner raises where a table or Ray's state could not be written
    (test_hardening_two_ray runs a study into a full tmpfs)."""
    text = str(DiskFull("trials.csv", tmp_path, 4))
    assert text.startswith("no space left on device while writing trials.csv; ")
    assert f"what was written so far is in {tmp_path}" in text
    assert "finished.jsonl holds 4 finished trial(s)" in text
    assert text.endswith(f"free some space, then: study resume {tmp_path}")
    assert "\n" not in text


def test_an_enospc_anywhere_is_exit_1_and_one_line(tmp_path, monkeypatch):
    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", "spec.yaml")

    monkeypatch.setattr(runner, "run_study", full)
    code, _, err = run_cli(["run", "quickstart", "--storage", str(tmp_path)])
    assert code == 1 and err == "error: no space left on device while writing spec.yaml\n"


# --- 7. addresses that Ray accepts and then hangs on -------------------------------------


@pytest.mark.parametrize("address", ["127.0.0.1:6405 ", "127.0.0.1:-1", "host", "h:0", "h:99999"])
def test_a_malformed_address_is_one_line_at_once(tmp_path, monkeypatch, address):
    monkeypatch.setattr(cluster, "connect", REAL_CONNECT)  # refuses before any Ray call
    where = ["--storage", str(tmp_path), "--address", address]
    code, _, err = run_cli(["run", "lr-divergence", *where])
    # Refused by its form, before any connection is tried (Ray's would retry for minutes).
    assert code == 2 and err.count("\n") == 1 and "not an address" in err, err
    assert "HOST:PORT" in err
    assert not any(tmp_path.iterdir())  # nothing written


# --- 8. environment problems are one line ------------------------------------------------


def test_resume_of_a_folder_it_cannot_write_is_one_line(tmp_path):
    folder = _finished_study(tmp_path / "s")
    records.add_wall_time(folder, 1.0, interrupted=True)
    if ROOT:
        subprocess.run(["mount", "-o", "bind,ro", str(folder), str(folder)], check=True)
    else:
        os.chmod(folder, 0o555)
    try:
        code, _, err = run_cli(["resume", str(folder)])
    finally:
        if ROOT:
            subprocess.run(["umount", str(folder)], check=True)
        else:
            os.chmod(folder, 0o755)
    assert code == 2 and err.count("\n") == 1 and "cannot write there" in err, err
    assert REACHED_RAY not in err


def test_run_into_a_storage_it_cannot_write_is_one_line(tmp_path, monkeypatch):
    storage = tmp_path / "ro"
    storage.mkdir()
    monkeypatch.setattr(cluster, "session", _no_session)
    if ROOT:
        subprocess.run(["mount", "-o", "bind,ro", str(storage), str(storage)], check=True)
    else:
        os.chmod(storage, 0o555)
    try:
        code, _, err = run_cli(["run", "lr-divergence", "--storage", str(storage)])
    finally:
        if ROOT:
            subprocess.run(["umount", str(storage)], check=True)
        else:
            os.chmod(storage, 0o755)
    assert code == 2 and err.count("\n") == 1, err
    assert f"--storage {storage}: cannot create lr-divergence there" in err


class _no_session:
    def __init__(self, address):
        pass

    def __enter__(self):
        return None

    def __exit__(self, *exc):
        return False


def test_a_ledger_line_nested_thousands_deep_is_skipped(tmp_path):
    deep = "[" * 100_000 + "]" * 100_000
    nested = {"a": 1}
    for _ in range(500):
        nested = {"a": nested}
    (tmp_path / "finished.jsonl").write_text(
        '{"trial_id": "x", "result": '
        + deep
        + "}\n"
        + json.dumps(
            {"trial_id": "y", "ray_status": "TERMINATED", "result": {"loss": 1.0, "deep": nested}}
        )
        + "\n"
    )
    found = ledger.read(tmp_path)
    assert set(found) == {"y"} and found["y"]["result"] == {"loss": 1.0}


def test_ctrl_c_during_analyze_says_what_analyze_left(tmp_path, monkeypatch):
    folder = small_experiment(tmp_path / "e")

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(analysis, "write_report", interrupted)
    code, _, err = run_cli(["analyze", str(folder)])
    assert code == 130 and err.count("\n") == 1
    assert "run" not in err.split(";")[0] and "before any study started" not in err
    assert f"write it with: study analyze {folder}" in err


# --- 6b. resume runs no trial again that the ledger holds as ended ----------------------


def _ray_state(folder: Path, statuses: dict[str, str]) -> Path:
    """An experiment_state file in Ray 2.60's layout: trial_data holds [state, metadata]
    pairs of JSON text, and the state a CLOUDPICKLE_FALLBACK field that must survive."""
    fallback = {"_type": "CLOUDPICKLE_FALLBACK", "value": "80044e2e"}
    trials = [
        [json.dumps({"trial_id": tid, "status": st, "stopper": fallback}, indent=2), "{}"]
        for tid, st in statuses.items()
    ]
    path = folder / "experiment_state-2026-01-01_00-00-00.json"
    path.write_text(json.dumps({"trial_data": trials, "runner_data": {}, "stats": {}}))
    return path


def test_trials_the_ledger_holds_as_ended_are_marked_ended_in_rays_state(tmp_path):
    path = _ray_state(tmp_path, {"a": "RUNNING", "b": "PENDING", "c": "TERMINATED", "d": "PENDING"})
    ledger.record(tmp_path, "a", "TERMINATED", {"loss": 1.0})
    ledger.record(tmp_path, "b", "ERROR", {})
    ledger.record(tmp_path, "c", "TERMINATED", {"loss": 2.0})
    assert ledger.mark_finished(tmp_path) == ["a", "b"]
    trials = {
        json.loads(item[0])["trial_id"]: json.loads(item[0])
        for item in json.loads(path.read_text())["trial_data"]
    }
    assert {tid: t["status"] for tid, t in trials.items()} == {
        "a": "TERMINATED",
        "b": "ERROR",
        "c": "TERMINATED",
        "d": "PENDING",  # not ended: Ray runs it
    }
    assert trials["a"]["stopper"] == {"_type": "CLOUDPICKLE_FALLBACK", "value": "80044e2e"}
    assert ledger.mark_finished(tmp_path) == []  # nothing left to mark


def test_the_restored_limiter_and_searcher_count_what_the_ledger_holds(tmp_path, monkeypatch):
    from ray.tune.search import Searcher

    from study.search import optuna_search

    for tid in ("a", "b", "c"):
        ledger.record(tmp_path, tid, "TERMINATED", {"loss": 1.0})
    limiter = optuna_search.HarnessLimiter.__new__(optuna_search.HarnessLimiter)
    monkeypatch.setattr(ledger, "_restoring_into", tmp_path)
    limiter.set_state({"live_trials": {"a", "x"}, "num_unfinished_live_trials": 2})
    assert limiter.live_trials == {"x"} and limiter.num_unfinished_live_trials == 1

    searcher = optuna_search.HarnessOptunaSearch.__new__(optuna_search.HarnessOptunaSearch)
    searcher.total, searcher.ledger_ids = 5, set(ledger.read(tmp_path))
    searcher._ot_trials = {"a": None, "x": None}  # what Ray's older state knew
    assert not searcher._all_asked()  # a, b, c and x: one of 5 still to ask for
    searcher.total = 4
    assert searcher._all_asked()
    assert searcher.suggest("new") == Searcher.FINISHED  # no trial in place of b or c
