"""``postgres``: the port answers a PostgreSQL SSLRequest (frontend/backend protocol, "SSL Session Encryption").

The SSLRequest is the one message a PostgreSQL server answers before any
authentication: a single byte, ``S`` (TLS offered) or ``N`` (not offered).
One byte is a thin proof, and an SSH banner also starts with ``S``, so the
answer must be exactly one byte, and an ``S`` is followed by a TLS handshake:
a server that offers TLS must be able to complete one.
"""

from __future__ import annotations

import ssl
import struct
from pathlib import Path
from typing import TYPE_CHECKING

from .base import Connection, Probe, ProtocolResult
from .registry import register
from .tlsctx import client_context, handshake_facts
from .wire import WireError, ask, seen

if TYPE_CHECKING:
    from ..spec.model import TlsConfig
    from .options import ProbeOptions

SSL_REQUEST_CODE = 80877103  # 1234 << 16 | 5679: cannot collide with a protocol version
SSL_REQUEST = struct.pack("!II", 8, SSL_REQUEST_CODE)


def parse_ssl_answer(buffer: bytes) -> bool | None:
    """True for ``S``, False for ``N``; None before the first byte; :class:`WireError` for anything else."""
    if not buffer:
        return None
    if buffer[:1] == b"E":
        # Servers before protocol 3 (PostgreSQL < 7.4), and some poolers, reject the request with an error.
        raise WireError(f"answered the SSLRequest with an error message: {seen(buffer)}")
    if buffer not in (b"S", b"N"):
        raise WireError(f"expected 'S' or 'N' in answer to an SSLRequest, got {seen(buffer)}")
    return buffer == b"S"


@register
class PostgresProbe(Probe):
    """Passes on an ``S`` followed by a working TLS handshake, or on ``N`` unless TLS is required."""

    kind = "postgres"
    summary = "answers a PostgreSQL SSLRequest (S: TLS offered and completed, N: not offered)"

    def __init__(self, require_tls: bool = False, ca: Path | None = None) -> None:
        self.require_tls = require_tls
        self.ca = ca

    @classmethod
    def from_options(cls, options: ProbeOptions, tls: TlsConfig) -> PostgresProbe:
        return cls(options.flag("require_tls", False), tls.ca)

    async def check(self, conn: Connection) -> ProtocolResult:
        try:
            offered = await ask(conn.reader, conn.writer, SSL_REQUEST, parse_ssl_answer, 64)
        except WireError as exc:
            return ProtocolResult(False, f"not a PostgreSQL server: {exc}")
        if not offered:
            facts = {"tls_offered": "no"}
            if self.require_tls:
                return ProtocolResult(False, "PostgreSQL server answered N: TLS not offered, and require_tls is set;"
                                      " enable ssl in postgresql.conf", facts=facts)
            return ProtocolResult(True, "PostgreSQL server answered N: TLS not offered", facts=facts,
                                  warnings=("PostgreSQL does not offer TLS on this port",))
        return await self._handshake(conn)

    async def _handshake(self, conn: Connection) -> ProtocolResult:
        verify = self.ca is not None
        try:
            await conn.start_tls(client_context(self.ca, verify=verify))
        except (ssl.SSLError, OSError) as exc:
            return ProtocolResult(False, f"PostgreSQL server answered S but the TLS handshake failed: {exc}",
                                  facts={"tls_offered": "yes"})
        ssl_object = conn.writer.get_extra_info("ssl_object")
        facts = {"tls_offered": "yes", **(handshake_facts(ssl_object) if ssl_object else {})}
        # A graceful TLS close waits for the server's close_notify, possibly past the end of the
        # engine's loop (leaking the socket); nothing more is sent, so abort.
        conn.writer.transport.abort()
        trust = f"certificate verified against {self.ca.name}" if self.ca else "certificate not verified: no tls.ca in the spec"
        return ProtocolResult(True, f"PostgreSQL server answered S: TLS {facts.get('tls_version', '')} handshake completed ({trust})",
                              facts=facts)
