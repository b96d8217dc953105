"""``tls`` against real asyncio/ssl listeners: trust, host name, expiry window and protocol floor, both ways."""

from __future__ import annotations

import asyncio
import datetime
import ssl
from pathlib import Path

import pytest
import trustme

from pytest_activate_ports.emulate.tls import server_context
from pytest_activate_ports.prober.probes.options import OptionError

from ..probe_harness import port_of, run_probe
from .conftest import Pki, Serve

NOW = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)


def leaf_valid_until(ca: trustme.CA, not_after: datetime.datetime) -> trustme.LeafCert:
    return ca.issue_cert("localhost", "127.0.0.1", not_before=NOW - datetime.timedelta(days=60), not_after=not_after)


@pytest.mark.asyncio
async def test_probe_tls_passes_and_reports_what_the_handshake_showed(
        pki: Pki, localhost_cert: trustme.LeafCert, serve: Serve) -> None:
    port = await serve(server_context(localhost_cert))
    result = await run_probe(pki.probe("tls"), port)
    assert result.passed, result.detail
    assert result.facts["tls_version"] == "TLSv1.3"
    assert result.facts["san"] == "localhost, 127.0.0.1, ::1"
    assert "O=activate-ports test CA" in result.facts["issuer"]
    for key in ("cipher", "subject", "not_after", "days_left"):
        assert result.facts[key]
    assert result.detail.startswith(f"TLSv1.3 {result.facts['cipher']}; certificate ")
    assert f"valid until {result.facts['not_after']}" in result.detail
    assert not result.warnings


@pytest.mark.asyncio
async def test_probe_tls_sends_the_spec_host_name_as_sni(pki: Pki, localhost_cert: trustme.LeafCert, serve: Serve) -> None:
    context = server_context(localhost_cert)
    seen: list[str | None] = []
    context.sni_callback = lambda _ssl, name, _ctx: seen.append(name)
    port = await serve(context)
    result = await run_probe(pki.probe("tls"), port, name="localhost")
    assert result.passed, result.detail
    assert seen == ["localhost"]


@pytest.mark.asyncio
async def test_probe_tls_fails_on_a_certificate_from_an_untrusted_ca(pki: Pki, serve: Serve) -> None:
    stranger = trustme.CA(organization_name="an untrusted CA")
    port = await serve(server_context(stranger.issue_cert("127.0.0.1")))
    result = await run_probe(pki.probe("tls"), port)
    assert not result.passed
    assert result.detail.startswith("certificate verify failed: ")
    assert "(against tls.ca (ca.pem)); presented: certificate" in result.detail
    assert "issued by O=an untrusted CA" in result.detail


@pytest.mark.asyncio
async def test_probe_tls_names_an_untrusted_certificate_even_where_client_certificates_are_demanded(
        pki: Pki, serve: Serve) -> None:
    stranger = trustme.CA(organization_name="an untrusted CA")
    port = await serve(server_context(stranger.issue_cert("127.0.0.1"), client_ca=pki.client_ca,
                                      maximum=ssl.TLSVersion.TLSv1_2))
    result = await run_probe(pki.probe("tls"), port)
    assert not result.passed
    assert "issued by O=an untrusted CA" in result.detail  # read from the plaintext TLS 1.2 Certificate message


@pytest.mark.asyncio
async def test_probe_tls_uses_the_system_store_without_tls_ca(pki: Pki, localhost_cert: trustme.LeafCert, serve: Serve) -> None:
    port = await serve(server_context(localhost_cert))
    result = await run_probe(pki.changed(ca=None).probe("tls"), port)
    assert not result.passed
    assert "unable to get local issuer certificate (against the system trust store)" in result.detail


@pytest.mark.asyncio
async def test_probe_tls_fails_on_an_expired_certificate(pki: Pki, ca: trustme.CA, serve: Serve) -> None:
    port = await serve(server_context(leaf_valid_until(ca, NOW - datetime.timedelta(days=2))))
    result = await run_probe(pki.probe("tls"), port)
    assert not result.passed
    assert result.detail.startswith("certificate verify failed: certificate has expired")
    expired = NOW - datetime.timedelta(days=2)
    assert f"valid until {expired:%b} {expired.day:2d}" in result.detail


@pytest.mark.asyncio
async def test_probe_tls_passes_with_a_warning_inside_the_expiry_window(pki: Pki, ca: trustme.CA, serve: Serve) -> None:
    port = await serve(server_context(leaf_valid_until(ca, NOW + datetime.timedelta(days=3))))
    result = await run_probe(pki.probe("tls"), port)
    assert result.passed, result.detail
    (warning,) = result.warnings
    assert "127.0.0.1:" in warning and "certificate expires in 3.0 days" in warning
    assert "inside the 14-day warning window; renew it" in warning


