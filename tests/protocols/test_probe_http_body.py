"""Bounded HTTP body reading added to ``http1`` for probes that judge a body (Vault's JSON)."""

from __future__ import annotations

import asyncio

import pytest

from pytest_activate_ports.prober.probes.http1 import (
    HttpError,
    decode_chunked,
    describe,
    parse_response_head,
    read_body,
)


def test_decode_chunked_joins_chunks_and_skips_extensions_and_trailers() -> None:
    assert decode_chunked(b"4;ext=1\r\nWiki\r\n5\r\npedia\r\n0\r\nX-Trailer: 1\r\n\r\n") == b"Wikipedia"


@pytest.mark.parametrize("data", [b"", b"4\r\nWi", b"4\r\nWiki\r\n", b"4\r\nWiki\r\n0\r\n", b"4\r\nWiki\r\n0\r\nX: 1\r\n"])
def test_decode_chunked_waits_for_truncated_input(data: bytes) -> None:
    assert decode_chunked(data) is None


@pytest.mark.parametrize("data", [b"zz\r\nWiki\r\n0\r\n\r\n", b"4\r\nWikiXX0\r\n\r\n", b"-1\r\n\r\n"])
def test_decode_chunked_rejects_garbage(data: bytes) -> None:
    with pytest.raises(HttpError):
        decode_chunked(data)


def test_describe_shows_status_line_and_server() -> None:
    assert describe(parse_response_head(b"HTTP/1.0 200 OK")) == "HTTP/1.0 200 OK"
    assert describe(parse_response_head(b"HTTP/1.1 429 \r\nServer: x")) == "HTTP/1.1 429 (server x)"


async def _body(head: bytes, rest: bytes, limit: int = 100) -> bytes:
    reader = asyncio.StreamReader()
    reader.feed_data(rest)
    reader.feed_eof()
    return await read_body(reader, parse_response_head(head), limit)


@pytest.mark.asyncio
async def test_read_body_by_content_length_chunked_and_eof() -> None:
    assert await _body(b"HTTP/1.1 200 OK\r\nContent-Length: 3", b"abcdef") == b"abc"
    assert await _body(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked", b"3\r\nabc\r\n0\r\n\r\n") == b"abc"
    assert await _body(b"HTTP/1.1 200 OK", b"until close") == b"until close"


@pytest.mark.asyncio
@pytest.mark.parametrize(("head", "rest", "message"), [
    (b"HTTP/1.1 200 OK\r\nContent-Length: 10", b"abc", "connection closed after 3 of 10 body bytes"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 1000", b"", "body of 1000 bytes is larger than 100"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: -1", b"", "malformed Content-Length"),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked", b"3\r\nab", "in the middle of a chunked body"),
    (b"HTTP/1.1 200 OK", b"x" * 500, "body larger than 100 bytes"),
])
async def test_read_body_is_bounded_and_reports_truncation(head: bytes, rest: bytes, message: str) -> None:
    with pytest.raises(HttpError, match=message):
        await _body(head, rest)
