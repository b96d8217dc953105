"""The open connection a protocol probe is handed, and the further connections it may open.

Kept apart from :mod:`.base` so that a run which only dials (forbidden ports,
``tcp`` checks) never imports asyncio or ssl.
"""

from __future__ import annotations

import asyncio
import ssl

from .base import MAX_READ, Target


class Connection:
    """An open TCP connection handed to a protocol probe.

    Probes that need more than one connection (mTLS tries three client
    identities) call :meth:`open` for fresh ones to the same address; the
    engine closes every connection opened through this object.
    """

    def __init__(
        self, target: Target, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self.target = target
        self.writer = writer
        self._reader = reader
        self._extra: list[asyncio.StreamWriter] = []
        # Nothing is read before the probe asks: bytes a server sends ahead of a TLS
        # handshake must reach OpenSSL (which rejects them at once), not sit in a plaintext
        # buffer the TLS layer never sees while the handshake waits out the timeout.
        self._held: asyncio.ReadTransport | None = _transport(writer)
        self._held.pause_reading()

    @property
    def reader(self) -> asyncio.StreamReader:
        """The plaintext (or, after :meth:`start_tls`, decrypted) stream; reading starts here."""
        if self._held is not None:
            self._held.resume_reading()
            self._held = None
        return self._reader

    async def open(
        self, ssl_context: ssl.SSLContext | None = None
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """Open another connection to the same address and port (optionally TLS)."""
        reader, writer = await asyncio.open_connection(
            self.target.address,
            self.target.port,
            ssl=ssl_context,
            server_hostname=self.target.name if ssl_context else None,
            limit=MAX_READ,
        )
        self._extra.append(writer)
        return reader, writer

    async def start_tls(self, ssl_context: ssl.SSLContext) -> None:
        """Upgrade the handed connection in place (STARTTLS, or TLS on connect)."""
        self._held = None  # the TLS layer resumes reading the socket itself
        await self.writer.start_tls(ssl_context, server_hostname=self.target.name)

    def abort(self) -> None:
        """Drop the handed connection now: the probe is done with it.

        A graceful TLS close waits for the peer's close_notify, which may come after the
        engine's loop has ended (leaving the socket behind); nothing more is sent, so abort.
        """
        self.writer.transport.abort()

    def close(self) -> None:
        """Close every connection this object handed out, without waiting.

        TLS connections are aborted: a graceful close waits for the peer's
        close_notify, which a hostile or slow server may never send, and the
        engine's loop may end first and leave the socket behind.
        """
        for writer in (self.writer, *self._extra):
            if writer.get_extra_info("ssl_object") is not None:
                writer.transport.abort()
            else:
                writer.close()


def _transport(writer: asyncio.StreamWriter) -> asyncio.ReadTransport:
    transport = writer.transport
    assert isinstance(transport, asyncio.ReadTransport)  # a stream's transport reads as well as writes
    return transport