@pytest.mark.asyncio
async def test_probe_tls_expiry_window_comes_from_the_spec_and_the_probe_option(
        pki: Pki, ca: trustme.CA, serve: Serve) -> None:
    port = await serve(server_context(leaf_valid_until(ca, NOW + datetime.timedelta(days=20))))
    default = await run_probe(pki.probe("tls"), port)
    from_spec = await run_probe(pki.changed(expiry_warn_days=30).probe("tls"), port)
    from_option = await run_probe(pki.changed(expiry_warn_days=30).probe("tls", expiry_warn_days=7), port)
    assert default.passed and not default.warnings
    assert from_spec.passed and "30-day warning window" in from_spec.warnings[0]
    assert from_option.passed and not from_option.warnings


@pytest.mark.asyncio
async def test_probe_tls_fails_on_a_wrong_host_name(pki: Pki, localhost_cert: trustme.LeafCert, serve: Serve) -> None:
    port = await serve(server_context(localhost_cert))
    result = await run_probe(pki.probe("tls"), port, name="portal.example.mil")
    assert not result.passed
    assert "Hostname mismatch, certificate is not valid for 'portal.example.mil'" in result.detail
    assert "; SAN localhost, 127.0.0.1, ::1;" in result.detail  # the names it is valid for
    assert result.facts["san"] == "localhost, 127.0.0.1, ::1"


@pytest.mark.asyncio
async def test_probe_tls_min_version_fails_a_server_still_accepting_tls_1_0(
        pki: Pki, localhost_cert: trustme.LeafCert, serve: Serve) -> None:
    legacy = await serve(server_context(localhost_cert, minimum=ssl.TLSVersion.TLSv1))
    modern = await serve(server_context(localhost_cert, minimum=ssl.TLSVersion.TLSv1_2))
    failing = await run_probe(pki.probe("tls", min_version="TLS1.2"), legacy)
    passing = await run_probe(pki.probe("tls", min_version="TLS1.2"), modern)
    assert not failing.passed
    assert failing.detail.startswith("also accepts TLSv1.1, older than min_version TLS1.2; disable it on the server")
    assert failing.facts["older_versions"] == "TLSv1.1 accepted"
    assert passing.passed, passing.detail
    assert passing.facts["older_versions"] == "refused"


@pytest.mark.asyncio
async def test_probe_tls_min_version_from_the_spec_applies_to_tls_1_3(
        pki: Pki, localhost_cert: trustme.LeafCert, serve: Serve) -> None:
    tls12_max = await serve(server_context(localhost_cert, maximum=ssl.TLSVersion.TLSv1_2))
    both = await serve(server_context(localhost_cert))
    tls13_only = await serve(server_context(localhost_cert, minimum=ssl.TLSVersion.TLSv1_3))
    probe = pki.changed(min_version="TLS1.3").probe("tls")
    below = await run_probe(probe, tls12_max)
    also_older = await run_probe(probe, both)
    only = await run_probe(probe, tls13_only)
    assert not below.passed and below.detail.startswith("negotiated TLSv1.2, below min_version TLS1.3")
    assert not also_older.passed and also_older.detail.startswith("also accepts TLSv1.2, older than min_version TLS1.3")
    assert only.passed, only.detail


@pytest.mark.asyncio
async def test_probe_tls_fails_on_a_port_that_does_not_speak_tls(pki: Pki) -> None:
    async def plain_http(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(plain_http, "127.0.0.1", 0)
    async with server:
        result = await run_probe(pki.probe("tls"), port_of(server))
    assert not result.passed
    assert result.detail == "TLS handshake failed: wrong version number"


@pytest.mark.parametrize(("options", "message"), [
    ({"min_version": "TLS1.4"}, "'min_version' must be one of TLS1.0, TLS1.1, TLS1.2, TLS1.3, not 'TLS1.4'"),
    ({"expiry_warn_days": -1}, "'expiry_warn_days' must be in 0..3650"),
    ({"ca": "other.pem"}, "probe tls has no option 'ca'"),
])
def test_probe_tls_rejects_bad_options(pki: Pki, options: dict[str, object], message: str, tmp_path: Path) -> None:
    with pytest.raises(OptionError, match=message):
        pki.probe("tls", **options)
