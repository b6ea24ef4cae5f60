"""What survives a SIGKILL of the driver: a ledger of finished trials and a state backup.

Ray Tune writes trial results and its experiment state to a staging folder under
Ray's session directory, and copies that folder to the experiment folder every
10 s or more, file by file, in place. A driver killed with SIGKILL therefore
leaves the experiment folder up to one copy behind, and if the kill lands during
a copy, with an empty or truncated experiment state that Ray cannot resume from
(measured: a kill 10 s into a study left a 0-byte experiment_state file, and
Tuner.restore then quietly started a wrong experiment). Two records guard this:

- ``finished.jsonl``: each trial's end is appended straight into the experiment
  folder and fsync'ed before its line is printed. ``study resume`` reports such a
  trial with the result of its first end (its original result), even when Ray's
  older state made it run the trial again, and drops the epochs the rerun repeated.
- ``.study-state/``: after each step in which Ray saved its experiment state,
  the saved files (experiment state, searcher state) are copied here, each
  written to a temporary name and renamed, so the copy is whole or absent.
  Before resuming, a set of Ray's files that is empty or cut short is replaced
  by this copy, taken at the same moment for all the files.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from experiment_folder import INVALID_FILE as INVALID
from experiment_folder import LEDGER_FILE as LEDGER
from experiment_folder import STATE_BACKUP_DIR as BACKUP

log = logging.getLogger(__name__)
STATE_PREFIXES = (
    "experiment_state-",
    "searcher-state-",
    "search_gen_state-",
    "basic-variant-state-",
)


def _append(path: Path, entry: dict[str, Any]) -> None:
    """Append one JSON line and fsync it; a failure is logged (the study goes on, and
    only a later SIGKILL would lose the line)."""
    # Python's json writes and reads nan/inf (as NaN/Infinity); what it cannot encode
    # (a numpy scalar, say) is written as its text.
    line = json.dumps(entry, default=str)
    try:
        with open(path, "a", encoding="utf-8") as f:
            f.write(line + "\n")
            f.flush()
            os.fsync(f.fileno())
    except OSError as exc:
        log.warning("could not record %s in %s: %s", entry.get("trial_id"), path, exc)


def _first_of_each(path: Path) -> dict[str, dict[str, Any]]:
    """trial_id -> the first line that names it; lines cut short by a kill are skipped."""
    if not path.is_file():
        return {}
    found: dict[str, dict[str, Any]] = {}
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:  # RecursionError: a line nested thousands deep (issue 21)
            entry = dict(json.loads(line))
            found.setdefault(str(entry["trial_id"]), entry)
        except (ValueError, KeyError, TypeError, RecursionError):
            continue
    return found


def record(
    folder: Path, trial_id: str, ray_status: str, result: dict[str, Any], trial_dir: str = ""
) -> None:
    """Append one finished trial (its Ray status, last result and trial folder's name),
    durably."""
    entry = {"trial_id": trial_id, "ray_status": ray_status, "result": result}
    _append(folder / LEDGER, {**entry, "trial_dir": trial_dir})


def record_group(folder: Path, group: str, ray_status: str) -> None:
    """Append the end of a fused group's Ray trial (its members' ends are records of their
    own), durably: ``study resume`` must not run it again (mark_finished)."""
    _append(folder / LEDGER, {"trial_id": group, "ray_status": ray_status, "group_end": True})


def read_groups(folder: Path) -> dict[str, str]:
    """Fused groups' Ray trials that ended: group id -> Ray status."""
    return {
        trial_id: str(entry.get("ray_status"))
        for trial_id, entry in _first_of_each(folder / LEDGER).items()
        if entry.get("group_end") is True
    }


def read(folder: Path) -> dict[str, dict[str, Any]]:
    """trial_id -> its first record (the original end); fused groups' own ends are not
    trials (read_groups)."""
    found = {}
    for trial_id, entry in _first_of_each(folder / LEDGER).items():
        if entry.get("group_end") is not True and isinstance(entry.get("result"), dict):
            found[trial_id] = {
                "ray_status": entry.get("ray_status"),
                "result": _scalars(entry["result"]),
                "trial_dir": str(entry.get("trial_dir") or ""),
            }
    return found


def _scalars(result: dict[str, Any]) -> dict[str, Any]:
    """A result's plain values: what a trial reports is numbers and text, and anything
    else in a ledger line (a structure nested thousands deep, say) was not written by
    the harness and would only break the tables later."""
    return {
        str(k): v for k, v in result.items() if v is None or isinstance(v, (str, int, float, bool))
    }


def record_invalid(folder: Path, entry: dict[str, Any]) -> None:
    """Append one invalid proposal (never a Ray trial: the Optuna searcher skips it),
    durably."""
    _append(folder / INVALID, entry)


def read_invalid(folder: Path) -> list[dict[str, Any]]:
    """The invalid proposals, each once, in the order they were made."""
    return list(_first_of_each(folder / INVALID).values())


class StateBackup:
    """Copies Ray's freshly saved experiment-state files from its staging folder."""

    def __init__(self) -> None:
        self._seen: dict[str, tuple[int, int]] = {}
        self._files: list[Path] = []

    def _state_files(self, staging: Path) -> list[Path]:
        """Ray's state files in ``staging``, found once: Ray writes them all in the same
        save, so the folder (which also holds a folder per trial) is listed only until
        they appear; afterwards only these files are looked at."""
        if not self._files:
            try:
                self._files = sorted(
                    p for p in staging.iterdir() if p.name.startswith(STATE_PREFIXES)
                )
            except OSError:
                return []
        return self._files

    def after_step(self, staging: Path, folder: Path) -> None:
        files = self._state_files(staging)
        changed = []
        for path in files:
            try:
                stat = path.stat()
            except OSError:
                continue
            if self._seen.get(path.name) != (stat.st_mtime_ns, stat.st_size):
                changed.append(path)
                self._seen[path.name] = (stat.st_mtime_ns, stat.st_size)
        if not changed:
            return
        target = folder / BACKUP
        try:
            target.mkdir(exist_ok=True)
            for path in files:  # the whole set, so that it stays consistent
                _copy_atomic(path, target / path.name)
        except OSError as exc:
            log.warning("could not back up the experiment state to %s: %s", target, exc)


