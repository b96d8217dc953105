"""``postgres``: the port answers a PostgreSQL SSLRequest (frontend/backend protocol, "SSL Session Encryption").

The SSLRequest is the one message a PostgreSQL server answers before any
authentication: a single byte, ``S`` (TLS offered) or ``N`` (not offered).
One byte is a thin proof (an SSH banner starts with ``S``, a text notice
with ``N``), so each answer is followed by a second exchange only PostgreSQL
passes: after ``S`` a TLS handshake, after ``N`` a StartupMessage, which a
server answers with a framed Authentication (``R``), ErrorResponse (``E``) or
NegotiateProtocolVersion (``v``) message before any credentials are sent.
The probe then hangs up; the server may log the aborted connection.
"""

from __future__ import annotations

import asyncio
import ssl
import struct
from typing import TYPE_CHECKING

from .base import Probe, ProtocolResult
from .connection import Connection
from .registry import register
from .tlsctx import describe, describe_failure, handshake_facts
from .trust import ServerTrust, presented
from .wire import WireError, ask, seen

if TYPE_CHECKING:
    from .material import TlsMaterial
    from .options import ProbeOptions

SSL_REQUEST_CODE = 80877103  # 1234 << 16 | 5679: cannot collide with a protocol version
SSL_REQUEST = struct.pack("!II", 8, SSL_REQUEST_CODE)
_STARTUP_BODY = struct.pack("!I", 3 << 16) + b"user\x00pytest-activate-ports\x00database\x00postgres\x00" \
    b"application_name\x00pytest-activate-ports\x00\x00"
STARTUP = struct.pack("!I", len(_STARTUP_BODY) + 4) + _STARTUP_BODY
STARTUP_REPLIES = {b"R": "an authentication request", b"E": "an error response", b"v": "a protocol version negotiation"}
MAX_MESSAGE = 64 * 1024


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


def parse_startup_reply(buffer: bytes) -> str | None:
    """What kind of backend message answers a StartupMessage; None until its 5-byte header is in.

    Raises:
        WireError: the bytes are not a PostgreSQL backend message.
    """
    if buffer[:1] and buffer[:1] not in STARTUP_REPLIES:
        raise WireError(f"expected R, E or v in answer to a StartupMessage, got {seen(buffer)}")
    if len(buffer) < 5:
        return None
    (length,) = struct.unpack_from("!I", buffer, 1)
    if not 4 <= length <= MAX_MESSAGE:
        raise WireError(f"backend message length {length} is not plausible: {seen(buffer)}")
    return STARTUP_REPLIES[buffer[:1]]


@register
class PostgresProbe(Probe):
    """Passes on an ``S`` followed by a working TLS handshake, or on ``N`` unless TLS is required.

    The certificate is reported, and verified only when asked (``verify: true``
    or ``ca:``, see :mod:`.trust`): ``tls.ca`` is the web front's CA, and a
    database commonly has a certificate of its own that its clients do not
    check (libpq's ``sslmode=require``).
    """

    kind = "postgres"
    tls_material = frozenset({"ca"})

    def __init__(self, require_tls: bool = False, trust: ServerTrust | None = None) -> None:
        self.require_tls = require_tls
        self.trust = trust or ServerTrust(verify=False)

    @classmethod
    def from_options(cls, options: ProbeOptions, tls: TlsMaterial) -> PostgresProbe:
        return cls(options.flag("require_tls", False), ServerTrust.from_options(options, tls, verify_by_default=False))

    async def check(self, conn: Connection) -> ProtocolResult:
        try:
            offered = await ask(conn.reader, conn.writer, SSL_REQUEST, parse_ssl_answer, 64)
        except WireError as exc:
            return ProtocolResult(False, f"not a PostgreSQL server: {exc}")
        if not offered:
            facts = {"tls_offered": "no"}
            try:
                reply = await ask(conn.reader, conn.writer, STARTUP, parse_startup_reply, 5)
            except WireError as exc:
                return ProtocolResult(False, f"not a PostgreSQL server: answered N to the SSLRequest, then {exc}",
                                      facts=facts)
            facts["startup_reply"] = reply
            if self.require_tls:
                return ProtocolResult(False, "PostgreSQL server answered N: TLS not offered, and require_tls is set;"
                                      " enable ssl in postgresql.conf", facts=facts)
            return ProtocolResult(True, f"PostgreSQL server answered N (TLS not offered) and a startup with {reply}",
                                  facts=facts,
                                  warnings=("PostgreSQL does not offer TLS on this port",))
        return await self._handshake(conn)

    async def _handshake(self, conn: Connection) -> ProtocolResult:
        try:
            await conn.start_tls(self.trust.context())
        except ssl.SSLCertVerificationError as exc:
            seen = await presented(conn, _ssl_request)
            return ProtocolResult(False, f"PostgreSQL server answered S but its {self.trust.refused(exc, seen)}",
                                  facts={"tls_offered": "yes", **seen})
        except (ssl.SSLError, OSError) as exc:
            return ProtocolResult(False, f"PostgreSQL server answered S but the TLS handshake failed: {describe_failure(exc)}",
                                  facts={"tls_offered": "yes"})
        ssl_object = conn.writer.get_extra_info("ssl_object")
        facts = {"tls_offered": "yes", **(handshake_facts(ssl_object) if ssl_object else {})}
        conn.abort()
        return ProtocolResult(True, f"PostgreSQL server answered S: TLS handshake completed, {self.trust.judged}: "
                                    f"{describe(facts)}", facts=facts)


async def _ssl_request(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
    """A fresh connection's SSLRequest: True when the server answers S (TLS follows)."""
    return await ask(reader, writer, SSL_REQUEST, parse_ssl_answer, 64)
