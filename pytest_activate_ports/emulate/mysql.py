"""The first packet of a MySQL server: a Handshake V10 greeting, or an ERR packet refusing the client."""

from __future__ import annotations

import asyncio
import struct

from ..prober.probes.base import MAX_READ
from ..prober.probes.mysql import CLIENT_PLUGIN_AUTH, CLIENT_SSL

CLIENT_PROTOCOL_41 = 0x0200
CLIENT_SECURE_CONNECTION = 0x8000
UTF8MB4 = 45


def greeting(version: str, connection_id: int, tls: bool, protocol: int = 10) -> bytes:
    """A Handshake V10 payload as MySQL 8 sends it (scramble bytes are fixed: nothing authenticates here)."""
    capabilities = CLIENT_PROTOCOL_41 | CLIENT_SECURE_CONNECTION | CLIENT_PLUGIN_AUTH | (CLIENT_SSL if tls else 0)
    return (bytes([protocol]) + version.encode() + b"\x00" + struct.pack("<I", connection_id) + b"12345678\x00"
            + struct.pack("<HBHHB", capabilities & 0xFFFF, UTF8MB4, 2, capabilities >> 16, 21) + bytes(10)
            + b"123456789012\x00" + b"caching_sha2_password\x00")


def error(code: int, message: str) -> bytes:
    """An ERR packet payload as sent before the handshake (no SQLSTATE marker)."""
    return b"\xff" + struct.pack("<H", code) + message.encode()


def packet(payload: bytes, sequence: int = 0) -> bytes:
    """Frame a payload: 3-byte little-endian length and a sequence number."""
    return len(payload).to_bytes(3, "little") + bytes([sequence]) + payload


async def serve_mysql(host: str, port: int, *, version: str = "8.0.36-emulated", tls: bool = False,
                      refuse: tuple[int, str] | None = None, protocol: int = 10) -> asyncio.Server:
    """Listen on ``host:port``; greet each client, or refuse it with ``refuse=(code, message)``."""
    sessions = 0

    async def session(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal sessions
        sessions += 1
        try:
            writer.write(packet(error(*refuse) if refuse else greeting(version, sessions, tls, protocol)))
            await writer.drain()
            if not refuse:
                await reader.read(MAX_READ)  # the client's handshake response, or its hang-up
        except ConnectionError:
            pass
        finally:
            writer.close()

    return await asyncio.start_server(session, host, port, limit=MAX_READ)
