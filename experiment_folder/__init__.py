"""The experiment-folder format: one module that the writer (``study``) and the reader
(``analysis``) both import, so that a name or a rule is defined exactly once.

It holds the file names, the ``config/`` and ``best/`` column prefixes, the trial
statuses and what each means, status counting, best-trial selection, the decoding
of encoded choices and the one-line reason of an error. It imports neither Ray
nor matplotlib (nor torch), so both sides load it in a blink. See ARCHITECTURE.md.
"""

from __future__ import annotations

import contextlib
import csv
import json
import math
import re
from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd

# --- file names ----------------------------------------------------------------------

SPEC_FILE = "spec.yaml"  # the resolved spec, plus a ``run`` section (address, resources, wall_s)
SUITE_FILE = "suite.yaml"  # a suite's folder: one experiment folder per study beside it
TRIALS_FILE = "trials.csv"  # one row per trial
HISTORY_FILE = "history.csv"  # one row per trial per reported epoch
LEDGER_FILE = "finished.jsonl"  # each trial's end, fsync'ed (study/ledger.py)
INVALID_FILE = "invalid.jsonl"  # proposals the searcher skipped as invalid: no Ray trial
# The Optuna study of an Optuna-searched study, live as trials report (study/optuna_storage.py);
# random and grid studies keep none.
OPTUNA_FILE = "optuna.journal"
LOCK_FILE = ".study.lock"  # held by the one run or resume writing the folder (study/folder_lock.py)
STATE_BACKUP_DIR = ".study-state"  # a whole copy of Ray's experiment state (study/ledger.py)
NODES_LOG = "nodes.log"  # what Ray knew of each node lost during the study (study/nodes.py)
REPORT_DIR = "report"  # index.html, report.md, PNGs and CSVs
# A suite's study that failed (no trial trained, a crash): the one line saying why; the
# suite's next studies still run, and the course page links this file.
FAILED_FILE = "failed.txt"
# A course suite's page (analysis/course.py): index.html, course.md, PNGs.
COURSE_DIR = "course"
# Ray Tune's own files in each trial folder, read when the tables must be rebuilt.
PARAMS_FILE = "params.json"
RESULT_FILE = "result.json"
ERROR_FILE = "error.txt"

# --- columns ---------------------------------------------------------------------------

CONFIG_PREFIX = "config/"  # trials.csv: each config key as the trial ran it
BEST_PREFIX = "best/"  # trials.csv: a metric at the epoch with the best objective
OBJECTIVE = "objective"  # the spec's metric as searchers see it: finite, never nan
# Every result a trial reports carries these besides its trainable's metrics.
# The trial's place in its study's order of proposals, which a searcher puts in the
# config it proposes (study/plan.py derives the trial's seed from it; not a config key).
# Results and trials.csv carry it; trials.csv's rows are in its order.
TRIAL_INDEX = "trial_index"
RESULT_KEYS = ("objective", "status", "trial_seed", TRIAL_INDEX)
# The config a trial really ran with rides on each of its results under this key.
TRIAL_CONFIG = "trial_config"
# A fused study (``fuse: K``) trains up to K trials in one Ray trial, its group: the
# history.csv and trials.csv column naming it (study/groups.py; absent when unfused).
GROUP = "group"
# A group's config lists its members under this key ([{"id", "params"}]); each of its
# results carries, as JSON text, the results its members reported in that epoch.
MEMBERS = "members"
MAX_MEMBERS_TEXT = 50_000_000  # a results line bigger than this is not one we wrote
# history.csv columns that are bookkeeping, not metrics of a trial.
NOT_METRICS = (
    "trial_id",
    "status",
    "reason",
    "trial_seed",
    TRIAL_INDEX,
    "time_s",
    "divergence",
    TRIAL_CONFIG,
    GROUP,
)
# Config keys that repeat a configuration rather than change it: the per-trial random
# seed (initialisation, shuffling, dropout). A grid of them gives repeats, never a
# parameter. (A seed that selects data, like the regressions' data_seed, is not one.)
REPEAT_KEYS = ("seed",)
# Ray Tune's columns kept in history.csv (``training_iteration`` renamed): no best/ column.
RAY_KEPT = {"training_iteration": "iteration", "time_total_s": "time_total_s"}
RAY_BOOKKEEPING = ("iteration", "time_total_s", "timestamp")

# --- statuses --------------------------------------------------------------------------

