"""``mysql``: the port sends a MySQL/MariaDB server greeting (client/server protocol, Handshake V10).

The server speaks first: one packet (3-byte little-endian length, 1-byte
sequence number 0) holding the greeting. A server that refuses the client
before the handshake (``Host '...' is not allowed to connect``, too many
connections) sends an ERR packet (first byte 0xff) instead. That is still a
MySQL server answering on the port, so the probe passes and puts the error in
the detail and a warning; only ``require_tls`` makes it fail, because an
error packet says nothing about TLS.
"""

from __future__ import annotations

import asyncio
import ssl
import struct
from dataclasses import dataclass
from typing import TYPE_CHECKING, Union

from .base import Probe, ProtocolResult
from .connection import Connection
from .registry import register
from .tlsctx import describe, describe_failure, handshake_facts
from .trust import ServerTrust, presented
from .wire import WireError, cstring, read_answer, seen

if TYPE_CHECKING:
    from .material import TlsMaterial
    from .options import ProbeOptions

MAX_GREETING = 8192  # real greetings are ~100 bytes; the 24-bit length must not make us wait for 16 MiB
CLIENT_LONG_PASSWORD = 0x0001
CLIENT_PROTOCOL_41 = 0x0200
CLIENT_SSL = 0x0800
CLIENT_SECURE_CONNECTION = 0x8000
CLIENT_PLUGIN_AUTH = 0x00080000
SSL_REQUEST_CAPABILITIES = CLIENT_LONG_PASSWORD | CLIENT_PROTOCOL_41 | CLIENT_SSL | CLIENT_SECURE_CONNECTION
UTF8MB4 = 45  # utf8mb4_general_ci, a character set every server since MySQL 5.5 knows
MARIADB_PREFIX = "5.5.5-"  # MariaDB 10+ prefixes this so old replicas do not read "10" as major version 1


@dataclass(frozen=True)
class Greeting:
    """A Handshake V10 packet: who the server says it is and what it can do."""

    version: str
    connection_id: int
    capabilities: int
    auth_plugin: str

    @property
    def tls(self) -> bool:
        """The server offers TLS (CLIENT_SSL): a client may switch before authenticating."""
        return bool(self.capabilities & CLIENT_SSL)

    @property
    def product(self) -> str:
        """The version as a person reads it: MariaDB's replication prefix dropped, MySQL named."""
        shown = self.version.removeprefix(MARIADB_PREFIX) if "MariaDB" in self.version else self.version
        return shown if "MariaDB" in shown else f"MySQL {shown}"


@dataclass(frozen=True)
class ErrorPacket:
    """An ERR packet sent instead of the greeting."""

    code: int
    message: str


def parse_greeting(buffer: bytes) -> Union[Greeting, ErrorPacket, None]:
    """The first packet in ``buffer``; None while incomplete; :class:`WireError` if it is not MySQL."""
    if len(buffer) < 4:
        return None
    length = int.from_bytes(buffer[:3], "little")
    if buffer[3] != 0 or not 1 <= length <= MAX_GREETING:
        raise WireError(f"not a MySQL packet header (length {length}, sequence {buffer[3]}): {seen(buffer)}")
    if len(buffer) < 4 + length:
        return None
    if len(buffer) > 4 + length:
        raise WireError(f"unexpected bytes after the greeting packet: {seen(buffer)}")
    payload = buffer[4:]
    if payload[0] == 0xFF:
        return _error(payload)
    if payload[0] != 10:
        raise WireError(f"greeting protocol version {payload[0]}, expected 10: {seen(payload)}")
    return _greeting(payload)


def _error(payload: bytes) -> ErrorPacket:
    if len(payload) < 3:
        raise WireError(f"truncated MySQL error packet: {seen(payload)}")
    (code,) = struct.unpack_from("<H", payload, 1)
    message = payload[3:]
    if message.startswith(b"#"):  # protocol 4.1 SQLSTATE marker; absent before the handshake
        message = message[6:]
    return ErrorPacket(code, message.decode("utf-8", "replace"))


