"""The records that let ``study resume`` survive a SIGKILL, without Ray (ledger.py)."""

from __future__ import annotations

import json
import math
import pickle

import pandas as pd

from study.records import ledger
from study.records.tables import _original


def test_the_ledger_keeps_each_trials_first_end_and_skips_cut_lines(tmp_path):
    ledger.record(tmp_path, "a", "TERMINATED", {"loss": 0.5, "epoch": 3, "x": math.nan})
    ledger.record(tmp_path, "b", "ERROR", {"loss": math.inf})
    ledger.record(tmp_path, "a", "TERMINATED", {"loss": 9.0, "epoch": 3})  # a rerun's end
    with open(tmp_path / ledger.LEDGER, "a") as f:
        f.write('{"trial_id": "c", "ray_st')  # a kill mid-line
    found = ledger.read(tmp_path)
    assert set(found) == {"a", "b"}
    assert found["a"]["result"]["loss"] == 0.5 and math.isnan(found["a"]["result"]["x"])
    assert found["b"] == {"ray_status": "ERROR", "result": {"loss": math.inf}, "trial_dir": ""}


def test_a_rerun_trial_keeps_its_first_result_and_each_epoch_once():
    first = {
        "ray_status": "TERMINATED",
        "result": {"loss": 0.5, "time_total_s": 3.0, "training_iteration": 3},
    }
    rerun = {"loss": 0.5, "time_total_s": 7.0, "training_iteration": 3}
    history = pd.DataFrame({"iteration": [1, 2, 3, 3], "loss": [2.0, 1.0, 0.5, 0.5]})
    last, kept = _original(rerun, history, first)
    assert last["time_total_s"] == 3.0
    assert kept["iteration"].tolist() == [1, 2, 3]
    # An errored first end is not kept: the rerun's outcome stands, each epoch once.
    last, kept = _original(rerun, history, {**first, "ray_status": "ERROR"})
    assert last is rerun and kept["iteration"].tolist() == [1, 2, 3]


def test_a_cut_state_is_replaced_by_the_whole_backup_set(tmp_path):
    staging, folder = tmp_path / "staging", tmp_path / "exp"
    staging.mkdir()
    folder.mkdir()
    (staging / "run_trial_x").mkdir()  # trial folders are not state
    state = {"trial_data": [1, 2]}
    (staging / "experiment_state-s.json").write_text(json.dumps(state))
    (staging / "searcher-state-s.pkl").write_bytes(pickle.dumps({"n": 2}))
    backup = ledger.StateBackup()
    backup.after_step(staging, folder)
    assert sorted(p.name for p in (folder / ledger.BACKUP).iterdir()) == [
        "experiment_state-s.json",
        "searcher-state-s.pkl",
    ]
    # Ray's copy in the folder: the state cut to nothing by a kill, the searcher whole.
    (folder / "experiment_state-s.json").write_text("")
    (folder / "searcher-state-s.pkl").write_bytes(pickle.dumps({"n": 1}))
    assert ledger.repair_state(folder) == ["experiment_state-s.json", "searcher-state-s.pkl"]
    assert json.loads((folder / "experiment_state-s.json").read_text()) == state
    assert pickle.loads((folder / "searcher-state-s.pkl").read_bytes()) == {"n": 2}  # the set
    # Whole files are left alone.
    assert ledger.repair_state(folder) == []


def test_a_truncated_pickle_is_not_whole(tmp_path):
    data = pickle.dumps({"a": list(range(100))})
    (tmp_path / "p.pkl").write_bytes(data[:-5])
    (tmp_path / "q.pkl").write_bytes(data)
    assert not ledger._whole(tmp_path / "p.pkl") and ledger._whole(tmp_path / "q.pkl")


def test_a_restored_grid_generator_forgets_the_live_trials_the_ledger_holds_as_ended(tmp_path):
    """Ray's BasicVariantGenerator restores its live trials from its saved state. Trials
    that ended after that state was saved are marked ended in Ray's state on resume
    (mark_finished), so Ray never reports them ended: kept live, they held
    max_concurrent's places for ever and the resume hung (seen in the SIGKILL test)."""
    from study.records.ledger import restoring
    from study.search.variants import HarnessVariantGenerator

    saved = HarnessVariantGenerator(max_concurrent=2)
    saved._live_trials = {"a_00000", "a_00001"}
    state = saved.get_state()
    ledger.record(tmp_path, "a_00000", "TERMINATED", {"epoch": 3})
    restored = HarnessVariantGenerator(max_concurrent=2)
    with restoring(tmp_path):
        restored.set_state(dict(state))
    assert restored._live_trials == {"a_00001"}  # still running: Ray will report its end
    outside = HarnessVariantGenerator(max_concurrent=2)
    outside.set_state(dict(state))  # not a resume: nothing is forgotten
    assert outside._live_trials == {"a_00000", "a_00001"}
