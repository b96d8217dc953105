"""Processes seen through /proc: a vantage's prober by its parent, and whether it is still there."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

from ..test_prober_process import pid_alive

BOOTSTRAP = "exec(eval(sys.stdin.readline()))"  # execnet's popen command line: how a gateway process is known


def children(parent: int) -> list[int]:
    """The pids of the gateway processes (execnet's bootstrap command line) whose parent is ``parent``."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rpartition(")")[2].split()[1])
        except (OSError, ValueError, IndexError):  # gone while we looked
            continue
        if ppid == parent and is_gateway(int(stat.parent.name)):
            found.append(int(stat.parent.name))
    return found


def is_gateway(pid: int) -> bool:
    """True when ``pid`` runs execnet's bootstrap (a prober, here or behind sshd)."""
    try:
        return BOOTSTRAP in Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:  # gone
        return False


def gone(pid: int, within: float = 15.0) -> bool:
    """True once ``pid`` has ended (or is a zombie), waiting at most ``within`` seconds."""
    deadline = time.monotonic() + within
    while pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    return not pid_alive(pid)


def wait_until(condition: Callable[[], object], within: float = 15.0) -> None:
    """Poll ``condition()`` until true (at most ``within`` seconds)."""
    deadline = time.monotonic() + within
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.02)
