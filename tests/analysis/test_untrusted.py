"""Experiment folders handed to ``study analyze`` / ``study compare`` are untrusted.

Planted links, special files and oversized values: the report is never written
through a link, only regular files inside the folder are read, and every bad
input ends in a report or in one line with exit code 2.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import yaml
from bad_inputs import alias_bomb
from cli_inprocess import files, run_cli
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analysis import files as safe_files

SPEC = {
    "name": "lr",
    "trainable": "linear_w",
    "metric": "loss",
    "mode": "min",
    "space": {"lr": {"loguniform": [1e-4, 1.0]}},
}


def _experiment(folder: Path, name: str = "lr") -> Path:
    """Three linear_w trials with tables and Ray's trial folders."""
    folder.mkdir(parents=True)
    (folder / "spec.yaml").write_text(yaml.safe_dump({**SPEC, "name": name}))
    trials = ["trial_id,status,config/lr,loss,objective,best/objective,epochs"]
    history = ["trial_id,epoch,loss,objective,status,iteration"]
    for i, lr in enumerate((0.001, 0.01, 0.1)):
        trials.append(f"t{i},completed,{lr},{lr / 3},{lr / 3},{lr / 3},3")
        rows = []
        for e in (1, 2, 3):
            history.append(f"t{i},{e},{lr / e},{lr / e},{'completed' if e == 3 else 'running'},{e}")
            rows.append({"trial_id": f"t{i}", "epoch": e, "loss": lr / e, "status": "completed"})
        trial = folder / f"run_trial_t{i}"
        trial.mkdir()
        (trial / "params.json").write_text(json.dumps({"lr": lr}))
        (trial / "result.json").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (folder / "trials.csv").write_text("\n".join(trials) + "\n")
    (folder / "history.csv").write_text("\n".join(history) + "\n")
    return folder


@pytest.fixture
def outside(tmp_path):
    """A file outside the experiment folder that nothing may read or overwrite."""
    path = tmp_path / "outside" / "secret.txt"
    path.parent.mkdir()
    path.write_text("SECRET-CONTENT\n")
    return path


def test_a_report_folder_that_is_a_link_is_replaced_not_written_through(tmp_path, outside):
    folder = _experiment(tmp_path / "exp")
    (folder / "report").symlink_to(outside.parent, target_is_directory=True)
    code, _, err = run_cli(["analyze", str(folder)])
    assert code == 0, err
    assert not (folder / "report").is_symlink()
    assert (folder / "report" / "index.html").is_file()
    assert sorted(p.name for p in outside.parent.iterdir()) == ["secret.txt"]
    assert outside.read_text() == "SECRET-CONTENT\n"


def test_a_file_in_the_report_that_is_a_link_is_never_written_through(tmp_path, outside):
    folder = _experiment(tmp_path / "exp")
    (folder / "report").mkdir()
    (folder / "report" / "index.html").symlink_to(outside)
    (folder / "report" / "report.md").symlink_to(tmp_path / "outside" / "new.md")
    code, _, err = run_cli(["analyze", str(folder)])
    assert code == 0, err
    assert outside.read_text() == "SECRET-CONTENT\n"
    assert not (tmp_path / "outside" / "new.md").exists()
    assert not (folder / "report" / "index.html").is_symlink()


def test_out_never_writes_through_a_link_nor_wipes_a_users_folder(tmp_path, outside):
    folder = _experiment(tmp_path / "exp")
    link = tmp_path / "out-link"
    link.symlink_to(outside.parent, target_is_directory=True)
    code, _, err = run_cli(["analyze", str(folder), "--out", str(link)])
    assert code == 0, err
    assert outside.read_text() == "SECRET-CONTENT\n" and not link.is_symlink()
    mine = tmp_path / "documents"
    mine.mkdir()
    (mine / "thesis.tex").write_text("mine")
    code, _, err = run_cli(["analyze", str(folder), "--out", str(mine)])
    assert code == 2 and err.count("\n") == 1 and "holds more than a report" in err
    assert (mine / "thesis.tex").read_text() == "mine"


def test_a_second_report_leaves_nothing_of_the_first_behind(tmp_path):
    folder = _experiment(tmp_path / "exp")
    assert run_cli(["analyze", str(folder)])[0] == 0
    assert (folder / "report" / "index.html").exists()
    assert run_cli(["analyze", str(folder), "--format", "md"])[0] == 0
    assert not (folder / "report" / "index.html").exists()
    assert (folder / "report" / "report.md").exists()
    leftovers = [p.name for p in folder.iterdir() if p.name.startswith(".report")]
    assert not leftovers