def _copy_atomic(source: Path, target: Path) -> None:
    """Copy whole or not at all, never through a link at the target (state files are
    small: read whole)."""
    _write_atomic(target, source.read_bytes())


def _same(one: Path, other: Path) -> bool:
    try:
        return one.read_bytes() == other.read_bytes()
    except OSError:
        return False


def _whole(path: Path) -> bool:
    """Whether a state file looks complete: non-empty, valid JSON or a pickle with its end."""
    try:
        data = path.read_bytes()
    except OSError:
        return False
    if not data:
        return False
    if data.startswith(b"\x80"):  # a pickle (whatever its name says) ends with STOP
        return data.endswith(b".")
    try:
        json.loads(data)
    except (ValueError, RecursionError):
        return False
    return True


def repair_state(folder: Path, prefer_backup: bool = False) -> list[str]:
    """Before resuming: where Ray's state files in ``folder`` are cut short or missing
    beside the backup, put the backup's set in place. Returns the names replaced.

    With ``prefer_backup`` the backup's set replaces Ray's whenever it is whole and
    differs: for a study whose Ray state Ray uploaded to a storage URI itself (on a
    cluster), file by file at its own pace, so that a killed driver can leave there
    an experiment state older than its searcher's state (measured: the grid's
    generator then counted a trial the state lacked, and the resumed study waited for
    it for ever). The backup's files were all taken at one moment."""
    backup = folder / BACKUP
    if not backup.is_dir():
        return []
    saved = [p for p in backup.iterdir() if p.is_file() and not p.name.startswith(".")]
    if prefer_backup:
        broken = [p for p in saved if not _same(p, folder / p.name)]
    else:
        broken = [p for p in saved if not _whole(folder / p.name)]
    if not broken or not all(_whole(p) for p in saved):
        return []
    for path in saved:
        _copy_atomic(path, folder / path.name)
    log.warning(
        "%s: Ray's saved state was cut short (%s); resuming from the harness's copy",
        folder,
        ", ".join(p.name for p in broken),
    )
    return [p.name for p in saved]


# Ray's statuses of a trial it would run (again) on restore.
_WOULD_RUN = ("PENDING", "RUNNING", "PAUSED")


def mark_finished(folder: Path) -> list[str]:
    """Before resuming: where Ray's saved state holds as unfinished a trial the ledger
    holds as ended (it ended after Ray last saved its state: a SIGKILL, a full disk),
    mark it ended there as the ledger says, so that Ray does not run it again (issue
    21). Returns the trial ids marked.

    Each ``experiment_state-*.json`` is Ray's JSON: a ``trial_data`` list of
    [trial state (JSON text), run metadata (JSON text)]; only the state's ``status`` is
    changed, and the rest is written back as it was read (plain JSON, nothing decoded)."""
    ended = {tid: e["ray_status"] for tid, e in read(folder).items()}
    ended.update(read_groups(folder))
    ended = {tid: st for tid, st in ended.items() if st in ("TERMINATED", "ERROR")}
    marked: list[str] = []
    if not ended:
        return marked
    for path in sorted(folder.glob("experiment_state-*.json")):
        try:
            state = json.loads(path.read_bytes())
            trials = state["trial_data"]
            changed = False
            for item in trials:
                trial = json.loads(item[0])
                tid = str(trial.get("trial_id"))
                if tid in ended and trial.get("status") in _WOULD_RUN:
                    trial["status"] = ended[tid]
                    item[0] = json.dumps(trial, indent=2)
                    changed = True
                    if tid not in marked:
                        marked.append(tid)
        except (OSError, ValueError, RecursionError, KeyError, TypeError, IndexError):
            continue  # not a state Ray could restore from either: Ray says so
        if changed:
            _write_atomic(path, json.dumps(state, indent=2).encode("utf-8"))
    if marked:
        log.info(
            "%d trial(s) ended after Ray last saved its state; they keep their end and are "
            "not run again",
            len(marked),
        )
    return marked


def _write_atomic(target: Path, data: bytes) -> None:
    """Write whole or not at all, never through a link at the target: into a new file
    (O_EXCL) that then replaces ``target`` itself."""
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


# The experiment folder a resumed study is being restored into (set by restoring()):
# Ray restores searchers by unpickling them, with no way to pass them arguments.
_restoring_into: Path | None = None


@contextlib.contextmanager
def restoring(folder: Path) -> Iterator[None]:
    """While Ray Tune restores a study from ``folder``: its searchers rebind there
    (optuna_search) and forget what the ledger holds as ended (variants, HarnessLimiter)."""
    global _restoring_into
    _restoring_into = folder
    try:
        yield
    finally:
        _restoring_into = None


def restoring_into() -> Path | None:
    """The folder being restored, or None outside a restore."""
    return _restoring_into


def ended_while_restoring() -> set[str]:
    """While a study is restored: the trials (and fused groups) its ledger holds as
    ended, which Ray will never report ended again (mark_finished); else none."""
    if _restoring_into is None:
        return set()
    return set(read(_restoring_into)) | set(read_groups(_restoring_into))
