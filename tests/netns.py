"""A throwaway network namespace for tests that need root: created, used, always removed.

``ip netns exec`` bind-mounts ``/etc/netns/<name>/hosts`` over ``/etc/hosts``,
which lets a test give a name several addresses without touching the machine.
Processes started in it with :meth:`Namespace.spawn`, and any other process
still inside it, are killed by pid before it is deleted.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import uuid
from pathlib import Path
from types import TracebackType
from typing import IO, Any

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
        self._spawned: list[subprocess.Popen[str]] = []

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

    def add_address(self, address: str, device: str = "lo") -> None:
        """Give the namespace ``address`` (``198.18.x.y/32`` on its loopback by default)."""
        self.run("ip", "addr", "add", address, "dev", device)

    def link(self, other: Namespace, mine: str, theirs: str) -> None:
        """A veth pair between this namespace and ``other``, with ``mine`` and ``theirs`` (CIDR) on its ends."""
        subprocess.run(["ip", "-n", self.name, "link", "add", "veth0", "type", "veth", "peer", "name", "veth1",
                        "netns", other.name], check=True)
        for namespace, device, address in ((self, "veth0", mine), (other, "veth1", theirs)):
            namespace.add_address(address, device)
            namespace.run("ip", "link", "set", device, "up")

    def spawn(self, *argv: str, stdout: int | IO[Any] | None = subprocess.PIPE) -> subprocess.Popen[str]:
        """Start ``argv`` inside the namespace; it is killed (by pid) when the namespace is removed."""
        process = subprocess.Popen(["ip", "netns", "exec", self.name, *argv], stdin=subprocess.DEVNULL, stdout=stdout,
                                   stderr=subprocess.STDOUT, text=True)
        self._spawned.append(process)
        return process

    def pids(self) -> set[int]:
        """The processes inside the namespace now (``ip netns pids``)."""
        listed = subprocess.run(["ip", "netns", "pids", self.name], capture_output=True, text=True, check=False).stdout
        return {int(pid) for pid in listed.split()}

    def _remove(self) -> None:
        for pid in self.pids():  # whatever is still in there is this test's: spawned, or started through it
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for process in self._spawned:
            process.kill()
            process.wait()
            if process.stdout is not None:
                process.stdout.close()
        subprocess.run(["ip", "netns", "del", self.name], check=False)
        shutil.rmtree(self._etc, ignore_errors=True)

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self._remove()
