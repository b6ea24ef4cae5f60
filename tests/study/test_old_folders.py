"""Folders written before study/ was grouped by stage (issue 33) still resume.

Ray pickles the harness's classes by their module path: the searchers in
``searcher-state-*.pkl``, the callbacks and the stopper in ``tuner.pkl``, the
searcher's wrappers in ``search_gen_state-*.json``. The folders in old_folders/ were
written and interrupted by the last release of the flat layout
(old_folders/make_old_folders.py says how), so they hold the old paths.
"""

from __future__ import annotations

import binascii
import contextlib
import importlib
import pickletools
import re
import shutil
import tarfile
from pathlib import Path

import pandas as pd
import pytest

from study import resume_study
from study.execution import old_paths

OLD = Path(__file__).parent / "old_folders"
# Where make_old_folders.py wrote them: Ray's state names a folder by its absolute
# path, and a folder resumed from another path loses the trials it runs (issue 38).
WHERE = Path("/tmp/study-harness-old-layout")
# Each study's trials in all, once resumed to its end.
TRIALS = {"old-optuna": 6, "old-grid": 6, "old-fused-optuna": 8, "old-fused-grid": 8}
OURS = ("study", "trainables", "experiment_folder", "analysis")


def _globals(data: bytes, found: set[tuple[str, str]]) -> None:
    """The (module, name) of every global of ours a pickle refers to, nested ones too."""
    strings: list[str] = []
    for op, arg, _ in pickletools.genops(data):
        if isinstance(arg, str):
            strings.append(arg)
        elif isinstance(arg, (bytes, bytearray)) and arg[:1] == b"\x80":
            with contextlib.suppress(ValueError):  # bytes that only look like a pickle
                _globals(bytes(arg), found)
        if op.name == "STACK_GLOBAL" and strings[-2].split(".")[0] in OURS:
            found.add((strings[-2], strings[-1]))
        elif op.name == "GLOBAL" and str(arg).split(".")[0] in OURS:
            module, name = str(arg).split(" ")
            found.add((module, name))


def _pickled_globals(name: str) -> set[tuple[str, str]]:
    found: set[tuple[str, str]] = set()
    with tarfile.open(OLD / f"{name}.tar.gz") as tar:
        for member in tar.getmembers():
            if not member.isfile() or not member.name.endswith((".pkl", ".json")):
                continue
            data = tar.extractfile(member).read()  # type: ignore[union-attr]
            if data[:1] == b"\x80":
                _globals(data, found)
                continue
            # Ray's JSON state keeps what JSON cannot hold as a hex pickle.
            for hexed in re.findall(rb"CLOUDPICKLE_FALLBACK:([0-9a-fA-F]+)", data):
                _globals(binascii.unhexlify(hexed), found)
    return found


@pytest.mark.parametrize("name", sorted(TRIALS))
def test_every_class_an_old_folder_pickled_is_found_by_its_old_path(name):
    found = _pickled_globals(name)
    assert found, "the folder pickles none of our classes: the test would check nothing"
    old_paths.install()  # as a resume does before Ray reads its state
    assert {module for module, _ in found} >= {"study.durability", "study.progress"}
    for module, attr in found:
        # What pickle's find_class does with a global.
        assert getattr(importlib.import_module(module), attr) is not None, (module, attr)


@pytest.fixture
def where():
    shutil.rmtree(WHERE, ignore_errors=True)
    WHERE.mkdir(mode=0o700)
    yield WHERE
    shutil.rmtree(WHERE, ignore_errors=True)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(TRIALS))
def test_a_folder_written_before_the_regrouping_resumes_to_its_end(ray_address, where, name):
    with tarfile.open(OLD / f"{name}.tar.gz") as tar:
        tar.extractall(where, filter="data")
    folder = where / name
    before = pd.read_csv(folder / "trials.csv").set_index("trial_id")
    ended = before[before["status"].isin(["completed", "stopped"])]
    assert len(before) < TRIALS[name] or (before["status"] == "unfinished").any()

    assert resume_study(folder, report=False) == folder
    after = pd.read_csv(folder / "trials.csv").set_index("trial_id")
    assert len(after) == TRIALS[name] and after.index.is_unique
    assert set(after["status"]) <= {"completed", "stopped"}, after["status"].to_dict()
    # Every trial trained and was recorded in this folder, not only counted.
    assert (after["epochs"] >= 1).all() and after["loss"].notna().all()
    assert after["trial_dir"].str.startswith(str(folder)).all()
    for trial_id, row in ended.iterrows():  # what had ended keeps its result
        assert after.loc[trial_id, "loss"] == row["loss"]
