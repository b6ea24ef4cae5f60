"""The files of an experiment folder (and of a suite's folder), named once, and the
bound on the documents the harness reads back (spec.yaml, a spec file).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = [
    "COURSE_DIR",
    "ERROR_FILE",
    "FAILED_FILE",
    "HISTORY_FILE",
    "INVALID_FILE",
    "LEDGER_FILE",
    "LOCK_FILE",
    "MAX_DOCUMENT_VALUES",
    "NODES_LOG",
    "OPTUNA_FILE",
    "PARAMS_FILE",
    "REPORT_DIR",
    "RESULT_FILE",
    "SPEC_FILE",
    "STATE_BACKUP_DIR",
    "SUITE_FILE",
    "TRIALS_FILE",
    "too_large",
]

SPEC_FILE = "spec.yaml"  # the resolved spec, plus a ``run`` section (address, resources, wall_s)
SUITE_FILE = "suite.yaml"  # a suite's folder: one experiment folder per study beside it
TRIALS_FILE = "trials.csv"  # one row per trial
HISTORY_FILE = "history.csv"  # one row per trial per reported epoch
LEDGER_FILE = "finished.jsonl"  # each trial's end, fsync'ed (study/records/ledger.py)
INVALID_FILE = "invalid.jsonl"  # proposals the searcher skipped as invalid: no Ray trial
# The Optuna study of an Optuna-searched study, live as trials report
# (study/records/journal.py); random and grid studies keep none.
OPTUNA_FILE = "optuna.journal"
# Held by the one run or resume writing the folder (study/storage/lock.py).
LOCK_FILE = ".study.lock"
# A whole copy of Ray's experiment state (study/records/ledger.py).
STATE_BACKUP_DIR = ".study-state"
# What Ray knew of each node lost during the study (study/execution/nodes.py).
NODES_LOG = "nodes.log"
REPORT_DIR = "report"  # index.html, report.md, PNGs and CSVs
# A suite's study that failed (no trial trained, a crash): the one line saying why; the
# suite's next studies still run, and the course page links this file.
FAILED_FILE = "failed.txt"
# A course suite's page (analysis/course/): index.html, course.md, PNGs.
COURSE_DIR = "course"
# Ray Tune's own files in each trial folder, read when the tables must be rebuilt.
PARAMS_FILE = "params.json"
RESULT_FILE = "result.json"
ERROR_FILE = "error.txt"

# A spec document (spec.yaml, a spec file) holds at most this many values, counting a
# YAML alias each time it is used: a 430-byte "billion laughs" spec expands past it.
MAX_DOCUMENT_VALUES = 100_000


def too_large(document: Any, cap: int = MAX_DOCUMENT_VALUES) -> bool:
    """Whether ``document`` holds more than ``cap`` values with its shared (aliased)
    parts counted each time they appear; stops counting at the cap (cycles too)."""
    count, stack = 0, [document]
    while stack:
        item = stack.pop()
        count += 1
        if count > cap:
            return True
        if isinstance(item, Mapping):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, (list, tuple)):
            stack.extend(item)
    return False
