"""The TLS probes against real OpenSSL and nginx servers, so the probes are not only proven Python against Python.

Skipped with a reason where ``openssl`` or ``nginx`` is missing (Debian
packages in ``.ci/packages-tls.txt``).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme
from cryptography import x509

from ..probe_harness import run_probe
from .conftest import Pki
from .daemons import Daemon, nginx_cac, s_server

S_SERVERS = {
    "enforcing": ("-Verify", "1", "-verify_return_error"),
    "enforcing-tls1.2": ("-Verify", "1", "-verify_return_error", "-tls1_2"),
    "enforcing-tls1.3": ("-Verify", "1", "-verify_return_error", "-tls1_3"),
    "unverified": ("-Verify", "1"),  # demands a certificate but only logs verify errors
    "optional": ("-verify", "1", "-verify_return_error"),  # asks for a certificate, does not demand one
    "legacy": ("-min_protocol", "TLSv1", "-cipher", "DEFAULT:@SECLEVEL=0"),  # still speaks TLS 1.0/1.1
}


@pytest.fixture(scope="module")
def pem_files(localhost_cert: trustme.LeafCert, client_ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("tls-servers")
    localhost_cert.private_key_and_cert_chain_pem.write_to_path(str(root / "server.pem"))
    client_ca.cert_pem.write_to_path(str(root / "client-ca.pem"))
    return root


@pytest.fixture(scope="module")
def openssl(pem_files: Path) -> Iterator[dict[str, Daemon]]:
    """One ``openssl s_server`` per client-certificate policy in :data:`S_SERVERS`."""
    daemons: dict[str, Daemon] = {}
    try:
        for name, flags in S_SERVERS.items():
            daemons[name] = s_server(pem_files, pem_files / "server.pem", pem_files / "client-ca.pem", *flags)
        yield daemons
    finally:
        for daemon in daemons.values():
            daemon.stop()


@pytest.fixture(scope="module")
def nginx(pem_files: Path) -> Iterator[Daemon]:
    daemon = nginx_cac(pem_files, pem_files / "server.pem", pem_files / "client-ca.pem")
    yield daemon
    daemon.stop()


def rfc4514(ca: trustme.CA) -> str:
    """The CA's subject as ``openssl x509 -nameopt RFC2253`` prints it (most specific first)."""
    return x509.load_pem_x509_certificate(ca.cert_pem.bytes()).subject.rfc4514_string()


@pytest.mark.parametrize("server", ["enforcing", "enforcing-tls1.2", "enforcing-tls1.3"])
@pytest.mark.asyncio
async def test_openssl_enforcing_listener_passes_mtls(pki: Pki, openssl: dict[str, Daemon], server: str) -> None:
    result = await run_probe(pki.probe("mtls"), openssl[server].port)
    assert result.passed, result.detail
    assert result.checks[3].detail == "accepted and answered HTTP/1.0 200 ok"


@pytest.mark.asyncio
async def test_openssl_rejections_are_tls_alerts(pki: Pki, openssl: dict[str, Daemon]) -> None:
    tls13 = await run_probe(pki.probe("mtls"), openssl["enforcing-tls1.3"].port)
    tls12 = await run_probe(pki.probe("mtls"), openssl["enforcing-tls1.2"].port)
    assert tls13.checks[1].detail == "rejected: peer sent TLS alert certificate required at the first read"
    assert tls13.checks[2].detail == "rejected: peer sent TLS alert unknown ca at the first read"
    assert tls12.checks[1].detail == "rejected: peer sent TLS alert handshake failure during the handshake"
    assert tls12.checks[2].detail == "rejected: peer sent TLS alert unknown ca during the handshake"


@pytest.mark.asyncio
async def test_openssl_listener_that_only_logs_verify_errors_fails_mtls(pki: Pki, openssl: dict[str, Daemon]) -> None:
    result = await run_probe(pki.probe("mtls"), openssl["unverified"].port)
    assert not result.passed
    assert {c.name: c.passed for c in result.checks}["untrusted-client-cert-rejected"] is False
    assert "untrusted-client-cert-rejected FAILED: answered with a client certificate from an untrusted CA" in result.detail


@pytest.mark.asyncio
async def test_openssl_listener_with_optional_client_certs_fails_mtls(pki: Pki, openssl: dict[str, Daemon]) -> None:
    result = await run_probe(pki.probe("mtls"), openssl["optional"].port)
    assert not result.passed
    assert {c.name: c.passed for c in result.checks}["no-client-cert-rejected"] is False


