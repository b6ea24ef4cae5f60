"""What a study records in its experiment folder, and reads back to resume.

- ``ledger``: finished.jsonl and invalid.jsonl, fsync'ed as trials end, and the
  backup of Ray's saved state: what survives a SIGKILL of the driver;
- ``journal``: the Optuna study as a journal file (optuna.journal);
- ``tables``, ``rows``, ``members``: Ray's results -> trials.csv and history.csv;
- ``spec_file``: spec.yaml and its run section; ``summary``: the closing lines;
- ``atomic``: the one way these files are written.

The names of the files and columns are experiment_folder's. May import: study.errors,
study.specs, experiment_folder, trainables; never Ray at import time.
"""

from study.records.atomic import write_atomic
from study.records.rows import invalid_row, ran_config, trial_row
from study.records.spec_file import add_wall_time, run_info, was_interrupted, write_spec
from study.records.summary import log_summary
from study.records.tables import (
    add_retries,
    build_tables,
    clean_error_files,
    ledger_trial,
    write_tables,
)

__all__ = [
    "add_retries",
    "add_wall_time",
    "build_tables",
    "clean_error_files",
    "invalid_row",
    "ledger_trial",
    "log_summary",
    "ran_config",
    "run_info",
    "trial_row",
    "was_interrupted",
    "write_atomic",
    "write_spec",
    "write_tables",
]
