"""An SSH identification sender: the part of an SSH server the ``ssh`` probe looks at (RFC 4253, 4.2).

No key exchange is emulated; a real SSH client gets the banner and then a
closed connection once it has sent its own identification.
"""

from __future__ import annotations

import asyncio

from ..prober.probes.base import MAX_READ


async def serve_ssh(host: str, port: int, *, banner: str = "SSH-2.0-OpenSSH_9.6p1 emulated",
                    preamble: tuple[str, ...] = ()) -> asyncio.Server:
    """Listen on ``host:port``; send ``preamble`` lines (allowed by the RFC) and then ``banner``."""

    async def session(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            writer.write("".join(f"{line}\r\n" for line in (*preamble, banner)).encode())
            await writer.drain()
            await reader.readuntil(b"\n")  # the client's identification, then hang up like a failed kex
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        finally:
            writer.close()

    return await asyncio.start_server(session, host, port, limit=MAX_READ)