# The statuses, named once: everything else spells them through these names.
COMPLETED = "completed"
STOPPED = "stopped"
EARLY_STOPPED = "early_stopped"
DIVERGED = "diverged"
INVALID = "invalid"
ERROR = "error"
UNFINISHED = "unfinished"
STATUS_MEANING: dict[str, str] = {
    "completed": "ran every epoch",
    "stopped": "stopped by the scheduler (ASHA) or the time budget before its last epoch",
    "early_stopped": "ended by its own early stopping (early_stop_patience)",
    "diverged": "the loss or the weights became nan/inf or passed the overflow threshold",
    "invalid": "its config cannot be trained (an impossible Conv2d geometry, say): no epochs",
    "error": "the trial raised or its process died (Ray's traceback is in error.txt)",
    "unfinished": "the study was interrupted before the trial ended; study resume finishes it",
}
STATUSES = tuple(STATUS_MEANING)
assert STATUSES == (COMPLETED, STOPPED, EARLY_STOPPED, DIVERGED, INVALID, ERROR, UNFINISHED)
# Statuses a trial reports itself on its last result; the others are decided from Ray's side.
FINAL = (COMPLETED, EARLY_STOPPED, DIVERGED, INVALID)
# Trials whose metric values mean something (the others trained not at all, or blew up).
SCORED = (COMPLETED, STOPPED, EARLY_STOPPED)
# Trials that could not train: they blew up, or their config cannot be trained.
FAILED = (DIVERGED, INVALID)
# Statuses a trial reports on an epoch that is not its last.
RUNNING = "running"
# Ray's statuses of a trial that an interrupt left unfinished.
RAY_UNFINISHED = ("PENDING", "RUNNING", "PAUSED")


def status_counts(trials: pd.DataFrame) -> dict[str, int]:
    """How many trials have each status, every status listed (zeros included)."""
    if trials.empty or "status" not in trials:
        return dict.fromkeys(STATUSES, 0)
    counts = trials["status"].value_counts()
    return {s: int(counts.get(s, 0)) for s in STATUSES}


def metric_values(trials: pd.DataFrame, metric: str) -> pd.Series:
    """Each trial's value of ``metric`` at its best epoch (its final value where no best
    is recorded), as floats."""
    nan = pd.Series(math.nan, index=trials.index)
    best = trials.get(BEST_PREFIX + metric, nan)
    final = trials.get(metric, nan)
    return pd.to_numeric(pd.Series(best).fillna(final), errors="coerce")


def best_trial(trials: pd.DataFrame, metric: str, mode: str) -> pd.Series | None:
    """The best scored trial: the highest (mode max) or lowest (min) value of ``metric``
    at its best epoch, among trials whose status is in SCORED. None when there is none."""
    if trials.empty or "status" not in trials:
        return None
    values = metric_values(trials, metric)[trials["status"].isin(SCORED)].dropna()
    if values.empty:
        return None
    return trials.loc[values.idxmax() if mode == "max" else values.idxmin()]


def config_columns(row: Mapping[str, Any]) -> dict[str, Any]:
    """``{key: value}`` from a row's ``config/<key>`` entries."""
    return {
        str(k)[len(CONFIG_PREFIX) :]: v for k, v in row.items() if str(k).startswith(CONFIG_PREFIX)
    }


# --- values ----------------------------------------------------------------------------


def member_results(result: Mapping[str, Any] | None) -> dict[str, dict[str, Any]]:
    """A fused group's result: member id -> the result that member reported in it; {}
    for anything that is not a group result the harness wrote (a damaged line)."""
    text = (result or {}).get(MEMBERS)
    if not isinstance(text, str) or len(text) > MAX_MEMBERS_TEXT:
        return {}
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {str(k): v for k, v in data.items() if isinstance(v, dict)}


def listed_members(config: Mapping[str, Any] | None) -> dict[str, dict[str, Any]]:
    """A fused group's config: member id -> the params it was proposed with."""
    items = (config or {}).get(MEMBERS)
    if not isinstance(items, list):
        return {}
    return {
        str(m["id"]): dict(m["params"]) if isinstance(m.get("params"), dict) else {}
        for m in items
        if isinstance(m, dict) and "id" in m
    }


def is_group(result_or_config: Mapping[str, Any] | None) -> bool:
    return bool(result_or_config) and MEMBERS in result_or_config  # type: ignore[operator]


def ended(result: Mapping[str, Any]) -> bool:
    """Whether a member's result is its last (it is no longer running)."""
    return result.get("status") not in (RUNNING, None)


def first_trial_config(values: Iterable[Any]) -> dict[str, Any] | None:
    """The config a trial reported it ran with: the first of ``values`` (its results'
    ``trial_config`` entries, in order) that is JSON text of a mapping; else None."""
    for text in values:
        if isinstance(text, str):
            try:
                config = json.loads(text)
            except (ValueError, RecursionError):
                continue
            if isinstance(config, dict):
                return config
    return None


def is_encoded(values: list[Any]) -> bool:
    """Choices of lists (Conv2d channels) travel as indices: Optuna's categorical
    distribution takes only None, bool, int, float and str."""
    return any(isinstance(v, (list, tuple, dict)) for v in values)


def decode_choice(distribution: Any, sampled: Any) -> Any:
    """The value a sampled index stands for, given the spec's ``{kind: args}`` of that
    parameter; ``sampled`` itself when the distribution is not encoded (or the index
    does not fit, as in a damaged folder)."""
    if not isinstance(distribution, Mapping) or len(distribution) != 1:
        return sampled
    ((kind, values),) = distribution.items()
    if kind not in ("choice", "grid") or not isinstance(values, (list, tuple)):
        return sampled
    if not is_encoded(list(values)):
        return sampled
    with contextlib.suppress(ValueError, TypeError, IndexError, OverflowError):
        return values[int(sampled)]
    return sampled


