"""Processes and sockets on this machine, read from /proc (Linux), for the reliability tests;
and ``study`` started as a user starts it, its output read as it comes."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

STUDY = str(Path(sys.executable).parent / "study")


def spawn(*args: str, env: dict[str, str], stderr: int = subprocess.PIPE) -> subprocess.Popen:
    """``study ARGS`` in a subprocess, its stdout piped (``stderr``: piped apart, or
    ``subprocess.STDOUT`` for one stream)."""
    return subprocess.Popen(
        [STUDY, *args], stdout=subprocess.PIPE, stderr=stderr, text=True, env=env
    )


def read_until(
    proc: subprocess.Popen, count: int, what: str, timeout: float, strict: bool = False
) -> list[str]:
    """Lines of ``proc``'s stdout until ``count`` of them contain ``what``; at the end of
    the output or of ``timeout``, what was read (``strict``: a failed assertion holding
    it instead)."""
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while sum(what in line for line in seen) < count:
        if time.monotonic() >= deadline:
            assert not strict, "".join(seen)
            break
        line = proc.stdout.readline()  # type: ignore[union-attr]
        if not line:
            assert not strict, "".join(seen)
            break
        seen.append(line)
    return seen


def cmdline(pid: int) -> str:
    try:
        return (
            Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        )
    except OSError:
        return ""


def pids() -> list[int]:
    return [int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit()]


def with_marker(marker: str) -> list[int]:
    """Live processes whose command line contains ``marker`` (a Ray session folder, say)."""
    me = os.getpid()
    return [pid for pid in pids() if pid != me and marker in cmdline(pid) and alive(pid)]


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"  # a zombie has exited; only its parent has not reaped it


def descendants(root: int) -> set[int]:
    """``root``'s live child processes, recursively."""
    children: dict[int, list[int]] = {}
    for pid in pids():
        try:
            ppid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(pid)
    found: set[int] = set()
    todo = [root]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def kill(found: list[int] | set[int], sig: int = signal.SIGKILL) -> None:
    for pid in found:
        with contextlib.suppress(OSError):
            os.kill(pid, sig)


def wait_gone(found: list[int] | set[int], timeout: float) -> list[int]:
    """Wait until none of ``found`` is alive; return those still alive at ``timeout``."""
    deadline = time.monotonic() + timeout
    left = [p for p in found if alive(p)]
    while left and time.monotonic() < deadline:
        time.sleep(0.2)
        left = [p for p in left if alive(p)]
    return left


def _socket_inodes(pid: int) -> set[str]:
    inodes = set()
    try:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    except OSError:
        pass
    return inodes


def _hex_address(text: str, v6: bool) -> str:
    host, port = text.split(":")
    raw = bytes.fromhex(host)
    if v6:
        words = [raw[i : i + 4][::-1] for i in range(0, 16, 4)]
        address = ":".join(b"".join(words)[i : i + 2].hex() for i in range(0, 16, 2))
    else:
        address = ".".join(str(b) for b in raw[::-1])
    return f"{address}:{int(port, 16)}"


def listening(pids_: set[int] | list[int]) -> list[tuple[int, str]]:
    """(pid, 'address:port') for every TCP socket in LISTEN state that ``pids_`` hold."""
    owner = {inode: pid for pid in pids_ for inode in _socket_inodes(pid)}
    found = []
    for name, v6 in (("tcp", False), ("tcp6", True)):
        try:
            lines = Path(f"/proc/net/{name}").read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if fields[3] == "0A" and fields[9] in owner:  # 0A: TCP_LISTEN
                found.append((owner[fields[9]], _hex_address(fields[1], v6)))
    return found


def is_loopback(address: str) -> bool:
    host = address.rsplit(":", 1)[0]
    return host.startswith("127.") or host in ("0000:0000:0000:0000:0000:0000:0000:0001",)
