"""A throw-away network lab in Linux namespaces: client, bridge, targets, firewall, listeners.

Topology (names carry this process's PID, so concurrent or stale labs never collide)::

    ns apb<PID>c (client)        ns apb<PID>s (switch)          ns apb<PID>t (targets)
    198.18.0.1/15  --veth--  [ bridge br0 ]  --veth--  198.18.1.1..N/15, 198.18.2.1/15
                                                          nftables: drop 1/3, reject 1/3
                                                          listener.py on the open 1/3
                                             --veth--  ns apb<PID>w (sweep targets, with --sweep-hosts)
                                                          198.18.3.1..N/15, every port 1024-65535:
                                                          drop 1/3, reject 1/3, listener.py on 1/3

All target hosts are addresses in ONE target namespace: the client still
dials distinct IPs (which is what per-host limits, ARP and routing key on),
while one nftables ruleset and one listener process serve them all, so the
two cores stay with the tools under test instead of 50 idle interpreters.
The bridge lives in its own namespace so the host's network is never touched.
Every address is in 198.18.0.0/15 (RFC 2544), never routed anywhere.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from specs import (BASE_PORT, CLIENT_ADDRESS, PREFIX_LEN, RANGE_ADDRESS, Size, Sweep, range_open_ports, state_of,
                   sweep_ports)

LISTENER = Path(__file__).with_name("listener.py")
NS_PREFIX = "apb"
READY_TIMEOUT = 30.0
SOCKETS_PER_LISTENER = 16000  # below the usual hard RLIMIT_NOFILE of 20000: the sweep's 21k sockets take two


def sh(*argv: str, stdin: str | None = None, timeout: float = 30.0) -> str:
    """Run a setup command; a failure raises with the command's own message."""
    done = subprocess.run(argv, input=stdin, capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: {done.stderr.strip() or done.stdout.strip()}")
    return done.stdout


def nft_ruleset(addresses: list[str], ports: list[int]) -> str:
    """Drop or reset by (address, port) so the range host, outside the set, keeps its kernel defaults."""
    dropped = [p for p in ports if state_of(p) == "dropped"]
    refused = [p for p in ports if state_of(p) == "refused"]
    return f"""
table inet activate_bench {{
  set targets {{ type ipv4_addr; elements = {{ {", ".join(addresses)} }} }}
  set dropped {{ type inet_service; elements = {{ {", ".join(map(str, dropped))} }} }}
  set refused {{ type inet_service; elements = {{ {", ".join(map(str, refused))} }} }}
  chain input {{
    type filter hook input priority filter; policy accept;
    ip daddr @targets tcp dport @dropped drop
    ip daddr @targets tcp dport @refused reject with tcp reset
  }}
}}
"""


def sweep_ruleset() -> str:
    """Every address of the sweep namespace drops or resets the same thirds of 1024-65535; the listener has the rest."""
    return f"""
table inet activate_sweep {{
  set dropped {{ type inet_service; elements = {{ {", ".join(map(str, sweep_ports("dropped")))} }} }}
  set refused {{ type inet_service; elements = {{ {", ".join(map(str, sweep_ports("refused")))} }} }}
  chain input {{
    type filter hook input priority filter; policy accept;
    tcp dport @dropped drop
    tcp dport @refused reject with tcp reset
  }}
}}
"""


@dataclass
class Lab:
    """The namespaces and processes of one benchmark run; :meth:`close` removes all of them."""

    size: Size  # the largest workload: smaller ones use a prefix of its hosts and ports
    workdir: Path
    tag: str = field(default_factory=lambda: f"{NS_PREFIX}{os.getpid()}")
    sweep: Sweep | None = None  # hosts of the sweep workload, in a target namespace of their own
    namespaces: list[str] = field(default_factory=list)
    listeners: list[subprocess.Popen[str]] = field(default_factory=list)
    counters: list[Path] = field(default_factory=list)  # where each listener publishes its accept count

    @property
    def client(self) -> str:
        return f"{self.tag}c"

    @property
    def switch(self) -> str:
        return f"{self.tag}s"

    @property
    def target(self) -> str:
        return f"{self.tag}t"

    @property
    def sweep_target(self) -> str:
        return f"{self.tag}w"

    def accepted(self) -> int:
        """Connections the listeners have accepted so far (each publishes every 50 ms)."""
        try:
            return sum(int(counter.read_text()) for counter in self.counters)
        except (OSError, ValueError):
            return -1

    def open(self) -> None:
        """Build everything; on any failure the caller's ``close`` removes what was made."""
        for ns in (self.switch, self.client, self.target):
            sh("ip", "netns", "add", ns)
            self.namespaces.append(ns)
            sh("ip", "-n", ns, "link", "set", "lo", "up")
        sh("ip", "-n", self.switch, "link", "add", "br0", "type", "bridge")
        sh("ip", "-n", self.switch, "link", "set", "br0", "up")
        addresses = self.size.addresses()
        self._plug(self.client, "c", [CLIENT_ADDRESS])
        self._plug(self.target, "t", [*addresses, RANGE_ADDRESS])
        sh("ip", "netns", "exec", self.target, "nft", "-f", "-", stdin=nft_ruleset(addresses, self.size.port_numbers()))
        open_ports = [p for p in self.size.port_numbers() if state_of(p) == "open"]
        self._start_listener(self.target, [[a, p] for a in addresses for p in open_ports]
                             + [[RANGE_ADDRESS, p] for p in range_open_ports()])
        if self.sweep is not None and self.sweep.hosts:
            sh("ip", "netns", "add", self.sweep_target)
            self.namespaces.append(self.sweep_target)
            sh("ip", "-n", self.sweep_target, "link", "set", "lo", "up")
            self._plug(self.sweep_target, "w", self.sweep.addresses())
            sh("ip", "netns", "exec", self.sweep_target, "nft", "-f", "-", stdin=sweep_ruleset(), timeout=120)
            # One wildcard socket per open port serves every sweep host: 21k sockets, not 21k per host.
            self._start_listener(self.sweep_target, [["0.0.0.0", p] for p in sweep_ports("open")])

    def _plug(self, ns: str, letter: str, addresses: list[str]) -> None:
        inside, outside = f"{self.tag}{letter}0", f"{self.tag}{letter}1"
        sh("ip", "link", "add", inside, "netns", ns, "type", "veth", "peer", "name", outside, "netns", self.switch)
        sh("ip", "-n", self.switch, "link", "set", outside, "master", "br0", "up")
        for address in addresses:
            sh("ip", "-n", ns, "addr", "add", f"{address}/{PREFIX_LEN}", "dev", inside)
        sh("ip", "-n", ns, "link", "set", inside, "up")

    def _start_listener(self, ns: str, endpoints: list[list[object]]) -> None:
        for first in range(0, len(endpoints), SOCKETS_PER_LISTENER):
            self._start_one_listener(ns, endpoints[first:first + SOCKETS_PER_LISTENER], first // SOCKETS_PER_LISTENER)

    def _start_one_listener(self, ns: str, endpoints: list[list[object]], index: int) -> None:
        config = self.workdir / f"listener-{ns}-{index}.json"
        counter = self.workdir / f"accepted-{ns}-{index}.txt"
        self.counters.append(counter)
        config.write_text(json.dumps({"endpoints": endpoints, "counter": str(counter)}))
        # `ip netns exec` execs the command, so this PID is the listener's own.
        listener = subprocess.Popen(["ip", "netns", "exec", ns, sys.executable, str(LISTENER), str(config)],
                                    stdout=subprocess.PIPE, text=True, start_new_session=True)
        self.listeners.append(listener)
        assert listener.stdout is not None
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            line = listener.stdout.readline()
            if line.strip() == "ready":
                return
            if not line and listener.poll() is not None:
                break
        raise RuntimeError(f"listener in {ns} did not start (exit {listener.poll()}); {len(endpoints)} sockets on port base {BASE_PORT}")

    def close(self) -> None:
        """Stop the listener by PID, end any process left in our namespaces by PID, delete the namespaces."""
        for listener in self.listeners:
            _stop(listener.pid, listener)
        self.listeners.clear()
        for ns in reversed(self.namespaces):
            for pid in _pids(ns):
                _stop(pid, None)
            try:
                sh("ip", "netns", "delete", ns)
            except (RuntimeError, subprocess.TimeoutExpired) as exc:
                print(f"warning: could not delete namespace {ns}: {exc}", file=sys.stderr)
        self.namespaces.clear()


def _pids(ns: str) -> list[int]:
    try:
        return [int(p) for p in sh("ip", "netns", "pids", ns).split()]
    except (RuntimeError, subprocess.TimeoutExpired):
        return []


def _stop(pid: int, proc: subprocess.Popen[str] | None) -> None:
    """SIGTERM, a short grace period, then SIGKILL: always this one PID, never by name."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    for _ in range(50):
        if proc is not None and proc.poll() is not None:
            return
        if proc is None:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
        time.sleep(0.05)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return
    if proc is not None:
        proc.wait(5)


def remove_stale() -> list[str]:
    """Delete labs left by a bench process that was SIGKILLed (its PID, in the name, is gone)."""
    removed = []
    for line in sh("ip", "netns", "list").splitlines():
        name = line.split()[0] if line.strip() else ""
        owner = name[len(NS_PREFIX):-1]
        if not (name.startswith(NS_PREFIX) and owner.isdigit() and name[-1] in "cstw"):
            continue
        if Path(f"/proc/{owner}").exists():
            continue  # a live bench run owns it
        for pid in _pids(name):
            _stop(pid, None)
        sh("ip", "netns", "delete", name)
        removed.append(name)
    return removed
