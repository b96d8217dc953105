"""HTTP/1.1 as pure functions over bytes, plus one bounded async read.

Shared by every probe that speaks HTTP (``http``, ``https``, ``http-redirect``,
``wss``, ``vault``, ``mtls``): requests are built and response heads parsed
here, so the parsing is tested without sockets and hostile input is bounded.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Mapping

from .base import MAX_READ, PeerError
from .wire import seen


class HttpError(PeerError):
    """The peer's bytes are not an HTTP/1.x response."""


class TlsAnswer(HttpError):
    """The peer answered plain HTTP with a TLS record (mostly an alert): the port speaks TLS."""


TLS_RECORDS = (b"\x15\x03", b"\x16\x03")
"""How a TLS alert or handshake record starts (content type, then major version 3)."""


@dataclass(frozen=True)
class ResponseHead:
    """Status line and headers of an HTTP/1.x response."""

    version: str
    status: int
    reason: str
    headers: tuple[tuple[str, str], ...]

    def header(self, name: str) -> str | None:
        """First value of header ``name`` (case-insensitive), or None."""
        wanted = name.lower()
        for key, value in self.headers:
            if key.lower() == wanted:
                return value
        return None


def build_request(
    host: str, path: str = "/", method: str = "GET", headers: Mapping[str, str] | None = None
) -> bytes:
    """An HTTP/1.1 request with ``Connection: close`` so servers end the exchange."""
    if any(c in path for c in "\r\n ") or not path.startswith("/"):
        raise ValueError(f"invalid request path {path!r}")
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}", "User-Agent: pytest-activate-ports"]
    extra = dict(headers or {})
    extra.setdefault("Connection", "close")
    for name, value in extra.items():
        if any(c in name + value for c in "\r\n"):
            raise ValueError(f"invalid header {name!r}")
        lines.append(f"{name}: {value}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def host_header(name: str, port: int, default_port: int) -> str:
    """The ``Host`` header value: IPv6 literals bracketed, default ports omitted."""
    shown = f"[{name}]" if ":" in name else name
    return shown if port == default_port else f"{shown}:{port}"


def parse_response_head(data: bytes) -> ResponseHead:
    """Parse a complete response head (everything before the blank line)."""
    if data.startswith(TLS_RECORDS):
        raise TlsAnswer(f"answered with a TLS record ({seen(data)}), not HTTP: the port speaks TLS")
    text = data.decode("latin-1")
    lines = text.split("\r\n")
    status_line = lines[0]
    parts = status_line.split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not (parts[1].isascii() and parts[1].isdigit() and len(parts[1]) == 3):
        raise HttpError(f"not an HTTP response: {status_line[:60]!r}")
    headers: list[tuple[str, str]] = []
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep or not name or name != name.strip():
            raise HttpError(f"malformed header line {line[:60]!r}")
        headers.append((name, value.strip()))
    return ResponseHead(parts[0], int(parts[1]), parts[2] if len(parts) > 2 else "", tuple(headers))


async def read_response_head(reader: asyncio.StreamReader) -> ResponseHead:
    """Read and parse one response head line by line, never buffering more than ``MAX_READ``.

    The status line is judged as soon as it is complete, so a peer speaking
    another protocol (or sending noise and then holding the connection) fails
    at once instead of after the timeout. Raises :class:`HttpError` for
    non-HTTP bytes, an oversized head, or EOF before the head is complete.
    """
    lines: list[bytes] = []
    size = 0
    while True:
        try:
            line = await reader.readuntil(b"\n")
        except asyncio.LimitOverrunError as exc:
            raise HttpError(f"response head larger than {MAX_READ} bytes") from exc
        except asyncio.IncompleteReadError as exc:
            if lines:
                raise HttpError("connection closed in the middle of the response head") from exc
            if not exc.partial:
                raise HttpError("connection closed before any response") from exc
            parse_response_head(exc.partial)  # not HTTP at all is the more useful message
            raise HttpError("connection closed in the middle of the response head") from exc
        size += len(line)
        if size > MAX_READ:
            raise HttpError(f"response head larger than {MAX_READ} bytes")
        if not lines:
            parse_response_head(line.rstrip(b"\r\n"))
        if line == b"\r\n":
            return parse_response_head(b"".join(lines)[:-2])
        if not line.endswith(b"\r\n"):
            raise HttpError(f"response head line not ended by CRLF: {line[:60]!r}")
        lines.append(line)


async def exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes) -> ResponseHead:
    """Send one request and read the head of its response (see :func:`read_response_head`)."""
    writer.write(request)
    await writer.drain()
    return await read_response_head(reader)


def describe(head: ResponseHead) -> str:
    """A response as evidence shows it: ``HTTP/1.1 301 Moved Permanently (server nginx/1.22.1)``."""
    server = head.header("Server")
    shown = f"{head.version} {head.status} {head.reason}".rstrip()
    return f"{shown} (server {server[:60]})" if server else shown


def decode_chunked(data: bytes) -> bytes | None:
    """The payload of a complete chunked body, or None while more bytes are needed.

    Trailers after the last chunk are skipped. Raises :class:`HttpError` on
    malformed framing, so garbage is reported instead of waited for.
    """
    payload = bytearray()
    pos = 0
    while True:
        end = data.find(b"\r\n", pos)
        if end < 0:
            return None
        size_text = data[pos:end].split(b";", 1)[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError:
            raise HttpError(f"malformed chunk size {size_text[:20]!r}") from None
        if size < 0:
            raise HttpError(f"malformed chunk size {size_text[:20]!r}")
        pos = end + 2
        if size == 0:
            return bytes(payload) if data.find(b"\r\n\r\n", pos - 2) >= 0 else None
        if len(data) < pos + size + 2:
            return None
        if data[pos + size : pos + size + 2] != b"\r\n":
            raise HttpError("chunk not terminated by CRLF")
        payload += data[pos : pos + size]
        pos += size + 2


async def read_body(reader: asyncio.StreamReader, head: ResponseHead, limit: int = MAX_READ) -> bytes:
    """Read the body that follows ``head``, framed by Content-Length, chunking or EOF.

    Never buffers more than ``limit`` bytes: a larger body raises
    :class:`HttpError` rather than being read. EOF framing is only safe because
    every request built here says ``Connection: close``.
    """
    length = head.header("Content-Length")
    if length is not None:
        if not (length.isascii() and length.isdigit()):  # str.isdigit() alone accepts '²', which int() refuses
            raise HttpError(f"malformed Content-Length {length[:20]!r}")
        if int(length) > limit:
            raise HttpError(f"body of {length} bytes is larger than {limit}")
        try:
            return await reader.readexactly(int(length))
        except asyncio.IncompleteReadError as exc:
            raise HttpError(f"connection closed after {len(exc.partial)} of {length} body bytes") from exc
    chunked = "chunked" in (head.header("Transfer-Encoding") or "").lower()
    data = b""
    while len(data) <= limit:
        if chunked:
            body = decode_chunked(data)
            if body is not None:
                return body
        more = await reader.read(min(4096, limit + 1 - len(data)))
        if not more:
            if chunked:
                raise HttpError("connection closed in the middle of a chunked body")
            return data
        data += more
    raise HttpError(f"body larger than {limit} bytes")
