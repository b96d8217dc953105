"""Dial: one connection attempt classified, including when the engine's thread was starved."""

from __future__ import annotations

import shutil
import socket
import sys
import time
from pathlib import Path

import pytest

from pytest_activate_ports.checks import Check, plan
from pytest_activate_ports.prober.dial import Dial
from pytest_activate_ports.probing import job_of
from pytest_activate_ports.prober.reactor import Reactor
from pytest_activate_ports.prober.probes import registry
from pytest_activate_ports.results import Job, PortState, ProbeResult, TlsConfig
from pytest_activate_ports.spec import load_spec

from .netns import Namespace, require_netns
from .servers import Listener


def tcp_check(tmp_path: Path, port: int) -> Check:
    spec = tmp_path / "spec.yaml"
    spec.write_text("version: 1\nhosts: {lb: {address: 127.0.0.1, roles: [lb]}}\n"
                    f"rules:\n  - {{id: up, from: internet, to: lb, port: {port}, expect: required}}\n")
    return plan(load_spec(spec), "internet").checks[0]


def never_speak(*args: object) -> None:
    raise AssertionError("a tcp check must not start a protocol probe")


def dialled(job: Job, port: int, timeout: float = 5, starve: float = 0) -> ProbeResult:
    """One dial's result; ``starve`` keeps the reactor's thread away that long after the SYN left."""
    reactor = Reactor()
    results: list[ProbeResult] = []

    def report(result: ProbeResult) -> None:
        results.append(result)
        reactor.stop()

    try:
        Dial(reactor, never_speak, job, port, socket.AF_INET, "127.0.0.1", timeout, report).start()  # the SYN is out
        time.sleep(starve)
        reactor.run()
    finally:
        reactor.close()
    [result] = results
    return result


def starved_dial(check: Check, port: int) -> PortState:
    """Start a dial with a 50 ms timeout, then keep its thread away for 300 ms, as a busy CPU or a held GIL would."""
    return dialled(job_of(check, 0), port, timeout=0.05, starve=0.3).state  # handshake done and deadline passed meanwhile


def test_dial_open_port_stays_open_when_the_thread_was_starved(tmp_path: Path, listener: Listener) -> None:
    assert starved_dial(tcp_check(tmp_path, listener.port), listener.port) is PortState.OPEN


def test_dial_refused_port_stays_refused_when_the_thread_was_starved(tmp_path: Path, refused_port: int) -> None:
    assert starved_dial(tcp_check(tmp_path, refused_port), refused_port) is PortState.REFUSED


def test_dial_dropped_port_is_filtered_when_the_thread_was_starved(tmp_path: Path, filtered_port: int) -> None:
    assert starved_dial(tcp_check(tmp_path, filtered_port), filtered_port) is PortState.FILTERED


ICMP_REJECT = """
import socket, sys, pytest
sys.exit(pytest.main(["-p", "no:cacheprovider", "--activate-spec", "{spec}", "--activate-timeout", "2",
                      "-o", "asyncio_default_fixture_loop_scope=function", "-q"]))
"""


def test_dial_icmp_reject_from_a_firewall_says_a_filter_answered(tmp_path: Path) -> None:
    """nftables' ``reject with icmp type host-unreachable`` (a real firewall rule, in a throwaway namespace)."""
    require_netns()
    if shutil.which("nft") is None:
        pytest.skip("needs nftables ('nft') to install a reject rule")
    spec = tmp_path / "spec.yaml"
    spec.write_text("version: 1\nhosts: {lb: {address: 127.0.0.1, roles: [lb]}}\nrules:\n"
                    "  - {id: api, from: internet, to: lb, port: 9001, expect: required}\n"
                    "  - {id: admin, from: internet, to: lb, port: 9002, expect: forbidden}\n"
                    "  - {id: alive, from: internet, to: lb, port: 9003, expect: forbidden}\n")
    with Namespace() as ns:
        ns.run("nft", "add table inet fw ; add chain inet fw input { type filter hook input priority 0 ; } ; "
                      "add rule inet fw input tcp dport { 9001, 9002 } reject with icmp type host-unreachable")
        done = ns.run(sys.executable, "-c", ICMP_REJECT.format(spec=spec), check=False)
    output = done.stdout + done.stderr
    assert done.returncode == 1, output
    assert ("lb:9001 must be open (tcp) but is unreachable: No route to host: an ICMP unreachable answered the SYN, "
            "so a firewall's reject rule or a router refused the path") in output, output
    assert "open the firewall path from this vantage, or fix routing or the address" in output, output
    assert "1 failed, 2 passed" in output, output  # the forbidden port rejected by the filter passes as closed


def test_dial_records_the_source_only_of_attempts_that_are_kept(listener: Listener, refused_port: int) -> None:
    """A range keeps its offending attempts only: the others cost no getsockname(), a system call per port."""
    tcp = registry.build("tcp", {}, TlsConfig())
    forbidden = Job(0, "lo", "127.0.0.1", (listener.port, refused_port), {}, tcp, frozenset({PortState.OPEN}))
    assert dialled(forbidden, listener.port).source is not None  # offends: kept in full
    assert dialled(forbidden, refused_port).source is None  # counted only
    required = Job(0, "lo", "127.0.0.1", (listener.port,), {}, tcp, frozenset({PortState.FILTERED}))
    assert dialled(required, listener.port).source is None  # an open port keeps a required range: counted only
    single = Job(0, "lo", "127.0.0.1", (refused_port,), {}, tcp)
    assert dialled(single, refused_port).source is not None  # a single port keeps every attempt
