"""TLS client contexts and handshake facts, shared by every probe that speaks TLS.

``tls``, ``https``, ``mtls``, ``wss`` and ``smtp-starttls`` all build their
client side here, so trust anchors, version floors and the way a handshake is
described in evidence are decided once.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import ipaddress
import re
import ssl
import warnings
from typing import TYPE_CHECKING, Mapping

from .base import MAX_READ
from .material import load_identity
from .tlsverify import LONG_NAMES, ServerFlight, TlsParseError, format_name, read_server_flight, summarize_certificate

if TYPE_CHECKING:
    from .connection import Connection
    from .material import Identity, Pem

VERSIONS = {
    "TLS1.0": ssl.TLSVersion.TLSv1,
    "TLS1.1": ssl.TLSVersion.TLSv1_1,
    "TLS1.2": ssl.TLSVersion.TLSv1_2,
    "TLS1.3": ssl.TLSVersion.TLSv1_3,
}
NEGOTIATED = {"TLSv1": ssl.TLSVersion.TLSv1, "TLSv1.1": ssl.TLSVersion.TLSv1_1,
              "TLSv1.2": ssl.TLSVersion.TLSv1_2, "TLSv1.3": ssl.TLSVersion.TLSv1_3}
"""``SSLObject.version()`` strings as versions that can be compared with a floor."""
HANDSHAKE_ERRORS = (ssl.SSLError, OSError, EOFError)
"""What a failed handshake raises: certificate and protocol errors, resets, early EOF."""


def new_client_context(
    ca: Pem | None = None,
    *,
    verify: bool = True,
    client: Identity | None = None,
    minimum: ssl.TLSVersion | None = None,
    maximum: ssl.TLSVersion | None = None,
) -> ssl.SSLContext:
    """A fresh client context trusting ``ca`` (the system store when None), presenting ``client``; see :func:`client_context`."""
    if verify:
        context = ssl.create_default_context(cadata=ca.text if ca else None)
    else:
        # Nothing is verified, so the system trust store (tens of ms to load) is not needed.
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if client is not None:
        load_identity(context, client)
    if minimum is not None or maximum is not None:
        set_versions(context, minimum, maximum)
    return context


client_context = functools.lru_cache(maxsize=64)(new_client_context)
"""A shared client context for these arguments: never modify it (use :func:`new_client_context` for that).

