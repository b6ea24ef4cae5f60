"""Hardening, round two (issue 21), on real studies: a journal torn mid-append and a disk
that fills up mid-study, each resumed with nothing lost and nothing run twice."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pandas as pd
import pytest
from cli_inprocess import run_cli
from journal_check import assert_matches_trials_csv

from experiment_folder import LEDGER_FILE, OPTUNA_FILE
from study import records
from study.records import ledger

pytestmark = pytest.mark.slow

SPEC = {
    "name": "tiny",
    "trainable": "linear_w",
    "metric": "loss",
    "mode": "min",
    "num_samples": 6,
    "max_concurrent": 2,
    "search": {"algorithm": "optuna", "seed": 3},
    "config": {"epochs": 20},
    "space": {"lr": {"loguniform": [0.0001, 0.01]}},
}


def _spec_file(tmp_path: Path) -> Path:
    import yaml

    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(SPEC))
    return path


def _run(ray_address: str, spec: Path, storage: Path) -> tuple[int, str, str]:
    where = ["--storage", str(storage), "--address", ray_address, "--no-report"]
    return run_cli(["run", str(spec), *where])


def test_a_journal_torn_mid_append_is_cut_back_and_the_study_resumes(ray_address, tmp_path):
    code, _, err = _run(ray_address, _spec_file(tmp_path), tmp_path)
    assert code == 0, err
    folder = tmp_path / "tiny"
    journal = folder / OPTUNA_FILE
    whole = journal.read_bytes()
    torn = whole[: len(whole) - 7]  # the driver died 7 bytes before the end of a record
    journal.write_bytes(torn)
    records.add_wall_time(folder, 0.0, interrupted=True)  # as a killed run leaves it
    code, _, err = run_cli(["resume", str(folder), "--address", ray_address, "--no-report"])
    assert code == 0, err
    cut = list(folder.glob(OPTUNA_FILE + ".torn-*"))
    kept = torn[: len(torn) - len(cut[0].read_bytes())] if cut else b"?"
    assert len(cut) == 1 and journal.read_bytes().startswith(kept)
    trials = pd.read_csv(folder / "trials.csv")
    assert len(trials) == 6 and trials["trial_id"].is_unique
    assert_matches_trials_csv(folder)  # the journal loads, and agrees with the table


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a small tmpfs needs root")
def test_a_full_disk_is_one_line_and_resume_loses_and_reruns_nothing(ray_address, tmp_path):
    spec = _spec_file(tmp_path)
    storage = tmp_path / "small"
    storage.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=300k", "tmpfs", str(storage)], check=True)
    try:
        code, _, err = _run(ray_address, spec, storage)
        folder = storage / "tiny"
        if code == 0:  # the study fitted: nothing to test on this machine's sizes
            pytest.skip("the study fitted in 300 KB")
        assert code == 1 and err.count("\n") == 1, err
        assert err.startswith("error: no space left on device while writing "), err
        assert f"study resume {folder}" in err
        held = ledger.read(folder)
        subprocess.run(["mount", "-o", "remount,size=64m", str(storage)], check=True)
        code, _, err = run_cli(["resume", str(folder), "--address", ray_address, "--no-report"])
        assert code == 0, err
        trials = pd.read_csv(folder / "trials.csv").set_index("trial_id")
        assert trials.index.is_unique and set(held) <= set(trials.index)
        for trial_id, entry in held.items():  # each keeps the result it finished with
            assert trials.loc[trial_id, "objective"] == pytest.approx(entry["result"]["objective"])
        # Nothing ran twice: no trial in place of one that had finished, none again.
        assert len(trials) == SPEC["num_samples"], trials["status"]
        ends = [json.loads(line)["trial_id"] for line in (folder / LEDGER_FILE).open()]
        assert sorted(ends) == sorted(trials.index)
        study = assert_matches_trials_csv(folder)
        assert len(study.trials) == SPEC["num_samples"]  # each trial once in the journal
    finally:
        subprocess.run(["umount", "-l", str(storage)], check=False)
