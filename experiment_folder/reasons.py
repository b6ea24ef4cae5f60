"""The one-line reason of a trial's error, as the tables give it: Ray's tracebacks
without their terminal colours, and a trial lost with its node said as such.
"""

from __future__ import annotations

import re

__all__ = [
    "ANSI",
    "NODE_IP",
    "NODE_LOST",
    "error_line",
    "node_lost",
    "stopped_reason",
    "strip_ansi",
]

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


def stopped_reason(epoch: object) -> str:
    """Why a solo trial that Ray's scheduler or the time budget stopped ended where it
    did (its last result's ``epoch``; None before its first epoch ended)."""
    if epoch is None:
        return "stopped by the scheduler or time budget before its first epoch ended"
    return f"stopped by the scheduler or time budget after epoch {epoch}"
