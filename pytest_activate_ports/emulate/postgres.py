"""The SSL negotiation of a PostgreSQL server (frontend/backend protocol, "SSL Session Encryption").

Answers an SSLRequest with ``S`` and a TLS handshake when given a server
context, ``N`` without one, or any bytes given as ``answer``; then answers the
startup packet as a server requiring a password would (AuthenticationCleartextPassword).
Authentication itself is not emulated.
"""

from __future__ import annotations

import asyncio
import ssl
import struct

from ..prober.probes.base import MAX_READ
from ..prober.probes.postgres import SSL_REQUEST

PASSWORD_REQUEST = b"R" + struct.pack("!II", 8, 3)  # AuthenticationCleartextPassword


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
            if reply == b"S":
                if tls is None:
                    await reader.read(MAX_READ)  # a broken peer: offers TLS it cannot do, then hangs up
                    return
                await writer.start_tls(tls)
            (length,) = struct.unpack("!I", await reader.readexactly(4))  # the startup packet
            await reader.readexactly(min(max(length - 4, 0), MAX_READ))
            writer.write(PASSWORD_REQUEST)
            await writer.drain()
            await reader.read(MAX_READ)  # the client hanging up
        except (ConnectionError, ssl.SSLError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    return await asyncio.start_server(session, host, port, limit=MAX_READ)
