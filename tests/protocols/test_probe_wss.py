"""``wss`` probe: RFC 6455 handshake logic on constructed bytes; I/O over TLS against the emulated tunnel and nginx."""

from __future__ import annotations

import asyncio
import base64
import ssl
from pathlib import Path

import pytest
import trustme

from pytest_activate_ports.emulate.http_services import serve_websocket
from pytest_activate_ports.prober.probes.http1 import exchange, parse_response_head
from pytest_activate_ports.prober.probes.options import OptionError
from pytest_activate_ports.prober.probes.wss import (
    accept_for,
    close_frame,
    judge_upgrade,
    new_key,
    upgrade_request,
)

from ..probe_harness import BackgroundLoop, port_of, probe, probe_against, run_probe, serve_banner
from .conftest import run_plugin
from .http_servers import Nginx

SECRET = "s3cr3t-token-value"
KEY = "dGhlIHNhbXBsZSBub25jZQ=="  # the sample nonce of RFC 6455 section 1.3


@pytest.fixture
def server_tls(localhost_cert: trustme.LeafCert) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    localhost_cert.configure_cert(context)
    return context


def test_probe_wss_accept_matches_rfc_6455_example() -> None:
    assert accept_for(KEY) == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


def test_probe_wss_keys_are_random_16_byte_nonces() -> None:
    keys = {new_key() for _ in range(20)}
    assert len(keys) == 20
    assert all(len(base64.b64decode(key, validate=True)) == 16 for key in keys)


def test_probe_wss_request_carries_the_handshake_headers() -> None:
    request = upgrade_request("lb.example", "/ws/ssh/tunnel", KEY, {"Authorization": "Bearer x"})
    lines = request.decode().split("\r\n")
    assert lines[0] == "GET /ws/ssh/tunnel HTTP/1.1"
    assert {"Host: lb.example", "Upgrade: websocket", "Connection: Upgrade", f"Sec-WebSocket-Key: {KEY}",
            "Sec-WebSocket-Version: 13", "Authorization: Bearer x"} <= set(lines)
    assert request.endswith(b"\r\n\r\n")


def test_probe_wss_close_frame_is_masked_close_1000() -> None:
    frame = close_frame()
    assert frame[0] == 0x88 and frame[1] == 0x82
    mask, payload = frame[2:6], frame[6:]
    assert bytes(b ^ mask[i] for i, b in enumerate(payload)) == b"\x03\xe8"


def switching(*headers: str) -> bytes:
    return "\r\n".join(("HTTP/1.1 101 Switching Protocols", *headers)).encode()


