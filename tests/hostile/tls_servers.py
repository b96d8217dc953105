"""TLS-shaped servers: a relay that can cut a real handshake short, and a well-behaved HTTPS endpoint.

The stalled handshake is not forged: a real OpenSSL server answers the
probe's own ClientHello, and the relay in front of it decides how many TLS
records of that answer the probe gets to see.
"""

from __future__ import annotations

import asyncio
import ssl
import struct

from pytest_activate_ports.emulate.http_services import parse_request, response
from pytest_activate_ports.prober.probes.wss import accept_for

from .servers import Handler, hold


def tls_records(data: bytes, count: int) -> int | None:
    """How many bytes of ``data`` make up its first ``count`` TLS records; None while incomplete."""
    position = 0
    for _ in range(count):
        if len(data) < position + 5:
            return None
        (length,) = struct.unpack_from("!H", data, position + 3)
        position += 5 + length
    return position if position <= len(data) else None


def relay(upstream_port: int, records: int | None = None) -> Handler:
    """Relay to a real server on ``upstream_port``; with ``records``, forward only that many TLS records back.

    ``records=1`` against a TLS server is a handshake that stalls after
    ServerHello: the probe receives the genuine ServerHello record OpenSSL
    produced for *its* ClientHello, and then nothing (the ChangeCipherSpec,
    EncryptedExtensions, Certificate and Finished that follow are withheld),
    while the connection stays open. ``records=None`` relays everything: the
    must-pass counterpart.
    """

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream_reader, upstream = await asyncio.open_connection("127.0.0.1", upstream_port)
        ask = asyncio.ensure_future(_pipe(reader, upstream))
        answer = asyncio.ensure_future(_pipe(upstream_reader, writer, records))
        try:
            # The conversation ends when the probe hangs up (or the server does, unless stalled).
            await asyncio.wait((ask, answer), return_when=asyncio.FIRST_COMPLETED)
        finally:
            for pump in (ask, answer):
                pump.cancel()
            await asyncio.gather(ask, answer, return_exceptions=True)
            upstream.transport.abort()

    return handle


async def _pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter, records: int | None = None) -> None:
    """Copy ``source`` to ``sink``; with ``records``, only that many TLS records, then swallow the rest."""
    received = b""
    while chunk := await source.read(65536):
        if records is None:
            sink.write(chunk)
            await sink.drain()
            continue
        received += chunk
        cut = tls_records(received, records)
        if cut is not None:
            sink.write(received[:cut])
            await sink.drain()
            await hold(source)
            return


async def web(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """A well-behaved HTTPS endpoint after its handshake: a WebSocket upgrade gets 101, anything else 200."""
    request = parse_request((await reader.readuntil(b"\r\n\r\n"))[:-4])
    key = request.headers.get("sec-websocket-key")
    if key:
        writer.write(response(101, {"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Accept": accept_for(key)}))
    else:
        writer.write(response(200, {"Content-Type": "text/plain"}, b"hostile test endpoint\n"))
    await writer.drain()
    await hold(reader)


def server_context(cert_pem: str, key_pem: str, client_ca_pem: str | None = None) -> ssl.SSLContext:
    """A server context from PEM files; with ``client_ca_pem`` it demands a client certificate from that CA."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_pem, key_pem)
    if client_ca_pem is not None:
        context.load_verify_locations(client_ca_pem)
        context.verify_mode = ssl.CERT_REQUIRED
    return context


def smtp_starttls(greeting: bytes, context: ssl.SSLContext) -> Handler:
    """An SMTP relay offering STARTTLS after ``greeting``: EHLO, STARTTLS, the TLS upgrade, EHLO again."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(greeting)
        upgraded = False
        while line := await reader.readline():
            verb = line.split(b" ", 1)[0].strip().upper()
            if verb == b"EHLO":
                writer.write(b"250 mail.example\r\n" if upgraded else b"250-mail.example\r\n250 STARTTLS\r\n")
            elif verb == b"STARTTLS" and not upgraded:
                writer.write(b"220 2.0.0 ready to start TLS\r\n")
                await writer.drain()
                await writer.start_tls(context)
                upgraded = True
            else:
                writer.write(b"221 2.0.0 bye\r\n")
                return
            await writer.drain()

    return handle
