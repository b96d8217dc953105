"""Connection: what a server sends before the TLS handshake goes to the handshake, not to a plaintext buffer."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

from pytest_activate_ports.prober.probes.base import MAX_READ, Target
from pytest_activate_ports.prober.probes.connection import Connection

from ..probe_harness import LOOPBACK, port_of

GREETING = b"220 mail.example ESMTP ready\r\n"


@asynccontextmanager
async def greeted_connection() -> AsyncIterator[Connection]:
    """A Connection to a server that is not a TLS server: it talks on accept, then holds on until we leave."""
    finished = asyncio.Event()

    async def speak_first(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(GREETING)
        await reader.read()
        writer.close()
        finished.set()

    async with await asyncio.start_server(speak_first, LOOPBACK, 0) as server:
        port = port_of(server)
        reader, writer = await asyncio.open_connection(LOOPBACK, port, limit=MAX_READ)
        conn = Connection(Target(LOOPBACK, LOOPBACK, LOOPBACK, port, port, 2), reader, writer)
        try:
            await asyncio.sleep(0.2)  # the greeting has arrived before the test goes on
            yield conn
        finally:
            conn.close()
            await asyncio.wait_for(finished.wait(), 5)  # the server side is closed too: no socket left behind


@pytest.mark.asyncio
async def test_connection_hands_early_bytes_to_the_tls_handshake() -> None:
    """The handshake fails on the server's bytes at once, even when they arrived long before it started."""
    async with greeted_connection() as conn:
        with pytest.raises(ssl.SSLError):
            await asyncio.wait_for(conn.start_tls(ssl.create_default_context()), 2)


@pytest.mark.asyncio
async def test_connection_reads_what_the_server_said_before_the_probe_asked() -> None:
    """Holding reads back loses nothing: the first read sees the greeting."""
    async with greeted_connection() as conn:
        assert await asyncio.wait_for(conn.reader.readline(), 2) == GREETING