@pytest.mark.asyncio
async def test_openssl_certificate_request_lists_the_acceptable_ca(pki: Pki, client_ca: trustme.CA,
                                                                   openssl: dict[str, Daemon]) -> None:
    listed = await run_probe(pki.probe("mtls", acceptable_ca=[rfc4514(client_ca)]), openssl["enforcing-tls1.2"].port)
    missing = await run_probe(pki.probe("mtls", acceptable_ca=["CN=DoD Root CA 3, OU=PKI, OU=DoD, O=U.S. Government, C=US"]),
                              openssl["enforcing-tls1.2"].port)
    tls13_only = await run_probe(pki.probe("mtls", acceptable_ca=[rfc4514(client_ca)]), openssl["enforcing-tls1.3"].port)
    assert listed.passed, listed.detail
    assert listed.checks[4].detail == "CertificateRequest lists 1 required CA(s) among 1"
    assert not missing.passed
    assert missing.checks[4].detail.startswith("CertificateRequest lacks CN=DoD Root CA 3, OU=PKI, OU=DoD, "
                                               "O=U.S. Government, C=US; it lists: O=activate-ports test client CA")
    assert not tls13_only.passed and tls13_only.checks[4].passed is None
    assert "not verifiable: the server refused TLS 1.2 (alert protocol version)" in tls13_only.checks[4].detail


@pytest.mark.asyncio
async def test_openssl_tls_probe_and_protocol_floor(pki: Pki, openssl: dict[str, Daemon]) -> None:
    modern = await run_probe(pki.probe("tls", min_version="TLS1.2"), openssl["optional"].port)
    legacy = await run_probe(pki.probe("tls", min_version="TLS1.2"), openssl["legacy"].port)
    assert modern.passed, modern.detail
    assert modern.facts["tls_version"] == "TLSv1.3" and modern.facts["older_versions"] == "refused"
    assert not legacy.passed
    assert legacy.detail.startswith("also accepts TLSv1.1, older than min_version TLS1.2")


@pytest.mark.asyncio
async def test_nginx_cac_listener_refusing_in_http_passes_mtls_without_reject_status(
        pki: Pki, client_ca: trustme.CA, nginx: Daemon) -> None:
    """``ssl_verify_client on`` completes the handshake, then answers nginx's own 400 pages."""
    result = await run_probe(pki.probe("mtls", acceptable_ca=[rfc4514(client_ca)]), nginx.port)
    assert result.passed, result.detail
    assert result.checks[1].detail.startswith("rejected: refused in HTTP: HTTP/1.1 400 Bad Request (server nginx/")
    assert result.checks[1].detail.endswith('"No required SSL certificate was sent" (nginx 496)')
    assert result.checks[2].detail.endswith('"The SSL certificate error" (nginx 495)')
    assert result.checks[3].detail.startswith("accepted and answered HTTP/1.1 200 OK")


@pytest.mark.asyncio
async def test_nginx_cac_listener_with_the_wrong_client_ca_fails_mtls(pki: Pki, nginx: Daemon) -> None:
    """nginx refusing the spec's own certificate ("The SSL certificate error") fails client-cert-accepted."""
    other = trustme.CA(organization_name="a client CA nginx does not trust").issue_cert("jane.doe@example.mil")
    folder = pki.config.client_cert.parent if pki.config.client_cert else None
    assert folder is not None
    other.cert_chain_pems[0].write_to_path(str(folder / "other.pem"))
    other.private_key_pem.write_to_path(str(folder / "other.key"))
    result = await run_probe(pki.changed(client_cert=folder / "other.pem", client_key=folder / "other.key").probe("mtls"),
                             nginx.port)
    assert not result.passed
    assert result.checks[3].passed is False
    assert result.checks[3].detail.endswith('"The SSL certificate error" (nginx 495)')


@pytest.mark.asyncio
async def test_nginx_tls_probe_reports_the_real_handshake(pki: Pki, nginx: Daemon) -> None:
    result = await run_probe(pki.probe("tls"), nginx.port)
    assert result.passed, result.detail
    assert result.facts["tls_version"] in ("TLSv1.2", "TLSv1.3") and result.facts["san"] == "localhost, 127.0.0.1, ::1"
