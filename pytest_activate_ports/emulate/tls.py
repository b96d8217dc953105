"""TLS and mutual-TLS listeners built from trustme objects: the 443 web front and the 8443 CAC listener.

Used by the TLS probe tests and by the emulated deployment. The handshake runs
inside the connection handler rather than in ``asyncio.start_server(ssl=...)``,
so a refused client certificate ends that one connection quietly, as a real
CAC listener does, instead of surfacing as an event-loop error. Server contexts
can require, accept or ignore client certificates and be limited to protocol
versions, so must-fail tests have real misconfigurations to fail on.

Typical use::

    server = await serve_mtls("127.0.0.1", 8443, ca.issue_cert("localhost"), client_ca)
"""

from __future__ import annotations

import asyncio
import ssl
from typing import TYPE_CHECKING, Awaitable, Callable

from ..prober.probes.tlsctx import set_versions
from .http_services import response

if TYPE_CHECKING:
    import trustme

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
"""What runs on a connection once its handshake succeeded (the writer carries the ``ssl_object``)."""


def server_context(
    leaf: trustme.LeafCert,
    *,
    client_ca: trustme.CA | None = None,
    verify: ssl.VerifyMode = ssl.CERT_REQUIRED,
    minimum: ssl.TLSVersion | None = None,
    maximum: ssl.TLSVersion | None = None,
) -> ssl.SSLContext:
    """A server context presenting ``leaf``.

    With ``client_ca``, client certificates are checked against it with
    ``verify``: ``CERT_REQUIRED`` is an enforcing CAC listener, ``CERT_OPTIONAL``
    and ``CERT_NONE`` are the misconfigurations the ``mtls`` probe must catch.
    ``minimum``/``maximum`` bound the protocol versions (TLS 1.0 included).
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    leaf.configure_cert(context)
    if client_ca is not None:
        client_ca.configure_trust(context)
        context.verify_mode = verify
    if minimum is not None or maximum is not None:
        set_versions(context, minimum, maximum)
    return context


def answer_http(status: int = 200, body: bytes = b"activate-ports emulated TLS listener\n") -> Handler:
    """A handler reading one request head and answering ``status``; the body names the client certificate."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        peer = writer.get_extra_info("peercert") or {}
        client = ", ".join(f"{k}={v}" for rdn in peer.get("subject", ()) for k, v in rdn)
        text = body + (f"client certificate: {client}\n".encode() if client else b"")
        writer.write(response(status, {"Content-Type": "text/plain"}, text))
        await writer.drain()

    return handle


async def serve_tls(host: str, port: int, ssl_context: ssl.SSLContext, handler: Handler | None = None) -> asyncio.Server:
    """Listen on ``host:port`` (0 picks a free port), handshake with ``ssl_context``, then run ``handler``."""
    handle = handler or answer_http()

    async def connected(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await writer.start_tls(ssl_context)
            await handle(reader, writer)
        except (ssl.SSLError, OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass  # a refused certificate or a client that went away: this connection ends, the listener stays
        except asyncio.CancelledError:
            pass  # the loop is shutting down; Python 3.11 would log a cancelled handler task as an error
        finally:
            writer.close()

    return await asyncio.start_server(connected, host, port)


async def serve_mtls(
    host: str,
    port: int,
    server_leaf: trustme.LeafCert,
    client_ca: trustme.CA,
    *,
    handler: Handler | None = None,
    maximum: ssl.TLSVersion | None = None,
) -> asyncio.Server:
    """A CAC-style listener: presents ``server_leaf`` and requires a client certificate from ``client_ca``."""
    return await serve_tls(host, port, server_context(server_leaf, client_ca=client_ca, maximum=maximum), handler)


def listening_port(server: asyncio.Server) -> int:
    """The port a server bound (after asking for port 0)."""
    return int(server.sockets[0].getsockname()[1])