def _greeting(payload: bytes) -> Greeting:
    raw_version, position = cstring(payload, 1)
    # connection id (4), auth data part 1 (8), filler (1), capabilities low (2)
    if len(payload) < position + 15:
        raise WireError(f"truncated MySQL greeting: {seen(payload)}")
    connection_id, capabilities = struct.unpack_from("<I9xH", payload, position)
    position += 15
    plugin = b""
    if len(payload) >= position + 16:
        # character set (1), status (2), capabilities high (2), auth data length (1), reserved (10)
        (upper, data_length) = struct.unpack_from("<3xHB", payload, position)
        capabilities |= upper << 16
        position += 16 + max(13, data_length - 8)
        if capabilities & CLIENT_PLUGIN_AUTH and position < len(payload):
            plugin = payload[position:].split(b"\x00", 1)[0]
    return Greeting(raw_version.decode("utf-8", "replace"), connection_id, capabilities, plugin.decode("ascii", "replace"))


def ssl_request() -> bytes:
    """The SSLRequest packet (sequence 1) a client sends after the greeting to switch to TLS before authenticating."""
    payload = struct.pack("<IIB23x", SSL_REQUEST_CAPABILITIES, 1 << 24, UTF8MB4)
    return len(payload).to_bytes(3, "little") + b"\x01" + payload


async def _switch_to_tls(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
    """A fresh connection's greeting and SSLRequest: True when the server offers TLS."""
    answer = await read_answer(reader, parse_greeting, 4 + MAX_GREETING)
    if not isinstance(answer, Greeting) or not answer.tls:
        return False
    writer.write(ssl_request())
    await writer.drain()
    return True


@register
class MysqlProbe(Probe):
    """Passes on a Handshake V10 greeting (or a MySQL error packet); reports version and TLS support.

    When the greeting offers TLS the probe switches to it (SSLRequest, then a
    handshake) and reports the certificate; it is verified only when asked
    (``verify: true`` or ``ca:``, see :mod:`.trust`), as MySQL clients verify
    nothing unless told to (``--ssl-mode=VERIFY_IDENTITY``).
    """

    kind = "mysql"
    tls_material = frozenset({"ca"})

    def __init__(self, require_tls: bool = False, trust: ServerTrust | None = None) -> None:
        self.require_tls = require_tls
        self.trust = trust or ServerTrust(verify=False)

    @classmethod
    def from_options(cls, options: ProbeOptions, tls: TlsMaterial) -> MysqlProbe:
        return cls(options.flag("require_tls", False), ServerTrust.from_options(options, tls, verify_by_default=False))

    async def check(self, conn: Connection) -> ProtocolResult:
        try:
            answer: Greeting | ErrorPacket = await read_answer(conn.reader, parse_greeting, 4 + MAX_GREETING)
        except WireError as exc:
            return ProtocolResult(False, f"not a MySQL server: {exc}")
        if isinstance(answer, ErrorPacket):
            detail = f"MySQL server answered with error {answer.code}: {answer.message}"
            facts = {"mysql_error": str(answer.code)}
            if self.require_tls:
                return ProtocolResult(False, f"{detail}; cannot tell whether TLS is offered (require_tls)", facts=facts)
            return ProtocolResult(True, detail, facts=facts, warnings=(f"MySQL refused this client: {answer.message}",))
        facts = {"mysql_version": answer.version, "tls_offered": "yes" if answer.tls else "no",
                 "connection_id": str(answer.connection_id)}
        if answer.auth_plugin:
            facts["auth_plugin"] = answer.auth_plugin
        detail = f"{answer.product} greeting, TLS {'offered' if answer.tls else 'not offered'}"
        if answer.tls:
            return await self._handshake(conn, detail, facts)
        if self.require_tls:
            return ProtocolResult(False, f"{detail}, and require_tls is set; configure ssl_cert/ssl_key on the server", facts=facts)
        return ProtocolResult(True, detail, facts=facts)

    async def _handshake(self, conn: Connection, greeted: str, facts: dict[str, str]) -> ProtocolResult:
        conn.writer.write(ssl_request())
        try:
            await conn.writer.drain()
            await conn.start_tls(self.trust.context())
        except ssl.SSLCertVerificationError as exc:
            seen = await presented(conn, _switch_to_tls)
            return ProtocolResult(False, f"{greeted}, but its {self.trust.refused(exc, seen)}", facts={**facts, **seen})
        except (ssl.SSLError, OSError) as exc:
            return ProtocolResult(False, f"{greeted}, but the TLS handshake failed: {describe_failure(exc)}", facts=facts)
        facts.update(handshake_facts(conn.writer.get_extra_info("ssl_object")))
        conn.abort()
        return ProtocolResult(True, f"{greeted}; TLS handshake completed, {self.trust.judged}: {describe(facts)}", facts=facts)
