"""Dial: one connection attempt classified, including when the engine's thread was starved."""

from __future__ import annotations

import socket
import time
from pathlib import Path

from pytest_activate_ports.checks import Check, plan
from pytest_activate_ports.dial import Dial
from pytest_activate_ports.probes.base import PortState, ProbeResult
from pytest_activate_ports.reactor import Reactor
from pytest_activate_ports.spec import load_spec

from .servers import Listener


def tcp_check(tmp_path: Path, port: int) -> Check:
    spec = tmp_path / "spec.yaml"
    spec.write_text("version: 1\nhosts: {lb: {address: 127.0.0.1, roles: [lb]}}\n"
                    f"rules:\n  - {{id: up, from: internet, to: lb, port: {port}, expect: required}}\n")
    return plan(load_spec(spec), "internet").checks[0]


def never_speak(*args: object) -> None:
    raise AssertionError("a tcp check must not start a protocol probe")


def starved_dial(check: Check, port: int) -> PortState:
    """Start a dial with a 50 ms timeout, then keep its thread away for 300 ms, as a busy CPU or a held GIL would."""
    reactor = Reactor()
    results: list[ProbeResult] = []

    def report(result: ProbeResult) -> None:
        results.append(result)
        reactor.stop()

    try:
        Dial(reactor, never_speak, check, port, socket.AF_INET, "127.0.0.1", 0.05, report).start()  # the SYN is out
        time.sleep(0.3)  # the handshake completes and the deadline passes while the reactor cannot run
        reactor.run()
    finally:
        reactor.close()
    [result] = results
    return result.state


def test_dial_open_port_stays_open_when_the_thread_was_starved(tmp_path: Path, listener: Listener) -> None:
    assert starved_dial(tcp_check(tmp_path, listener.port), listener.port) is PortState.OPEN


def test_dial_refused_port_stays_refused_when_the_thread_was_starved(tmp_path: Path, refused_port: int) -> None:
    assert starved_dial(tcp_check(tmp_path, refused_port), refused_port) is PortState.REFUSED


def test_dial_dropped_port_is_filtered_when_the_thread_was_starved(tmp_path: Path, filtered_port: int) -> None:
    assert starved_dial(tcp_check(tmp_path, filtered_port), filtered_port) is PortState.FILTERED
