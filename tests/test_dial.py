"""dial(): one connection attempt classified, including when the event loop was starved."""

from __future__ import annotations

import asyncio
import socket
import time
from pathlib import Path

import pytest

from pytest_activate_ports.checks import Check, plan
from pytest_activate_ports.dial import dial
from pytest_activate_ports.probes.base import PortState
from pytest_activate_ports.spec import load_spec

from .servers import Listener


def tcp_check(tmp_path: Path, port: int) -> Check:
    spec = tmp_path / "spec.yaml"
    spec.write_text("version: 1\nhosts: {lb: {address: 127.0.0.1, roles: [lb]}}\n"
                    f"rules:\n  - {{id: up, from: internet, to: lb, port: {port}, expect: required}}\n")
    return plan(load_spec(spec), "internet").checks[0]


async def starved_dial(check: Check, port: int) -> PortState:
    """Start a dial with a 50 ms timeout, then block the loop for 300 ms, as a busy CPU or a held GIL would."""
    task = asyncio.ensure_future(dial(check, port, socket.AF_INET, "127.0.0.1", 0.05))
    await asyncio.sleep(0)  # one step of dial: the SYN is sent, the reply not yet processed
    time.sleep(0.3)  # the handshake completes and the timer expires while the loop cannot run
    return (await task).state


@pytest.mark.asyncio
async def test_dial_open_port_stays_open_when_the_loop_was_starved(tmp_path: Path, listener: Listener) -> None:
    assert await starved_dial(tcp_check(tmp_path, listener.port), listener.port) is PortState.OPEN


@pytest.mark.asyncio
async def test_dial_refused_port_stays_refused_when_the_loop_was_starved(tmp_path: Path, refused_port: int) -> None:
    assert await starved_dial(tcp_check(tmp_path, refused_port), refused_port) is PortState.REFUSED


@pytest.mark.asyncio
async def test_dial_dropped_port_is_filtered_when_the_loop_was_starved(tmp_path: Path, filtered_port: int) -> None:
    assert await starved_dial(tcp_check(tmp_path, filtered_port), filtered_port) is PortState.FILTERED