def test_probe_wss_judges_101_with_correct_accept_as_pass() -> None:
    response = switching("Upgrade: WebSocket", "Connection: keep-alive, Upgrade", "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
    assert judge_upgrade(parse_response_head(response), "/t", KEY, True).passed


@pytest.mark.parametrize(("headers", "problem"), [
    (("Upgrade: websocket", "Connection: Upgrade", "Sec-WebSocket-Accept: AAAA"), "a wrong or missing Sec-WebSocket-Accept"),
    (("Upgrade: websocket", "Connection: Upgrade"), "a wrong or missing Sec-WebSocket-Accept"),
    (("Connection: Upgrade", "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo="), "no 'Upgrade: websocket'"),
    (("Upgrade: websocket", "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo="), "no 'Connection: Upgrade'"),
])
def test_probe_wss_rejects_a_101_that_is_not_a_websocket_handshake(headers: tuple[str, ...], problem: str) -> None:
    result = judge_upgrade(parse_response_head(switching(*headers)), "/t", KEY, True)
    assert not result.passed
    assert problem in result.detail


@pytest.mark.parametrize("status", [401, 403])
def test_probe_wss_auth_required_is_configurable(status: int) -> None:
    head = parse_response_head(f"HTTP/1.1 {status} X".encode())
    accepted = judge_upgrade(head, "/t", KEY, True)
    refused = judge_upgrade(head, "/t", KEY, False)
    assert accepted.passed and "endpoint /t present, authentication required" in accepted.detail
    assert not refused.passed and "accept_auth_required: false" in refused.detail


@pytest.mark.parametrize(("status_line", "reason"), [
    ("HTTP/1.1 404 Not Found", "answered HTTP/1.1 404 Not Found: no WebSocket endpoint there"),
    ("HTTP/1.1 200 OK", "answered HTTP/1.1 200 OK, expected 101 Switching Protocols"),
    ("HTTP/1.1 426 Upgrade Required", "expected 101 Switching Protocols"),
])
def test_probe_wss_rejects_non_upgrade_answers(status_line: str, reason: str) -> None:
    result = judge_upgrade(parse_response_head(status_line.encode()), "/t", KEY, True)
    assert not result.passed
    assert reason in result.detail


@pytest.mark.parametrize("headers", [{"Upgrade": "h2c"}, {"sec-websocket-key": "x"}, {"Bad Name": "x"}, {"X-Token": "a\r\nb"}])
def test_probe_wss_rejects_reserved_or_malformed_headers_without_showing_values(headers: dict[str, str]) -> None:
    with pytest.raises(OptionError) as info:
        probe("wss", headers=headers)
    assert "cannot be sent" in str(info.value)
    assert "\r" not in str(info.value) and "a\\r\\nb" not in str(info.value)


@pytest.mark.asyncio
async def test_probe_wss_upgrades_over_verified_tls(server_tls: ssl.SSLContext, ca_pem: Path) -> None:
    result = await probe_against(serve_websocket("127.0.0.1", 0, ssl=server_tls), probe("wss", ca=ca_pem), spec_port=443)
    assert result.passed, result.detail
    assert result.detail == "upgrade of /ws/ssh/tunnel answered HTTP/1.1 101 Switching Protocols with a valid Sec-WebSocket-Accept"
    assert result.facts["tls_version"].startswith("TLS") and "activate-ports test CA" in result.facts["issuer"]


@pytest.mark.asyncio
async def test_probe_wss_unauthenticated_upgrade_refused_passes_by_default(server_tls: ssl.SSLContext, ca_pem: Path) -> None:
    server = await serve_websocket("127.0.0.1", 0, ssl=server_tls, token=SECRET)
    async with server:
        default = await run_probe(probe("wss", ca=ca_pem), port_of(server))
        strict = await run_probe(probe("wss", ca=ca_pem, accept_auth_required=False), port_of(server))
    assert default.passed and "authentication required (HTTP/1.1 401 Unauthorized)" in default.detail
    assert not strict.passed


async def serve_forbidding(ssl_context: ssl.SSLContext | None = None) -> asyncio.Server:
    """A listener with no WebSocket anywhere that answers every request 403 (an IP allow-list, a WAF)."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        writer.close()

    return await asyncio.start_server(handle, "127.0.0.1", 0, ssl=ssl_context)


@pytest.mark.asyncio
@pytest.mark.parametrize("secure", [True, False], ids=["wss", "ws"])
async def test_probe_wss_refusal_of_everything_is_unproven_never_passed(
        server_tls: ssl.SSLContext, ca_pem: Path, secure: bool) -> None:
    result = await probe_against(serve_forbidding(server_tls if secure else None), probe("wss", ca=ca_pem, tls=secure))
    assert not result.passed and result.unproven
    assert result.detail == (
        "upgrade of /ws/ssh/tunnel answered HTTP/1.1 403 Forbidden, but GET /ws/ssh/tunnel without the upgrade answered "
        "HTTP/1.1 403 Forbidden, an upgrade of /activate-ports-no-such-path answered HTTP/1.1 403 Forbidden: a refusal "
        "of everything does not show a WebSocket endpoint; add headers: with a token (e.g. Authorization) so that the "
        "upgrade itself can succeed")


@pytest.mark.asyncio
async def test_probe_wss_refusal_only_on_the_endpoint_passes(server_tls: ssl.SSLContext, ca_pem: Path) -> None:
    """The emulated tunnel refuses anything on its path without a token (401) and knows no other path (404)."""
    server = await serve_websocket("127.0.0.1", 0, ssl=server_tls, token=SECRET)
    async with server:
        result = await run_probe(probe("wss", ca=ca_pem), port_of(server))
    assert result.passed and not result.unproven, result.detail
    assert result.detail.endswith("an upgrade of /activate-ports-no-such-path answered HTTP/1.1 404 Not Found")


@pytest.mark.asyncio
async def test_probe_wss_nginx_guarding_the_ws_prefix_passes_and_nginx_refusing_everything_is_unproven(
        http_nginx: Nginx, ca_pem: Path) -> None:
    guarded = await run_probe(probe("wss", ca=ca_pem), http_nginx.ports["ws_auth"], name="localhost")
    everything = await run_probe(probe("wss", ca=ca_pem), http_nginx.ports["deny_all"], name="localhost")
    assert guarded.passed, guarded.detail
    assert "authentication required (HTTP/1.1 403 Forbidden (server nginx/" in guarded.detail
    assert not everything.passed and everything.unproven
    assert "a refusal of everything does not show a WebSocket endpoint" in everything.detail


def test_plugin_wss_refusing_everything_is_skipped_as_unproven(pytester: pytest.Pytester) -> None:
    with BackgroundLoop() as loop:
        port = loop.serve(serve_forbidding)
        result = run_plugin(pytester, {"tunnel": (443, {"kind": "wss", "tls": False}, port)}, "-rs")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["SKIPPED *unproven: tunnel-host:443 via * open, wss: upgrade of /ws/ssh/tunnel answered "
                                 "HTTP/1.1 403 Forbidden, but *"])


@pytest.mark.asyncio
async def test_probe_wss_sends_token_header_and_never_reports_it(server_tls: ssl.SSLContext, ca_pem: Path) -> None:
    server = await serve_websocket("127.0.0.1", 0, ssl=server_tls, token=SECRET)
    async with server:
        good = await run_probe(probe("wss", ca=ca_pem, headers={"Authorization": f"Bearer {SECRET}"}), port_of(server))
        bad = await run_probe(probe("wss", ca=ca_pem, headers={"Authorization": "Bearer wrong-secret"}), port_of(server))
    assert good.passed, good.detail
    assert not bad.passed and "401" in bad.detail  # credentials were sent, so 401 means they were refused
    for result in (good, bad):
        shown = result.detail + repr(result.facts) + repr(result.checks) + repr(result.warnings)
        assert SECRET not in shown and "wrong-secret" not in shown


@pytest.mark.asyncio
@pytest.mark.parametrize(("broken", "reason"), [
    ("not-found", "404 Not Found: no WebSocket endpoint there"),
    ("plain-200", "200 OK, expected 101 Switching Protocols"),
    ("wrong-accept", "a wrong or missing Sec-WebSocket-Accept"),
])
async def test_probe_wss_fails_against_broken_endpoints(server_tls: ssl.SSLContext, ca_pem: Path, broken: str, reason: str) -> None:
    result = await probe_against(serve_websocket("127.0.0.1", 0, ssl=server_tls, broken=broken), probe("wss", ca=ca_pem))
    assert not result.passed
    assert reason in result.detail


@pytest.mark.asyncio
async def test_probe_wss_plain_ws_when_tls_is_off() -> None:
    result = await probe_against(serve_websocket("127.0.0.1", 0, path="/agent"), probe("wss", tls=False, path="/agent"))
    assert result.passed, result.detail


@pytest.mark.asyncio
async def test_probe_wss_fails_on_untrusted_certificate(server_tls: ssl.SSLContext) -> None:
    server = await serve_websocket("127.0.0.1", 0, ssl=server_tls)
    async with server:
        result = await run_probe(probe("wss"), port_of(server))  # no tls.ca: the system store does not know trustme
    assert not result.passed
    assert result.detail.startswith("certificate verify failed: unable to get local issuer certificate (against the system trust store)")
    assert "issued by O=activate-ports test CA" in result.detail


@pytest.mark.asyncio
async def test_probe_wss_rejects_ssh_banner(ca_pem: Path) -> None:
    result = await probe_against(serve_banner(b"SSH-2.0-OpenSSH_9.2p1\r\n"), probe("wss", ca=ca_pem))
    assert not result.passed
    assert result.detail.startswith("TLS handshake failed:")


@pytest.mark.asyncio
async def test_probe_wss_upgrades_through_nginx_proxy(http_nginx: Nginx, ca_pem: Path) -> None:
    backend = await serve_websocket("127.0.0.1", http_nginx.ws_backend)
    async with backend:
        result = await run_probe(probe("wss", ca=ca_pem), http_nginx.ports["tls"], name="localhost", spec_port=443)
    assert result.passed, result.detail
    assert "nginx" in result.facts["server"]


@pytest.mark.asyncio
async def test_probe_wss_fails_when_nginx_backend_is_down(http_nginx: Nginx, ca_pem: Path) -> None:
    result = await run_probe(probe("wss", ca=ca_pem), http_nginx.ports["tls"], name="localhost")
    assert not result.passed
    assert "502 Bad Gateway" in result.detail


@pytest.mark.asyncio
@pytest.mark.parametrize(("path", "reason"), [("/missing", "404 Not Found"), ("/plain", "200 OK (server nginx/")])
async def test_probe_wss_fails_against_nginx_without_the_endpoint(http_nginx: Nginx, ca_pem: Path, path: str, reason: str) -> None:
    result = await run_probe(probe("wss", ca=ca_pem, path=path), http_nginx.ports["tls"], name="localhost")
    assert not result.passed
    assert reason in result.detail


@pytest.mark.asyncio
@pytest.mark.parametrize(("headers", "status"), [
    ({"Sec-WebSocket-Version": "8"}, "426 Upgrade Required"),
    ({"Sec-WebSocket-Key": "dG9vIHNob3J0"}, "400 Bad Request"),
    ({"Upgrade": "h2c"}, "400 Bad Request"),
])
async def test_emulated_tunnel_refuses_invalid_handshakes_like_rfc_6455_says(headers: dict[str, str], status: str) -> None:
    server = await serve_websocket("127.0.0.1", 0)
    async with server:
        reader, writer = await asyncio.open_connection("127.0.0.1", port_of(server))
        head = await exchange(reader, writer, upgrade_request("localhost", "/ws/ssh/tunnel", KEY, headers))
        writer.close()
        await writer.wait_closed()
    assert f"{head.status} {head.reason}" == status
    assert head.header("Sec-WebSocket-Version") == ("13" if head.status == 426 else None)
