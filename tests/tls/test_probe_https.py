"""``https``: tls plus one HTTP/1.1 request, with status expectations checked both ways."""

from __future__ import annotations

import asyncio
import datetime
import ssl

import pytest
import trustme

from pytest_activate_ports.emulate.tls import answer_http, server_context

from ..probe_harness import run_probe
from .conftest import Pki, Serve


@pytest.mark.parametrize("status", [200, 302, 401, 403])
@pytest.mark.asyncio
async def test_probe_https_default_passes_when_a_web_service_answers(
        pki: Pki, localhost_cert: trustme.LeafCert, serve: Serve, status: int) -> None:
    port = await serve(server_context(localhost_cert), answer_http(status))
    result = await run_probe(pki.probe("https"), port)
    assert result.passed, result.detail
    assert result.facts["status"] == str(status)
    assert result.detail.startswith(f"GET / answered HTTP/1.1 {status} ")
    assert "; TLSv1.3 " in result.detail


@pytest.mark.parametrize("status", [404, 500, 502])
@pytest.mark.asyncio
async def test_probe_https_default_fails_on_errors(pki: Pki, localhost_cert: trustme.LeafCert, serve: Serve, status: int) -> None:
    port = await serve(server_context(localhost_cert), answer_http(status))
    result = await run_probe(pki.probe("https"), port)
    assert not result.passed
    assert f"HTTP/1.1 {status} " in result.detail and "expected 2xx/3xx/401/403" in result.detail


@pytest.mark.asyncio
async def test_probe_https_explicit_status_and_path(pki: Pki, localhost_cert: trustme.LeafCert, serve: Serve) -> None:
    requested: list[bytes] = []

    async def health(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        requested.append(head.split(b"\r\n")[0])
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        await writer.drain()

    port = await serve(server_context(localhost_cert), health)
    passing = await run_probe(pki.probe("https", path="/api/health", status=200), port)
    failing = await run_probe(pki.probe("https", path="/api/health", status=[204, 401]), port)
    assert passing.passed, passing.detail
    assert not failing.passed
    assert failing.detail.startswith("GET /api/health answered HTTP/1.1 200 OK, expected 204, 401; TLSv1.3")
    assert requested == [b"GET /api/health HTTP/1.1"] * 2


@pytest.mark.asyncio
async def test_probe_https_fails_when_tls_fails(pki: Pki, localhost_cert: trustme.LeafCert, serve: Serve) -> None:
    port = await serve(server_context(localhost_cert))
    result = await run_probe(pki.probe("https"), port, name="portal.example.mil")
    assert not result.passed
    assert "Hostname mismatch" in result.detail and "status" not in result.facts


@pytest.mark.asyncio
async def test_probe_https_fails_on_a_listener_demanding_client_certificates(
        pki: Pki, localhost_cert: trustme.LeafCert, serve: Serve) -> None:
    port = await serve(server_context(localhost_cert, client_ca=pki.client_ca, minimum=ssl.TLSVersion.TLSv1_3))
    result = await run_probe(pki.probe("https"), port)
    assert not result.passed
    assert result.detail.startswith("GET /: ")  # TLS 1.3: refused only once the request is sent


@pytest.mark.asyncio
async def test_probe_https_passes_on_an_expiring_certificate_with_its_warning(
        pki: Pki, ca: trustme.CA, serve: Serve) -> None:
    now = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
    leaf = ca.issue_cert("127.0.0.1", not_after=now + datetime.timedelta(days=5))
    port = await serve(server_context(leaf))
    result = await run_probe(pki.probe("https"), port)
    assert result.passed, result.detail
    assert len(result.warnings) == 1 and "certificate expires in" in result.warnings[0]


@pytest.mark.asyncio
async def test_probe_https_min_version_is_checked_after_the_request(
        pki: Pki, localhost_cert: trustme.LeafCert, serve: Serve) -> None:
    port = await serve(server_context(localhost_cert, minimum=ssl.TLSVersion.TLSv1))
    result = await run_probe(pki.probe("https", min_version="TLS1.2"), port)
    assert not result.passed
    assert result.detail.startswith("also accepts TLSv1.1, older than min_version TLS1.2; disable it on the server; "
                                    "GET / answered HTTP/1.1 200 OK")