def test_linked_and_special_files_are_skipped_with_a_warning(tmp_path, outside):
    folder = _experiment(tmp_path / "exp")
    (folder / "trials.csv").unlink()  # rebuild from Ray's files
    params = folder / "run_trial_t0" / "params.json"
    params.unlink()
    params.symlink_to(outside)
    (folder / "run_trial_t1" / "result.json").unlink()
    os.mkfifo(folder / "run_trial_t1" / "result.json")
    (folder / "run_trial_t2" / "error.txt").symlink_to("/dev/zero")
    (folder / "run_trial_linked").symlink_to(outside.parent, target_is_directory=True)
    done: list[tuple[int, str, str]] = []
    worker = threading.Thread(target=lambda: done.append(run_cli(["analyze", str(folder)])))
    worker.start()
    worker.join(timeout=60)
    assert done, "analyze hung on a FIFO or /dev/zero"
    code, out, err = done[0]
    assert code == 0, err
    page = (folder / "report" / "index.html").read_text()
    assert "SECRET-CONTENT" not in page
    assert "params.json: a link; skipped" in out
    assert "result.json: not a regular file; skipped" in out
    assert "error.txt: a link; skipped" in out


def test_a_file_above_the_size_cap_is_skipped(tmp_path, monkeypatch):
    folder = _experiment(tmp_path / "exp")
    monkeypatch.setattr(safe_files, "MAX_FILE_BYTES", 100)
    warnings: list[str] = []
    assert safe_files.read_regular(folder / "trials.csv", folder, warnings) is None
    assert "above the 100-byte cap" in warnings[0]
    assert safe_files.read_regular(folder / "run_trial_t0" / "params.json", folder, []) is not None


def test_a_huge_integer_in_a_result_line_is_skipped_as_a_bad_line(tmp_path):
    folder = _experiment(tmp_path / "exp")
    (folder / "trials.csv").unlink()
    with open(folder / "run_trial_t0" / "result.json", "a") as f:
        f.write('{"epoch": 4, "loss": ' + "9" * 5000 + "}\n")
    code, out, err = run_cli(["analyze", str(folder)])
    assert code == 0, err
    assert "skipped 1 corrupt line" in out


def test_markdown_and_html_in_values_are_escaped_in_report_md(tmp_path):
    folder = _experiment(tmp_path / "exp")
    trials = (folder / "trials.csv").read_text().splitlines()
    trials[0] += ",reason"
    trials[1] += ",<script>alert(1)</script> **bold** [x](http://e.x) $a$"
    (folder / "trials.csv").write_text("\n".join(trials) + "\n")
    spec = {**SPEC, "description": "<img src=x onerror=alert(1)> _it_"}
    (folder / "spec.yaml").write_text(yaml.safe_dump(spec))
    code, _, err = run_cli(["analyze", str(folder), "--format", "md"])
    assert code == 0, err
    text = (folder / "report" / "report.md").read_text()
    assert "<script>" not in text and "<img" not in text
    assert "](http" not in text


def test_dollar_signs_in_labels_are_drawn_literally(tmp_path):
    folder = tmp_path / "exp"
    folder.mkdir()
    spec = {
        "name": "v",
        "trainable": "mnist_mlp",
        "metric": "val_acc",
        "mode": "max",
        "search": {"algorithm": "grid"},
        "variants": {"$x": {}, "cost $5 and $": {}},
    }
    (folder / "spec.yaml").write_text(yaml.safe_dump(spec))
    rows = ["trial_id,status,variant,val_acc,best/val_acc,gap,test_acc,best_epoch,epochs"]
    rows += [
        f"t{i},completed,{v},0.{i + 5},0.{i + 5},0.1,0.8,3,3"
        for i, v in enumerate(spec["variants"])
    ]
    (folder / "trials.csv").write_text("\n".join(rows) + "\n")
    (folder / "history.csv").write_text(
        "trial_id,epoch,gap\nt0,1,0.1\nt0,2,0.2\nt1,1,0.1\nt1,2,0.1\n"
    )
    code, _, err = run_cli(["analyze", str(folder)])
    assert code == 0, err
    assert any(p.suffix == ".png" for p in (folder / "report").iterdir())


def test_terminal_escapes_in_folder_names_are_shown_escaped(tmp_path):
    folder = _experiment(tmp_path / "exp")
    (folder / "trials.csv").unlink()
    evil = folder / "run_trial_\x1b[31mred"
    evil.mkdir()
    (evil / "params.json").write_text("{not json")
    code, out, err = run_cli(["analyze", str(folder)])
    assert code == 0, err
    assert "\x1b" not in out + err
    assert "\\x1b[31mred" in out


# --- properties: planted links, special files, oversized values ------------------------

PLANTS = st.sampled_from(
    [
        "link-out",  # a link to a file outside
        "link-dir-out",  # a link to a folder outside
        "dangling",
        "fifo",
        "devzero",
        "huge-number",
        "deep-json",
        "alias-bomb",
    ]
)
TARGETS = st.sampled_from(
    [
        "spec.yaml",
        "trials.csv",
        "history.csv",
        "run_trial_t0/params.json",
        "run_trial_t0/result.json",
        "run_trial_t1/error.txt",
        "report",
        "report/index.html",
    ]
)


