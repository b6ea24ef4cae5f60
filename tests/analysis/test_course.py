"""The course page from hand-built suite folders (no Ray): verdicts follow the tables,
a failed or missing study costs only its chapter, and every link on the page resolves.
The course on real studies (course-quick) is tests/study/test_course.py."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import yaml

from analysis import is_course, write_course
from analysis.course import CHAPTERS, VERDICTS
from trainables.regression import linear_w, loss_landscape

from .conftest import write_experiment


def _suite(folder: Path, course: bool = True) -> Path:
    folder.mkdir(parents=True)
    (folder / "suite.yaml").write_text(yaml.safe_dump({"suite": [], "course": course}))
    return folder


def brute_force_study(folder: Path, shift: float = 0.0, step: float = 0.1) -> Path:
    """ch1 as the preset runs it: the real loss_landscape over w = 0 … 4, MSE measured at
    ``w + shift`` (a shift moves the minimum off w = 2: a table that says otherwise)."""
    trials = []
    for i, w in enumerate(np.round(np.arange(0.0, 4.01, step), 10)):
        loss = loss_landscape({"w": float(w) + shift, "data": "seed"})["loss"]
        trials.append(
            {
                "trial_id": f"t{i}",
                "status": "completed",
                "config/w": float(w),
                "loss": loss,
                "objective": loss,
                "epochs": 1,
            }
        )
    spec = {
        "name": folder.name,
        "trainable": "loss_landscape",
        "metric": "loss",
        "mode": "min",
        "search": {"algorithm": "grid"},
        "config": {"data": "seed"},
        "space": {"w": {"grid_range": [0.0, 4.0, 0.1]}},
    }
    return write_experiment(folder, spec, trials)


def divergence_study(folder: Path) -> Path:
    """ch4 at a small size: the real linear_w on the note's outlier data over 12 lrs."""
    trials = []
    for i, lr in enumerate(np.geomspace(1e-3, 0.7, 12)):
        end = linear_w({"lr": float(lr), "data": "outlier", "epochs": 100})
        trials.append(
            {
                "trial_id": f"t{i}",
                "status": "diverged" if end["diverged"] else "completed",
                "config/lr": float(lr),
                "config/epochs": 100,
                "loss": end["loss"],
                "objective": end["loss"],
                "diverged": end["diverged"],
                "epochs": end["epoch"],
            }
        )
    spec = {
        "name": folder.name,
        "trainable": "linear_w",
        "metric": "loss",
        "mode": "min",
        "search": {"algorithm": "optuna", "seed": 0},
        "config": {"data": "outlier", "epochs": 100},
        "space": {"lr": {"loguniform": [1e-4, 1.0]}},
    }
    return write_experiment(folder, spec, trials)


def _verdicts(page: Path) -> dict[str, str]:
    """Each chapter's verdict as the Markdown page states it, by chapter title."""
    text = (page / "course.md").read_text()
    found = {}
    for chapter in CHAPTERS:
        title = re.escape(f"## §{chapter.section} {chapter.title}")
        block = re.search(title + r"\n(.*?)(?=\n## |\Z)", text, re.S)
        assert block, chapter.title
        said = re.search(r"\*\*Verdict: ([a-z ]+)\.\*\*", block.group(1))
        found[chapter.study] = said.group(1) if said else block.group(1)
    return found


def test_a_verdict_follows_the_studys_table(tmp_path):
    right = _suite(tmp_path / "right")
    brute_force_study(right / "ch1-brute-force")
    wrong = _suite(tmp_path / "wrong")
    brute_force_study(wrong / "ch1-brute-force", shift=0.1)  # the minimum moves to w = 1.9

    coarse = _suite(tmp_path / "coarse")
    brute_force_study(coarse / "ch1-brute-force", step=0.3)  # 0, 0.3, … 1.8, 2.1, …: no 2

    assert _verdicts(write_course(right))["ch1-brute-force"] == "confirmed"
    assert _verdicts(write_course(wrong))["ch1-brute-force"] == "contradicted"
    text = (wrong / "course" / "course.md").read_text()
    assert "at w = 1.9" in text
    assert _verdicts(write_course(coarse))["ch1-brute-force"] == "refined"
    assert "its nearest, w = 2.1, is the minimum" in (coarse / "course" / "course.md").read_text()


def test_divergence_chapter_states_the_exact_intervals(tmp_path):
    suite = _suite(tmp_path / "suite")
    divergence_study(suite / "ch4-divergence")
    page = write_course(suite)
    assert _verdicts(page)["ch4-divergence"] == "refined"
    # The stable set on x = 1 … 5 is lr < 0.0924504…, then pockets: computed here from
    # the product of the five per-sample factors, without the harness's code.
    xs = np.array([1.0, 2, 3, 4, 5])
    poly = np.poly1d([1.0])
    for x in xs:
        poly *= np.poly1d([-2 * x * x, 1.0])
    roots = sorted(r.real for r in (poly + 1).roots if abs(r.imag) < 1e-9 and r.real > 0)
    intervals = (page / "stable_intervals.csv").read_text().splitlines()[1:]
    first_limit = float(intervals[0].split(",")[-1])
    assert first_limit == pytest.approx(roots[0], rel=1e-8)
    assert len(intervals) >= 2  # a stable pocket above the first limit