def decode_params(
    space: Mapping[str, Any], variants: Mapping[str, Any], sampled: Mapping[str, Any]
) -> dict[str, Any]:
    """Sampled values (as Ray hands them) -> the config values they stand for: encoded
    choices decoded, and a ``variant`` expanded into its overrides (``variant`` kept)."""
    out = {
        k: decode_choice(space[k], v) if k in space else v
        for k, v in sampled.items()
        if k != TRIAL_INDEX
    }
    variant = out.pop("variant", None)
    if variant is None:
        return out
    overrides = variants.get(variant) if isinstance(variants, Mapping) else None
    # The trial ran with its variant's overrides under the sampled values.
    merged = {**(overrides if isinstance(overrides, Mapping) else {}), **out}
    return {**merged, "variant": variant}


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


# A terminal's colour and cursor codes (Ray colours the tracebacks it writes to error.txt).
ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]")


def strip_ansi(text: str) -> str:
    return ANSI.sub("", text)


# How Ray 2.60 says that a trial's worker went away with its node: "The actor <id> is
# unavailable: ... RpcError: RPC error: Socket closed ..." (seen when a worker node's
# raylet was killed), "... because its node has died", or "the actor's node was
# terminated unexpectedly" (seen in CI, same kill). Not an actor that died with
# its own process ("The actor died unexpectedly ... its worker process has died"):
# that is the trial's own failure, said as Ray says it.
NODE_LOST = re.compile(
    r"The actor \w+ is unavailable|NodeDiedError|its node has died|node was terminated unexpectedly"
)
NODE_IP = re.compile(r"\bip[:=]\s*'?(\d{1,3}(?:\.\d{1,3}){3})")


def node_lost(text: str) -> str | None:
    """The one-line reason of a trial lost with its node (with the node's IP where Ray
    gives it), or None when ``text`` is not Ray's word for that."""
    plain = strip_ansi(str(text))
    if not NODE_LOST.search(plain):
        return None
    ip = NODE_IP.search(plain)
    where = f" ({ip.group(1)})" if ip else ""
    return (
        f"lost with its node{where}: Ray lost the worker that ran it (raise max_failures "
        "to retry such trials from their last checkpoint)"
    )


def error_line(text: str, limit: int = 300) -> str:
    """One line for the tables: a lost node said as such, else the last 'Type: message'
    line of a traceback."""
    lost = node_lost(text)
    if lost is not None:
        return lost[:limit]
    lines = [line.strip() for line in strip_ansi(str(text)).splitlines() if line.strip()]
    for line in reversed(lines):
        if ":" in line and not line.startswith(("File ", "^")):
            return line[:limit]
    return (lines[-1] if lines else "error")[:limit]


# --- CSV cells a spreadsheet would run (issue 21) -------------------------------------
# A text cell that starts with one of these is a formula to Excel, LibreOffice and
# Google Sheets (OWASP, "CSV Injection"): it is written with a leading ' (which the
# spreadsheets hide), and read back without it. A cell that already starts with 's
# before such a character gets one more, so that reading restores it exactly.
FORMULA = re.compile(r"'*[=+\-@\t\r]")


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def escape_cell(value: Any) -> Any:
    """``value`` as a CSV cell no spreadsheet runs: text only; numbers (negative ones
    included, and text that is a number) stay as they are."""
    if isinstance(value, str) and FORMULA.match(value) and not _is_number(value):
        return "'" + value
    return value


def unescape_cell(value: Any) -> Any:
    if isinstance(value, str) and value.startswith("'") and FORMULA.match(value[1:]):
        return value[1:]
    return value


def _map_text(frame: pd.DataFrame, fn: Any) -> pd.DataFrame:
    out = frame.copy()
    for column in out.columns:
        if pd.api.types.is_object_dtype(out[column]) or pd.api.types.is_string_dtype(out[column]):
            out[column] = out[column].map(fn)
    out.columns = [fn(c) for c in out.columns]
    if pd.api.types.is_object_dtype(out.index) or pd.api.types.is_string_dtype(out.index):
        out.index = out.index.map(fn)
    return out


def csv_bytes(frame: pd.DataFrame, index: bool = False) -> bytes:
    """The one way the harness writes a CSV (trials.csv, history.csv, the reports'
    tables): text that a spreadsheet would take for a formula is escaped."""
    escaped = _map_text(frame, escape_cell)
    # pandas quotes a cell holding "\n" but not one holding a lone "\r" (its line end is
    # "\n"), which a reader then takes for a line break: quote every text cell then.
    texts = escaped.select_dtypes(include=["object", "string"])
    has_cr = any(texts[c].astype(str).str.contains("\r", regex=False).any() for c in texts)
    quoting = csv.QUOTE_NONNUMERIC if has_cr else csv.QUOTE_MINIMAL
    return escaped.to_csv(index=index, quoting=quoting).encode("utf-8")


def unescape_csv(frame: pd.DataFrame) -> pd.DataFrame:
    """A CSV written by :func:`csv_bytes`, with its cells as they were."""
    return _map_text(frame, unescape_cell)
