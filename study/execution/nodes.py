"""A node lost while a study runs on a cluster: one line on the terminal per node, and
Ray's own words about it in ``nodes.log`` in the experiment folder (issue 22).

Ray prints nothing into the study's output (cluster.py joins with log_to_driver off,
and its loggers are silenced without --debug), so without this a lost node shows
only as trials retried. Ray says that a trial's worker went with its node in the
trial's error (experiment_folder.node_lost): the first such failure per node is the
moment to say so. Ray's health check marks the node dead in its node table only
some seconds later, often after a short study has ended, so that table is not asked."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from ray import tune

from experiment_folder import ERROR_FILE, NODE_IP, NODES_LOG, node_lost, strip_ansi
from study.execution.durability import active_folder

log = logging.getLogger(__name__)


class NodeWatch(tune.Callback):
    """Says once per node that the study lost it, and keeps Ray's text in nodes.log."""

    def __init__(self, max_failures: int) -> None:
        self.max_failures = max_failures
        self.said: set[str] = set()  # the IPs of the nodes said lost ("" where Ray gave none)
        self.where: dict[str, str] = {}  # trial id -> the IP of the node it last ran on

    def on_trial_result(
        self, iteration: int, trials: list[Any], trial: Any, result: dict[str, Any], **info: Any
    ) -> None:
        ip = result.get("node_ip")  # Ray adds it to every result
        if ip:
            self.where[trial.trial_id] = str(ip)

    def on_trial_recover(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        self._check(trial, retried=True)

    def on_trial_error(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        self._check(trial, retried=False)

    def _check(self, trial: Any, retried: bool) -> None:
        try:
            text = Path(trial.local_path, ERROR_FILE).read_text(encoding="utf-8", errors="replace")
        except (OSError, TypeError):
            return
        if node_lost(text) is None:
            return
        found = NODE_IP.search(strip_ansi(text))
        ip = found.group(1) if found else self.where.get(trial.trial_id, "")
        self._record(trial, ip, text)
        if ip in self.said:
            return
        self.said.add(ip)
        then = (
            "its trials are retried from their last checkpoints"
            if retried
            else f"its trials end in error (max_failures {self.max_failures})"
        )
        log.warning(
            "lost %s: %s; Ray's account is in %s",
            f"the node {ip}" if ip else "a node",
            then,
            NODES_LOG,
        )

    def _record(self, trial: Any, ip: str, text: str) -> None:
        folder = active_folder()
        if folder is None:
            return
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        entry = (
            f"--- {stamp} node {ip or '?'}, trial {trial.trial_id}:\n{strip_ansi(text).strip()}\n"
        )
        try:
            with open(folder / NODES_LOG, "a", encoding="utf-8") as f:
                f.write(entry)
        except OSError as exc:
            log.debug("could not write %s: %s", NODES_LOG, exc)