def _plant(folder: Path, target: str, how: str, outside: Path) -> None:
    path = folder / target
    if path.is_dir() and not path.is_symlink():
        return
    if os.path.lexists(path.parent) and (path.parent.is_symlink() or not path.parent.is_dir()):
        return  # planted over already: "report" is a link or a file
    path.parent.mkdir(parents=True, exist_ok=True)
    if os.path.lexists(path):
        path.unlink()
    if how == "link-out":
        path.symlink_to(outside)
    elif how == "link-dir-out":
        path.symlink_to(outside.parent, target_is_directory=True)
    elif how == "dangling":
        path.symlink_to(folder / "nowhere")
    elif how == "fifo":
        os.mkfifo(path)
    elif how == "devzero":
        path.symlink_to("/dev/zero")
    elif how == "huge-number":
        path.write_text('{"epoch": 1, "loss": ' + "7" * 6000 + "}\n")
    elif how == "deep-json":
        path.write_text("[" * 100_000 + "]" * 100_000 + "\n")
    else:
        path.write_text("\n".join(alias_bomb()) + "\n")


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(TARGETS, PLANTS), min_size=1, max_size=3, unique_by=lambda x: x[0]))
def test_analyze_and_compare_read_and_write_only_inside(tmp_path_factory, plants):
    root = tmp_path_factory.mktemp("u")
    outside = root / "outside" / "secret.txt"
    outside.parent.mkdir()
    outside.write_text("SECRET-CONTENT\n")
    folder = _experiment(root / "exp")
    other = _experiment(root / "exp2", name="other")
    for target, how in plants:
        _plant(folder, target, how, outside)
    before_outside = files(outside.parent)
    done: list[tuple[int, str, str]] = []

    def run() -> None:
        done.append(run_cli(["analyze", str(folder)]))
        done.append(run_cli(["compare", str(folder), str(other), "--out", str(root / "cmp")]))

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(timeout=120)
    assert len(done) == 2, "hung"
    for code, out, err in done:
        assert "Traceback" not in out + err
        assert code in (0, 2), err
        if code == 2:
            assert err.count("\n") == 1, err
        assert "SECRET-CONTENT" not in out + err
    assert files(outside.parent) == before_outside
    assert outside.read_text() == "SECRET-CONTENT\n"
    for page in [*folder.rglob("index.html"), *(root / "cmp").rglob("index.html")]:
        if page.is_file() and not page.is_symlink():  # a planted FIFO stays one
            assert "SECRET-CONTENT" not in page.read_text()


def test_a_bad_spec_ends_in_one_line_under_a_memory_cap(tmp_path):
    """A 430-byte alias bomb and other bad input: one line, exit 2, well under 1 GiB."""
    bomb = alias_bomb()
    spec = tmp_path / "bomb.yaml"
    spec.write_text("\n".join(bomb) + "\ntrainable: linear_w\nmetric: loss\n")
    folder = _experiment(tmp_path / "exp")
    (folder / "spec.yaml").write_text("\n".join(bomb) + "\n")
    code = (
        "import resource, sys\n"
        "resource.setrlimit(resource.RLIMIT_AS, (2 * 2**30, 2 * 2**30))\n"
        "from study.cli import main\n"
        "sys.exit(main(sys.argv[1:]))\n"
    )
    for argv in (
        ["run", str(spec)],
        ["analyze", str(folder)],
        ["run", "lr-divergence", "--num-samples", "9" * 400],
        ["run", "lr-divergence", "--set", "epochs=" + "9" * 400],
        ["run", "lr-divergence", "--gpus-per-trial", "inf"],
    ):
        out = subprocess.run(
            [sys.executable, "-c", code, *argv],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=tmp_path,
        )
        assert out.returncode == 2, (argv[:2], out.stderr[-500:])
        assert out.stderr.count("\n") == 1 and len(out.stderr) < 400, out.stderr[:500]
        assert "Traceback" not in out.stderr


def test_a_folder_naming_a_module_as_its_trainable_never_imports_it(tmp_path, monkeypatch):
    """A spec's ``trainable: module:function`` is code; analyze, compare and the
    report read it as text only, whatever module it names."""
    planted = tmp_path / "planted_module.py"
    marker = tmp_path / "imported"
    planted.write_text(f"open({str(marker)!r}, 'w').write('ran')\ndef fn(config): pass\n")
    monkeypatch.chdir(tmp_path)  # where an import would look first
    folder = _experiment(tmp_path / "exp")
    (folder / "spec.yaml").write_text(yaml.safe_dump({**SPEC, "trainable": "planted_module:fn"}))
    other = _experiment(tmp_path / "other", name="other")
    assert run_cli(["analyze", str(folder)])[0] == 0
    assert run_cli(["compare", str(folder), str(other)])[0] == 0
    assert "planted_module:fn" in (folder / "report" / "index.html").read_text()
    assert not marker.exists()