def test_a_failed_or_missing_study_costs_only_its_chapter(tmp_path):
    suite = _suite(tmp_path / "suite")
    brute_force_study(suite / "ch1-brute-force")
    failed = suite / "ch3-sgd-w"
    failed.mkdir()
    (failed / "failed.txt").write_text("no trial trained: 3 of 3 trial(s) raised an error\n")
    elsewhere = divergence_study(tmp_path / "elsewhere")
    (suite / "ch4-divergence").symlink_to(elsewhere, target_is_directory=True)
    spec = {"name": "ch2-loss-surface", "trainable": "mnist_mlp", "metric": "val_acc"}
    write_experiment(suite / "ch2-loss-surface", spec, [{"trial_id": "t0", "status": "completed"}])

    page = write_course(suite)
    verdicts = _verdicts(page)
    assert verdicts["ch1-brute-force"] == "confirmed"
    md = (page / "course.md").read_text().replace("\\", "")  # Markdown's escapes off
    assert "**This chapter's study failed:** no trial trained: 3 of 3" in md
    assert "[why it failed](../ch3-sgd-w/failed.txt)" in md
    assert "Not measured:** ch2-loss-surface trains mnist_mlp, not loss_landscape" in md
    assert "Not measured:** this suite has no study ch9-conv2d" in md
    assert "Not measured:** ch4-divergence is a link, not a study folder" in md
    # Only the measured chapter has a verdict; the others say why they have none.
    assert [s for s, v in verdicts.items() if v in VERDICTS] == ["ch1-brute-force"]
    # Every link on the page resolves; every figure is embedded and drawn.
    html = (page / "index.html").read_text()
    for href in re.findall(r"href='([^']+)'", html):
        if not href.startswith("#"):
            assert (page / href).resolve().is_file(), href
    images = re.findall(r"src='data:image/png;base64,([^']+)'", html)
    assert images and all(len(i) > 1000 for i in images)


def test_a_course_is_only_a_suite_that_says_so(tmp_path):
    assert is_course(_suite(tmp_path / "course"))
    assert not is_course(_suite(tmp_path / "suite", course=False))
    assert not is_course(tmp_path / "nothing")
    linked = tmp_path / "linked"
    linked.mkdir()
    (linked / "suite.yaml").symlink_to(tmp_path / "course" / "suite.yaml")
    assert not is_course(linked)  # a link in a folder that may be hostile is not read


def test_study_analyze_writes_the_course_page_beside_the_reports(tmp_path):
    from cli_inprocess import run_cli

    suite = _suite(tmp_path / "suite")
    brute_force_study(suite / "ch1-brute-force")
    out = tmp_path / "out"
    code, printed, err = run_cli(["analyze", str(suite), "--out", str(out)])
    assert code == 0, err
    assert printed.splitlines()[-1] == str(out / "course" / "index.html")
    html = (out / "course" / "index.html").read_text()
    links = [h for h in re.findall(r"href='([^']+)'", html) if not h.startswith("#")]
    assert links == ["../index.html", "mse_vs_w.csv"]  # one study: its report is --out
    assert all((out / "course" / h).resolve().is_file() for h in links)
    # Without --out, the page goes into the suite folder, beside the studies.
    code, printed, err = run_cli(["analyze", str(suite)])
    assert code == 0 and printed.splitlines()[-1] == str(suite / "course" / "index.html")


def mlp_study(folder: Path, note_test: float, tuned_test: float) -> Path:
    """ch8 in miniature: the note's (lr 0.01, momentum 0.5) and lr 0.1, three seeds each;
    validation accuracy follows the test accuracy, with a little seed noise."""
    trials = []
    for lr, test in ((0.01, note_test), (0.1, tuned_test)):
        for seed, noise in enumerate((-0.004, 0.0, 0.005)):
            trials.append(
                {
                    "trial_id": f"lr{lr}-s{seed}",
                    "status": "completed",
                    "config/lr": lr,
                    "config/momentum": 0.5,
                    "config/seed": seed,
                    "val_acc": test + noise,
                    "test_acc": test + noise,
                    "objective": test + noise,
                    "epochs": 10,
                }
            )
    spec = {
        "name": folder.name,
        "trainable": "mnist_mlp",
        "metric": "val_acc",
        "mode": "max",
        "search": {"algorithm": "grid"},
        "config": {"dataset": "mnist5k", "epochs": 10},
        "space": {"lr": {"grid": [0.01, 0.1]}, "seed": {"grid": [0, 1, 2]}},
    }
    return write_experiment(folder, spec, trials)


@pytest.mark.parametrize(
    ("note_test", "tuned_test", "verdict"),
    [
        (0.85, 0.93, "refined"),  # tuned better on the test set, beyond seed noise
        (0.93, 0.85, "confirmed"),  # the note's settings are the best by validation
        (0.30, 0.93, "contradicted"),  # the note's settings barely learn
    ],
)
def test_the_mlp_chapter_decides_by_validation_and_reports_the_test_set(
    tmp_path, note_test, tuned_test, verdict
):
    suite = _suite(tmp_path / "suite")
    mlp_study(suite / "ch8-mlp", note_test, tuned_test)
    page = write_course(suite)
    assert _verdicts(page)["ch8-mlp"] == verdict
    if verdict == "refined":
        assert "+8.0 pts of test accuracy" in (page / "course.md").read_text()
