"""The test daemons die with the process that started them, even when it dies without a teardown."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .daemons import ORPHAN_GUARD

ROOT = Path(__file__).parents[2]
STARTER = """
import os, sys
from tests.protocols.daemons import Unavailable, start_sshd
try:
    daemon = start_sshd()
except Unavailable as exc:
    print("unavailable", exc, flush=True)
    os._exit(0)
print(daemon.processes[0].pid, daemon.workdir, flush=True)
os._exit(1)  # as an xdist worker ended by -x, or a SIGKILL: no teardown runs
"""


def alive(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "zombie" not in status


def test_daemon_dies_with_the_process_that_started_it() -> None:
    if not ORPHAN_GUARD:
        pytest.skip("needs setpriv (util-linux) for the parent-death signal")
    done = subprocess.run([sys.executable, "-c", STARTER], cwd=ROOT, capture_output=True, text=True, timeout=60)
    words = done.stdout.split()
    if words[:1] == ["unavailable"]:
        pytest.skip(done.stdout)
    pid, workdir = int(words[0]), Path(words[1])
    try:
        deadline = time.monotonic() + 10
        while alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not alive(pid), f"sshd {pid} outlived the process that started it"
    finally:
        if alive(pid):
            os.kill(pid, 9)
        subprocess.run(["rm", "-rf", str(workdir)], check=False)
