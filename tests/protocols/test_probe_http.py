"""``http`` probe: status judging on constructed heads, and I/O against emulated services and nginx."""

from __future__ import annotations

import asyncio

import pytest

from pytest_activate_ports.emulate.http_services import serve_http
from pytest_activate_ports.prober.probes.http import judge_status
from pytest_activate_ports.prober.probes.http1 import parse_response_head
from pytest_activate_ports.prober.probes.options import OptionError

from ..probe_harness import LOOPBACK, probe, probe_against, run_probe, serve_banner
from .http_servers import Nginx

SSH_BANNER = b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n"


def test_probe_http_any_status_passes_and_is_described() -> None:
    head = parse_response_head(b"HTTP/1.1 503 Service Unavailable\r\nServer: node")
    result = judge_status(head, "/", frozenset())
    assert result.passed
    assert result.detail == "GET / answered HTTP/1.1 503 Service Unavailable (server node)"


def test_probe_http_unexpected_status_fails_naming_both() -> None:
    head = parse_response_head(b"HTTP/1.1 404 Not Found")
    result = judge_status(head, "/health", frozenset({200, 204}))
    assert not result.passed
    assert result.detail == "GET /health answered HTTP/1.1 404 Not Found, expected status 200/204"


@pytest.mark.parametrize("path", ["health", "/a b", ""])
def test_probe_http_rejects_bad_path_option(path: str) -> None:
    with pytest.raises(OptionError, match="must be a path starting with '/'"):
        probe("http", path=path)


def test_probe_http_rejects_unknown_option() -> None:
    with pytest.raises(OptionError, match="has no option 'stauts'"):
        probe("http", stauts=200)


@pytest.mark.asyncio
async def test_probe_http_passes_on_server_error_status() -> None:
    result = await probe_against(serve_http("127.0.0.1", 0, status=500), probe("http"))
    assert result.passed, result.detail
    assert result.facts["status"] == "500"


@pytest.mark.asyncio
async def test_probe_http_expected_status_mismatch_fails() -> None:
    result = await probe_against(serve_http("127.0.0.1", 0, status=500), probe("http", status=200, path="/api/health"))
    assert not result.passed
    assert "GET /api/health answered HTTP/1.1 500 Internal Server Error" in result.detail


@pytest.mark.asyncio
async def test_probe_http_passes_against_nginx(http_nginx: Nginx) -> None:
    result = await run_probe(probe("http", status=200), http_nginx.ports["plain"])
    assert result.passed, result.detail
    assert "nginx" in result.detail


@pytest.mark.asyncio
async def test_probe_http_fails_on_an_nginx_tls_port_next_to_a_plain_one(http_nginx: Nginx) -> None:
    """nginx's ``listen ... ssl`` answers plain HTTP with a 400 page that only says it wants TLS."""
    tls_only = await run_probe(probe("http"), http_nginx.ports["tls"])
    plain = await run_probe(probe("http"), http_nginx.ports["plain"])
    assert not tls_only.passed
    assert tls_only.detail.startswith('GET / answered HTTP/1.1 400 Bad Request (server nginx/1.')
    assert tls_only.detail.endswith('"The plain HTTP request was sent to HTTPS port" (nginx 497): the port speaks TLS, '
                                    "not plain HTTP; check it with probe: https (or tls)")
    assert plain.passed, plain.detail


@pytest.mark.parametrize("alert", [
    b"\x15\x03\x01\x00\x02\x02\x46",  # protocol version, as some TLS stacks answer a plaintext ClientHello
    b"\x15\x03\x03\x00\x02\x02\x0a",  # unexpected message: its last byte is a line feed
])
@pytest.mark.asyncio
async def test_probe_http_fails_on_a_tls_alert_answer(alert: bytes) -> None:
    result = await probe_against(serve_banner(alert), probe("http"))
    assert not result.passed
    assert result.detail.startswith("GET /: answered with a TLS record ('\\x15\\x03")
    assert result.detail.endswith("(a TLS alert)), not HTTP: the port speaks TLS; check it with probe: https (or tls)")


@pytest.mark.asyncio
async def test_probe_http_passes_an_ordinary_400() -> None:
    """Only nginx's plain-HTTP-to-HTTPS page says "TLS port": any other 400 is still an HTTP answer."""
    result = await probe_against(serve_http("127.0.0.1", 0, status=400, body=b"<html>400 Bad Request: no Host</html>"),
                                 probe("http"))
    assert result.passed, result.detail


@pytest.mark.asyncio
async def test_probe_http_rejects_ssh_banner() -> None:
    result = await probe_against(serve_banner(SSH_BANNER), probe("http"))
    assert not result.passed
    assert result.detail == "GET /: not an HTTP response: 'SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3'"


@pytest.mark.asyncio
async def test_probe_http_rejects_garbage_bytes() -> None:
    result = await probe_against(serve_banner(b"\x00\x01\x02\xff garbage"), probe("http"))
    assert not result.passed
    assert "not an HTTP response" in result.detail


async def serve_line_and_hold(line: bytes) -> asyncio.Server:
    """A wrong service that says one line and then keeps the connection open (as a hung daemon would)."""
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(line)
        await reader.read()  # until the probe hangs up
        writer.close()

    return await asyncio.start_server(handle, LOOPBACK, 0)


@pytest.mark.asyncio
async def test_probe_http_judges_the_status_line_before_the_peer_goes_quiet() -> None:
    """A non-HTTP first line fails on sight, instead of waiting for a blank line that never comes."""
    result = await probe_against(serve_line_and_hold(b"* OK IMAP4rev1 ready\r\n"), probe("http"), timeout=2)
    assert not result.passed
    assert result.detail == "GET /: not an HTTP response: '* OK IMAP4rev1 ready'"


@pytest.mark.asyncio
async def test_probe_http_rejects_a_head_without_crlf_line_ends() -> None:
    result = await probe_against(serve_line_and_hold(b"HTTP/1.1 200 OK\nServer: lf-only\n\n"), probe("http"), timeout=2)
    assert not result.passed
    assert result.detail == "GET /: response head line not ended by CRLF: b'HTTP/1.1 200 OK\\n'"


@pytest.mark.asyncio
async def test_probe_http_fails_on_truncated_response_head() -> None:
    result = await probe_against(serve_banner(b"HTTP/1.1 200 OK\r\nServer: half"), probe("http"))
    assert not result.passed
    assert result.detail == "GET /: connection closed in the middle of the response head"
