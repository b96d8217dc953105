"""Run a probe the way the engine does, against servers a test starts: shared by every probe test area.

``run_probe`` hands a probe an open loopback connection exactly as the engine
would; ``BackgroundLoop`` keeps asyncio servers serving while a synchronous
pytester run probes them.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from pytest_activate_ports.prober.probes.base import MAX_READ, Probe, ProtocolResult, Target
from pytest_activate_ports.prober.probes.connection import Connection
from pytest_activate_ports.prober.probes.registry import build
from pytest_activate_ports.spec.model import TlsConfig

LOOPBACK = "127.0.0.1"


def probe(kind: str, ca: Path | None = None, **options: object) -> Probe:
    """A probe built exactly as the spec loader builds it (options validated)."""
    return build(kind, options, TlsConfig(ca=ca))


async def run_probe(probe: Probe, port: int, *, name: str = LOOPBACK, spec_port: int | None = None,
                    timeout: float = 3.0) -> ProtocolResult:
    """Connect to ``port`` on loopback and run ``probe`` as the engine would, then close everything."""
    reader, writer = await asyncio.open_connection(LOOPBACK, port, limit=MAX_READ)
    conn = Connection(Target(name, name, LOOPBACK, port, spec_port or port, timeout), reader, writer)
    try:
        return await asyncio.wait_for(probe.check(conn), timeout)
    finally:
        conn.close()
        try:
            await asyncio.wait_for(writer.wait_closed(), 1)
        except (OSError, asyncio.TimeoutError):
            pass  # a reset peer, or a transport replaced by an aborted TLS upgrade


async def probe_against(server: Awaitable[asyncio.Server], probe: Probe, **where: Any) -> ProtocolResult:
    """Start ``server`` (listening on port 0), run ``probe`` against it once, stop it."""
    async with await server as running:
        return await run_probe(probe, port_of(running), **where)


def free_port() -> int:
    """A loopback port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


async def serve_banner(banner: bytes) -> asyncio.Server:
    """A wrong service: writes ``banner`` on connect, reads one chunk, closes (like sshd on a bad ident)."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(banner)
        try:
            await asyncio.wait_for(reader.read(1024), 2)
        except (asyncio.TimeoutError, OSError):
            pass
        writer.close()

    return await asyncio.start_server(handle, LOOPBACK, 0)


def port_of(server: asyncio.Server) -> int:
    """The port a server started on port 0 listens on."""
    return int(server.sockets[0].getsockname()[1])


class BackgroundLoop:
    """An event loop in a thread, serving while a synchronous pytester run probes it."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._servers: list[asyncio.Server] = []

    def __enter__(self) -> BackgroundLoop:
        self._thread.start()
        return self

    def serve(self, start: Callable[[], Awaitable[asyncio.Server]]) -> int:
        """Run ``start()`` (which starts a server on port 0) on the loop; returns the port."""

        async def started() -> asyncio.Server:
            return await start()

        server = asyncio.run_coroutine_threadsafe(started(), self.loop).result(5)
        self._servers.append(server)
        return port_of(server)

    def __exit__(self, *exc: object) -> None:
        async def shutdown() -> None:
            for server in self._servers:
                server.close()
                await server.wait_closed()

        asyncio.run_coroutine_threadsafe(shutdown(), self.loop).result(5)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)
        self.loop.close()
