"""A throwaway network namespace for tests that need root: created, used, always removed.

``ip netns exec`` bind-mounts ``/etc/netns/<name>/hosts`` over ``/etc/hosts``,
which lets a test give a name several addresses without touching the machine.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from pathlib import Path
from types import TracebackType

import pytest


def require_netns() -> None:
    """Skip the calling test unless root with iproute2 can make namespaces here."""
    if os.geteuid() != 0:
        pytest.skip("needs root to create a network namespace")
    if shutil.which("ip") is None:
        pytest.skip("needs iproute2 ('ip') to create a network namespace")


class Namespace:
    """A network namespace with loopback up, optional /etc/hosts, deleted on exit."""

    def __init__(self, hosts: str | None = None) -> None:
        self.name = f"apt-{uuid.uuid4().hex[:8]}"
        self._etc = Path("/etc/netns") / self.name
        self._hosts = hosts

    def __enter__(self) -> Namespace:
        subprocess.run(["ip", "netns", "add", self.name], check=True)
        try:
            self.run("ip", "link", "set", "lo", "up")
            if self._hosts is not None:
                self._etc.mkdir(parents=True)
                (self._etc / "hosts").write_text(self._hosts)
        except BaseException:
            self._remove()
            raise
        return self

    def run(self, *argv: str, timeout: float = 60, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run a command inside the namespace and capture its output."""
        return subprocess.run(["ip", "netns", "exec", self.name, *argv], capture_output=True, text=True,
                              timeout=timeout, check=check)

    def _remove(self) -> None:
        subprocess.run(["ip", "netns", "del", self.name], check=False)
        shutil.rmtree(self._etc, ignore_errors=True)

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self._remove()
