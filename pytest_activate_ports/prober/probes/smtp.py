"""``smtp-starttls``: the mail relay on 587 greets, offers STARTTLS, and upgrades (RFC 5321, RFC 3207).

The platform sends invitations and billing alerts through it; a relay that
stopped offering STARTTLS (or presents a certificate the platform will not
trust) fails silently at the first email. Reply parsing is pure; the async
part only exchanges lines.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .base import PeerError, Probe, ProtocolResult
from .connection import Connection
from .registry import register
from .tlsctx import HANDSHAKE_ERRORS, describe, describe_failure, handshake_facts
from .trust import ServerTrust, presented

if TYPE_CHECKING:
    from .material import TlsMaterial
    from .options import ProbeOptions

MAX_LINES = 64


class SmtpError(PeerError):
    """The peer's bytes are not SMTP replies."""


@dataclass(frozen=True)
class Reply:
    """One (possibly multi-line) SMTP reply."""

    code: int
    lines: tuple[str, ...]

    def __str__(self) -> str:
        return f"{self.code} {self.lines[0]}".rstrip()[:100]


def parse_reply(lines: Sequence[bytes]) -> Reply | None:
    """The reply the ``lines`` received so far form, or None while the last one is a continuation (``250-``)."""
    code: int | None = None
    texts: list[str] = []
    for raw in lines:
        line = raw.rstrip(b"\r\n").decode("utf-8", "replace")
        if len(line) < 3 or not (line[:3].isascii() and line[:3].isdigit()) or line[0] not in "2345" or line[3:4] not in ("", " ", "-"):
            raise SmtpError(f"not an SMTP reply: {line[:60]!r}")
        if code is not None and int(line[:3]) != code:
            raise SmtpError(f"reply lines with different codes ({code} then {line[:3]})")
        code = int(line[:3])
        texts.append(line[4:])
        if line[3:4] != "-":
            return Reply(code, tuple(texts))
    return None


def extensions(ehlo: Reply) -> frozenset[str]:
    """The extension keywords an EHLO reply lists (its first line is the server's name)."""
    return frozenset(line.split(" ", 1)[0].upper() for line in ehlo.lines[1:] if line)


def address_literal(sockname: object) -> str:
    """Our own address as an EHLO argument (RFC 5321 section 4.1.3): ``[192.0.2.1]`` or ``[IPv6:::1]``."""
    host = sockname[0] if isinstance(sockname, tuple) and sockname else "127.0.0.1"
    address = ipaddress.ip_address(str(host).split("%", 1)[0])
    return f"[IPv6:{address}]" if address.version == 6 else f"[{address}]"


async def read_reply(reader: asyncio.StreamReader) -> Reply:
    """Read one complete reply, line by line, never more than ``MAX_LINES`` lines of bounded length."""
    lines: list[bytes] = []
    while len(lines) < MAX_LINES:
        try:
            lines.append(await reader.readuntil(b"\n"))
        except asyncio.IncompleteReadError as exc:
            if not exc.partial and not lines:
                raise SmtpError("connection closed without a reply") from exc
            if exc.partial:
                parse_reply([*lines, exc.partial])  # a non-SMTP banner is the more useful message
            raise SmtpError("connection closed in the middle of a reply") from exc
        except asyncio.LimitOverrunError as exc:
            raise SmtpError("reply line longer than the read limit") from exc
        reply = parse_reply(lines)
        if reply is not None:
            return reply
    raise SmtpError(f"reply longer than {MAX_LINES} lines")


async def command(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, line: str) -> Reply:
    """Send one command line and read its reply."""
    writer.write(line.encode("ascii") + b"\r\n")
    await writer.drain()
    return await read_reply(reader)


async def _to_starttls(hello: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
    """Greeting, EHLO and STARTTLS on a fresh connection: True when TLS may start."""
    if (await read_reply(reader)).code != 220 or (await command(reader, writer, hello)).code != 250:
        return False
    return (await command(reader, writer, "STARTTLS")).code == 220


@register
class SmtpStarttlsProbe(Probe):
    """Passes on a 220 greeting, STARTTLS in the EHLO reply, and a completed TLS upgrade.

    The server certificate is verified against the spec's ``tls.ca`` (the
    system store when unset), or the probe's own ``ca:``, unless ``verify:
    false`` (see :mod:`.trust`). A second EHLO inside TLS proves the session
    carries SMTP: under TLS 1.3 a rejected handshake can surface only on the
    first read.
    """

    kind = "smtp-starttls"
    tls_material = frozenset({"ca"})

    def __init__(self, trust: ServerTrust | None = None) -> None:
        self.trust = trust or ServerTrust(verify=True)

    @classmethod
    def from_options(cls, options: ProbeOptions, tls: TlsMaterial) -> SmtpStarttlsProbe:
        return cls(ServerTrust.from_options(options, tls, verify_by_default=True))

    async def check(self, conn: Connection) -> ProtocolResult:
        try:
            return await self._converse(conn)
        except SmtpError as exc:
            return ProtocolResult(False, str(exc))

    async def _converse(self, conn: Connection) -> ProtocolResult:
        greeting = await read_reply(conn.reader)
        facts = {"greeting": str(greeting)}
        if greeting.code != 220:
            return ProtocolResult(False, f"greeting '{greeting}': the server does not offer service", facts=facts)
        hello = f"EHLO {address_literal(conn.writer.get_extra_info('sockname'))}"
        ehlo = await command(conn.reader, conn.writer, hello)
        offered = extensions(ehlo)
        facts["extensions"] = " ".join(sorted(offered))
        if ehlo.code != 250:
            return ProtocolResult(False, f"greeting '{greeting}' but EHLO answered '{ehlo}'", facts=facts)
        if "STARTTLS" not in offered:
            listed = facts["extensions"] or "none"
            return ProtocolResult(False, f"greeting '{greeting}' but EHLO offers no STARTTLS (extensions: {listed})", facts=facts)
        starttls = await command(conn.reader, conn.writer, "STARTTLS")
        if starttls.code != 220:
            return ProtocolResult(False, f"EHLO offers STARTTLS but STARTTLS answered '{starttls}'", facts=facts)
        try:
            await conn.start_tls(self.trust.context())
        except ssl.SSLCertVerificationError as exc:
            seen = await presented(conn, functools.partial(_to_starttls, hello))
            return ProtocolResult(False, f"STARTTLS accepted but the server's {self.trust.refused(exc, seen)}",
                                  facts={**facts, **seen})
        except HANDSHAKE_ERRORS as exc:
            return ProtocolResult(False, f"STARTTLS accepted but the TLS handshake failed: {describe_failure(exc)}", facts=facts)
        try:
            return await self._inside_tls(conn, hello, greeting, facts)
        finally:
            conn.abort()

    async def _inside_tls(self, conn: Connection, hello: str, greeting: Reply, facts: dict[str, str]) -> ProtocolResult:
        facts.update(handshake_facts(conn.writer.get_extra_info("ssl_object")))
        inside = await command(conn.reader, conn.writer, hello)
        if inside.code != 250:
            return ProtocolResult(False, f"TLS established but EHLO inside it answered '{inside}'", facts=facts)
        conn.writer.write(b"QUIT\r\n")
        await conn.writer.drain()
        return ProtocolResult(True, f"greeting '{greeting}'; STARTTLS upgraded, {self.trust.judged}: {describe(facts)}",
                              facts=facts)