With ``verify=False`` the chain and host name are not checked: used to
*observe* a server (what certificate does it present?) before judging it.
An encrypted client key raises ``ValueError`` (:func:`.material.load_identity`). Contexts are cached
because loading a trust store costs tens of milliseconds of event-loop time
per probe, and one context serves any number of connections.
"""


def set_versions(context: ssl.SSLContext, minimum: ssl.TLSVersion | None, maximum: ssl.TLSVersion | None) -> None:
    """Bound a context's protocol versions, TLS 1.0 and 1.1 included (client or server side).

    Probing whether a server still accepts TLS 1.0/1.1 is the point, so the
    standard library's deprecation warning for naming those versions is
    silenced here (it would be an error under ``-W error``), and the security
    level is lowered because OpenSSL 3 refuses them above level 0.
    """
    context.set_ciphers("DEFAULT:@SECLEVEL=0")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        if minimum is not None:
            context.minimum_version = minimum
        if maximum is not None:
            context.maximum_version = maximum


def below(floor: ssl.TLSVersion) -> ssl.TLSVersion | None:
    """The newest version older than ``floor`` (None below TLS 1.0)."""
    older = [v for v in VERSIONS.values() if v < floor]
    return older[-1] if older else None


async def first_flight(conn: Connection, maximum: ssl.TLSVersion) -> ServerFlight:
    """The server's answer to a ClientHello offering at most ``maximum`` (TLS 1.2 or older).

    Up to TLS 1.2 everything the server sends before ServerHelloDone is
    plaintext: the version it chose, its certificate and its CertificateRequest.
    The standard library sends the ClientHello (through a memory BIO) and this
    function reads the reply itself, on an extra connection, without finishing
    the handshake. Raises ``EOFError`` when the server closes without answering,
    :class:`TlsParseError` when it answers something that is not TLS, and
    ``ssl.SSLError`` only when this machine's OpenSSL cannot offer ``maximum``.
    """
    reader, writer = await conn.open()
    outgoing = ssl.MemoryBIO()
    hello = client_context(verify=False, minimum=ssl.TLSVersion.MINIMUM_SUPPORTED, maximum=maximum).wrap_bio(ssl.MemoryBIO(), outgoing, server_hostname=conn.target.name)
    try:
        hello.do_handshake()
    except ssl.SSLWantReadError:
        pass  # the ClientHello is written; the server's reply is ours to read
    writer.write(outgoing.read())
    data = b""
    flight = read_server_flight(data)
    while not flight.complete:
        chunk = await reader.read(MAX_READ)
        if not chunk:
            raise EOFError("connection closed before ServerHelloDone")
        data += chunk
        if len(data) > MAX_READ:
            raise TlsParseError(f"server's first flight exceeds {MAX_READ} bytes")
        flight = read_server_flight(data)
    writer.transport.abort()
    return flight


def handshake_facts(ssl_object: ssl.SSLObject | ssl.SSLSocket) -> Mapping[str, str]:
    """What a completed handshake showed: version, cipher, and the peer certificate's names and dates.

    A verified peer certificate is described by the standard library; an
    unverified one (``verify=False``) is read from its DER bytes, so evidence
    names the certificate a server presented even when it was not trusted.
    """
    facts: dict[str, str] = {}
    version = ssl_object.version()
    if version:
        facts["tls_version"] = version
    cipher = ssl_object.cipher()
    if cipher:
        facts["cipher"] = cipher[0]
    cert = ssl_object.getpeercert()
    if cert:
        facts["subject"] = _name(cert.get("subject", ()))
        facts["issuer"] = _name(cert.get("issuer", ()))
        sans = [_san(str(entry[0]), str(entry[1])) for entry in cert.get("subjectAltName", ()) if entry[0] in ("DNS", "IP Address")]
        if sans:
            facts["san"] = ", ".join(sans)
        if "notAfter" in cert:
            facts["not_after"] = str(cert["notAfter"])
    else:
        facts.update(certificate_facts(ssl_object.getpeercert(binary_form=True)))
    return facts


def certificate_facts(der: bytes | None) -> Mapping[str, str]:
    """Subject, issuer, expiry and SAN names of an unverified DER certificate (empty when unreadable)."""
    if not der:
        return {}
    try:
        summary = summarize_certificate(der)
    except TlsParseError:
        return {}
    facts = {
        "subject": format_name(summary.subject),
        "issuer": format_name(summary.issuer),
        "not_after": f"{summary.not_after:%b} {summary.not_after.day:2d} {summary.not_after:%H:%M:%S %Y} GMT",
    }
    if summary.san:
        facts["san"] = ", ".join(summary.san)
    return facts


def describe(facts: Mapping[str, str]) -> str:
    """One line for a result detail: version, cipher, who the certificate names, until when."""
    parts = [" ".join(facts[k] for k in ("tls_version", "cipher") if k in facts)]
    if "subject" in facts:
        parts.append(f"certificate {facts['subject']} issued by {facts.get('issuer', '?')}")
    if "san" in facts:
        parts.append(f"SAN {facts['san']}")
    if "not_after" in facts:
        parts.append(f"valid until {facts['not_after']}")
    return "; ".join(p for p in parts if p)


def describe_failure(exc: BaseException) -> str:
    """A TLS or connection failure in words a person acts on (never a traceback, never key bytes)."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"certificate verify failed: {exc.verify_message}"
    if isinstance(exc, (ssl.SSLEOFError, asyncio.IncompleteReadError, EOFError)):
        return "connection closed"
    if isinstance(exc, ssl.SSLError) and exc.reason:
        alert = re.fullmatch(r"(?:SSLV3|TLSV1|TLSV13)_ALERT_(\w+)", exc.reason)
        if alert:
            return f"peer sent TLS alert {alert.group(1).lower().replace('_', ' ')}"
        return exc.reason.lower().replace("_", " ")
    if isinstance(exc, ConnectionResetError):
        return "connection reset"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def _san(kind: str, value: str) -> str:
    """A name from subjectAltName; OpenSSL spells IPv6 addresses out in full (``0:0:0:0:0:0:0:1``)."""
    if kind == "IP Address":
        with contextlib.suppress(ValueError):
            return ipaddress.ip_address(value.strip()).compressed
    return value


def _name(rdns: object) -> str:
    """``((('commonName', 'x'),), ...)`` as ``CN=x, ...`` (the same form as :func:`format_name`)."""
    if not isinstance(rdns, tuple):
        return ""
    return ", ".join(f"{LONG_NAMES.get(str(pair[0]).lower(), pair[0])}={pair[1]}" for rdn in rdns for pair in rdn)
