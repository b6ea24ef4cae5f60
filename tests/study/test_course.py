"""The course on real studies: ``course-quick`` run once on the session's Ray head, its
known truths checked against the studies' own tables and against computations made
here, without the harness's code; its page in a real browser; a failed study and an
interrupted course. The page from hand-built folders: tests/analysis/test_course.py."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from browser import browser_or_skip, open_page

from analysis.course import CHAPTERS, VERDICTS
from study import resume_study, run_study
from study.errors import StudiesFailed

from .test_cli import _run_and_interrupt

pytestmark = [pytest.mark.usefixtures("ray_address"), pytest.mark.slow]

OUTLIER_X = np.array([1.0, 2.0, 3.0, 4.0, 5.0])  # the note's 5.2 data (y holds 1000)
SEED_X = np.array([1.0, 2.0, 3.0])  # the note's 5.1 / 5.4 data


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    return run_study("course-quick", storage=tmp_path_factory.mktemp("course"))


def _trials(course: Path, study: str) -> pd.DataFrame:
    return pd.read_csv(course / study / "trials.csv")


def _verdicts(page: Path) -> dict[str, str]:
    text = (page / "course.md").read_text()
    found = {}
    for chapter in CHAPTERS:
        block = re.search(
            re.escape(f"## §{chapter.section} {chapter.title}") + r"\n(.*?)(?=\n## |\Z)", text, re.S
        )
        said = re.search(r"\*\*Verdict: ([a-z ]+)\.\*\*", block.group(1)) if block else None
        found[chapter.study] = said.group(1) if said else ""
    return found


def _first_unstable_lr(xs: np.ndarray) -> float:
    """Per-sample SGD on y = w·x multiplies the error by P(lr) = Π (1 − 2·lr·x²) per
    epoch; it first stops being stable where P(lr) = −1 (numpy's roots, no harness code)."""
    poly = np.poly1d([1.0])
    for x in xs:
        poly *= np.poly1d([-2 * x * x, 1.0])
    return min(r.real for r in (poly + 1).roots if abs(r.imag) < 1e-9 and r.real > 0)


def _module_limit(xs: np.ndarray, reduction: str) -> float:
    """nn.Linear + full-batch SGD on Σ or mean of (w·x + b − y)²: stable iff
    lr < 1 / λ_max(A), A = Σ v vᵀ (v = (x, 1)), divided by n for the mean."""
    a = sum(np.outer([x, 1.0], [x, 1.0]) for x in xs)
    if reduction == "mean":
        a = a / len(xs)
    return float(1.0 / np.linalg.eigvalsh(a).max())


def test_course_quick_finds_the_known_truths(course):
    # §2: brute force over w finds w = 2 with MSE 0.
    ch1 = _trials(course, "ch1-brute-force")
    best = ch1.loc[ch1["loss"].idxmin()]
    assert best["config/w"] == pytest.approx(2.0) and best["loss"] == pytest.approx(0, abs=1e-20)
    # §3: the surface's minimum is (2, 0.5).
    ch2 = _trials(course, "ch2-loss-surface")
    best = ch2.loc[ch2["loss"].idxmin()]
    assert (best["config/w"], best["config/b"]) == pytest.approx((2.0, 0.5))
    # §5.1.2: the note's loop at lr 0.01 ends at w = 2 (to float32 rounding).
    ch3 = _trials(course, "ch3-sgd-w").set_index("config/lr")
    assert ch3.loc[0.01, "w"] == pytest.approx(2.0, abs=1e-5)
    # §5.2: divergence exactly where the theory says; the first limit computed here.
    page = course / "course"
    intervals = pd.read_csv(page / "stable_intervals.csv")
    assert intervals["stable_to"].iloc[0] == pytest.approx(_first_unstable_lr(OUTLIER_X), 1e-8)
    assert len(intervals) >= 2  # a stable pocket above the first limit
    ch4 = _trials(course, "ch4-divergence")
    lrs = ch4["config/lr"].to_numpy()
    inside = np.logical_or.reduce(
        [(lrs >= a) & (lrs <= b) for a, b in intervals[["stable_from", "stable_to"]].to_numpy()]
    )
    # log10 of the error's growth over 100 epochs, |P(lr)|^100
    growth = 100 * np.log10(np.abs(np.prod([1 - 2 * lrs * x * x for x in OUTLIER_X], axis=0)))
    assert not ch4.loc[inside, "diverged"].any()  # stable: never diverged
    assert ch4.loc[growth > 12, "diverged"].all()  # the error grew 1e12-fold in 100 epochs
    assert (growth > 12).any() and inside.any()
    # §5.2: y = w·x + b at the note's lr 0.001 for 10,000 epochs reaches (2, 0.5).
    ch5 = _trials(course, "ch5-wb-sgd").set_index("config/lr")
    assert (ch5.loc[0.001, "w"], ch5.loc[0.001, "b"]) == pytest.approx((2.0, 0.5), abs=1e-3)
    # §5.4: each reduction diverges exactly above its limit; the mean's is 3 × the sum's.
    ch6 = _trials(course, "ch6-reduction")
    limits = pd.read_csv(page / "stable_limit.csv").set_index("reduction")["exact_limit"]
    for reduction, group in ch6.groupby("config/reduction"):
        limit = _module_limit(SEED_X, reduction)
        assert limits[reduction] == pytest.approx(limit, rel=1e-8)
        assert (group["diverged"] == (group["config/lr"] > limit)).all()
    assert limits["mean"] / limits["sum"] == pytest.approx(3.0)
    # §8: every built Conv2d's output size, measured from real torch layers by the course,
    # is floor((in + 2p − d(k − 1) − 1) / s) + 1, checked here by torch directly too.
    conv = pd.read_csv(page / "conv_sizes.csv")
    built = conv[conv["torch_refused"].isna()]
    assert len(built) and built["formula_holds"].all()
    for row in built.itertuples():
        k, s, p, d = (
            int(getattr(row, n)) for n in ("kernel_size", "stride", "padding", "dilation")
        )
        layer = torch.nn.Conv2d(1, 1, k, stride=s, padding=p, dilation=d)
        first = int(layer(torch.zeros(1, 1, 28, 28)).shape[-1])
        assert first == (28 + 2 * p - d * (k - 1) - 1) // s + 1
        assert yaml.safe_load(row.measured)[0] == first
    # What the harness refused as a shape that cannot work, torch refuses too.
    shapes = conv[conv["reason"].astype(str).str.contains("shrinks below 1|must divide")]
    assert len(shapes) and shapes["torch_refused"].notna().all()


def test_course_quick_verdicts_follow_the_tables(course):
    verdicts = _verdicts(course / "course")
    assert set(verdicts.values()) <= set(VERDICTS), verdicts
    # Exact chapters: their verdicts cannot move with noise.
    assert verdicts["ch1-brute-force"] == "confirmed"
    assert verdicts["ch2-loss-surface"] == "confirmed"
    assert verdicts["ch3-sgd-w"] == "confirmed"
    assert verdicts["ch4-divergence"] == "refined"  # a pocket: more than one threshold
    assert verdicts["ch5-wb-sgd"] == "confirmed"
    assert verdicts["ch6-reduction"] == "confirmed"
    assert verdicts["ch9-conv2d"] == "refined"  # in − k + 1 only without stride, padding...
    md = (course / "course" / "course.md").read_text()
    for chapter in CHAPTERS:  # each links its study's report, which is there
        assert f"(../{chapter.study}/report/index.html)" in md
        assert (course / chapter.study / "report" / "index.html").is_file()


def test_the_course_page_in_a_real_browser(course):
    chromium = browser_or_skip()
    page = course / "course"
    seen = open_page(page / "index.html", chromium)
    # No empty figure: every image is embedded, loads and has a size; one per PNG.
    assert seen["images"] and all(i["ok"] for i in seen["images"]), seen["images"]
    assert len(seen["images"]) == len(list(page.glob("*.png")))
    assert all(u.startswith(("file://", "data:")) for u in seen["requests"]), seen["requests"]
    assert not [m for m in seen["console"] if m[0] in ("error", "warning")], seen["console"]
    assert not seen["errors"]
    # Every link resolves: contents to an id, the rest to a file that is there.
    for href in seen["links"]:
        if href.startswith("#"):
            assert href[1:] in seen["ids"]
        else:
            assert (page / href).resolve().is_file(), href
    assert sum("/report/index.html" in h for h in seen["links"]) == len(CHAPTERS)
    assert "confirmed" in seen["findings"]["text"]


def _flaky_chapter(name: str, **config) -> dict:
    return {
        "name": name,
        "trainable": "flaky",
        "metric": "loss",
        "mode": "min",
        "search": {"algorithm": "grid"},
        "config": {"epochs": 3, **config},
        "space": {"value": {"grid": [1, 2, 3, 4, 5, 6]}},
    }


def test_a_failed_study_costs_only_its_chapter(tmp_path):
    suite = {
        "course": True,
        "suite": [
            {**_flaky_chapter("ch3-sgd-w", fail_at=1), "max_failures": 0},
            {"preset": "brute-force-w", "name": "ch1-brute-force"},
        ],
    }
    with pytest.raises(StudiesFailed, match=r"1 of 2 studies failed \(ch3-sgd-w\)"):
        run_study(suite, name="failing", storage=tmp_path)
    folder = tmp_path / "failing"
    assert "no trial trained" in (folder / "ch3-sgd-w" / "failed.txt").read_text()
    assert (folder / "ch1-brute-force" / "trials.csv").is_file()  # the next study ran
    md = (folder / "course" / "course.md").read_text()
    assert "**This chapter's study failed:** no trial trained" in md
    assert "(../ch3-sgd-w/failed.txt)" in md
    assert _verdicts(folder / "course")["ch1-brute-force"] == "confirmed"

    # A resume that finds the failed study ended leaves it failed: it runs what is
    # unfinished (here ch1, marked interrupted), keeps failed.txt, and says so again.
    from study import records

    records.add_wall_time(folder / "ch1-brute-force", 0.0, interrupted=True)
    with pytest.raises(StudiesFailed, match=r"\(ch3-sgd-w\)"):
        resume_study(folder)
    assert (folder / "ch3-sgd-w" / "failed.txt").is_file()
    assert not records.was_interrupted(folder / "ch1-brute-force")


def test_an_interrupted_course_resumes_to_its_page(ray_address, tmp_path):
    suite = {
        "course": True,
        "suite": [
            _flaky_chapter("ch3-sgd-w", sleep=0.6),
            {"preset": "brute-force-w", "name": "ch1-brute-force"},
        ],
    }
    spec = tmp_path / "course.yaml"
    spec.write_text(yaml.safe_dump(suite))
    storage = tmp_path / "st"
    code, err = _run_and_interrupt(spec, storage, ray_address)  # with --no-report
    folder = storage / "course"
    assert code == 130, err
    assert f"continue with: study resume {folder}" in err
    assert not (folder / "course").exists()

    assert resume_study(folder) == folder
    assert (folder / "course" / "index.html").is_file()
    assert len(_trials(folder, "ch3-sgd-w")) == 6
    verdicts = _verdicts(folder / "course")
    assert verdicts["ch1-brute-force"] == "confirmed"
