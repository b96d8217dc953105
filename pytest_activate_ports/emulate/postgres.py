"""The SSL negotiation of a PostgreSQL server (frontend/backend protocol, "SSL Session Encryption").

Answers an SSLRequest with ``S`` and a TLS handshake when given a server
context, ``N`` without one, or any bytes given as ``answer``. What follows
(the startup packet and authentication) is not emulated.
"""

from __future__ import annotations

import asyncio
import ssl

from ..probes.base import MAX_READ
from ..probes.postgres import SSL_REQUEST


async def serve_postgres(host: str, port: int, *, tls: ssl.SSLContext | None = None,
                         answer: bytes | None = None) -> asyncio.Server:
    """Listen on ``host:port`` and answer SSLRequests as configured."""

    async def session(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            if await reader.readexactly(len(SSL_REQUEST)) != SSL_REQUEST:
                return  # a real server would parse a startup packet here; only SSL negotiation is emulated
            reply = answer if answer is not None else b"S" if tls else b"N"
            writer.write(reply)
            await writer.drain()
            if reply == b"S" and tls is not None:
                await writer.start_tls(tls)
            await reader.read(MAX_READ)  # the startup packet, or the client hanging up
        except (ConnectionError, ssl.SSLError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    return await asyncio.start_server(session, host, port, limit=MAX_READ)
