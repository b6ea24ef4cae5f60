"""Benchmark 14: how long the course takes, as a user runs it.

``study run course-quick`` and ``study run course``, each a fresh process (Ray's
start and stop included, as on a laptop), alternated so both see the same machine;
medians over the repeats. Per run: the wall time, each study's wall time (its
spec.yaml), the time from the last study's end to the course page, and the page's
verdicts (are they the same run to run?).

    python benchmarks/course_time.py [--repeats 3] [--only course-quick]
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).parent))
from common import save, table

STUDY = str(Path(sys.executable).parent / "study")


def run_once(preset: str) -> dict:
    with tempfile.TemporaryDirectory() as storage:
        start = time.perf_counter()
        done = subprocess.run(
            [STUDY, "run", preset, "--storage", storage],
            capture_output=True,
            text=True,
            check=False,
        )
        wall = time.perf_counter() - start
        if done.returncode != 0:
            raise SystemExit(f"{preset} failed ({done.returncode}): {done.stderr[-2000:]}")
        folder = Path(storage) / preset
        studies = {
            p.parent.name: float(yaml.safe_load(p.read_text())["run"]["wall_s"])
            for p in sorted(folder.glob("*/spec.yaml"))
        }
        page = folder / "course" / "course.md"
        verdicts = re.findall(r"^- (§\S+) .*?\*\*([a-z ]+)\*\*", page.read_text(), re.M)
        return {"wall_s": wall, "studies": studies, "verdicts": dict(verdicts)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--only", choices=("course-quick", "course"))
    args = parser.parse_args()
    presets = [args.only] if args.only else ["course-quick", "course"]
    runs: dict[str, list[dict]] = {p: [] for p in presets}
    for _ in range(args.repeats):
        for preset in presets:  # alternated: both see the same minutes of the machine
            runs[preset].append(run_once(preset))
            print(preset, f"{runs[preset][-1]['wall_s']:.1f} s", flush=True)
    rows = []
    for preset, done in runs.items():
        walls = [r["wall_s"] for r in done]
        in_studies = [sum(r["studies"].values()) for r in done]
        rows.append(
            {
                "preset": preset,
                "median_wall_s": statistics.median(walls),
                "min_s": min(walls),
                "max_s": max(walls),
                "median_in_studies_s": statistics.median(in_studies),
                "verdicts_same_each_run": all(r["verdicts"] == done[0]["verdicts"] for r in done),
            }
        )
    per_study = {
        preset: {
            name: statistics.median(r["studies"][name] for r in done) for name in done[0]["studies"]
        }
        for preset, done in runs.items()
    }
    print(table(rows))
    for preset, studies in per_study.items():
        print(preset, {k: round(v, 1) for k, v in studies.items()})
    path = save("course_time", {"rows": rows, "per_study_median_s": per_study, "runs": runs})
    print(f"-> {path}")


if __name__ == "__main__":
    main()
