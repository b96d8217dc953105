"""``vault`` probe: health judging on constructed responses; I/O against the emulated Vault (Debian has none) and nginx."""

from __future__ import annotations

import json
import ssl
from pathlib import Path

import pytest
import trustme

from pytest_activate_ports.emulate.http_services import (
    Request,
    parse_request,
    serve_vault,
    vault_health,
)
from pytest_activate_ports.prober.probes.http1 import parse_response_head
from pytest_activate_ports.prober.probes.options import OptionError
from pytest_activate_ports.prober.probes.registry import build
from pytest_activate_ports.prober.probes.vault import (
    NotVaultHealth,
    judge_health,
    parse_health,
)

from pytest_activate_ports.spec.model import TlsConfig

from ..probe_harness import port_of, probe, probe_against, run_probe, serve_banner
from .http_servers import Nginx


def health(**fields: object) -> bytes:
    return json.dumps({"initialized": True, "sealed": False, "standby": False, "version": "1.15.6", **fields}).encode()


def status(code: int) -> object:
    return parse_response_head(f"HTTP/1.1 {code} X".encode())


def test_probe_vault_active_node_passes() -> None:
    result = judge_health(parse_response_head(b"HTTP/1.1 200 OK"), health(cluster_name="c1"))
    assert result.passed
    assert result.detail == "Vault 1.15.6 initialized, unsealed, active (200)"
    assert result.facts["cluster_name"] == "c1"


@pytest.mark.parametrize(("code", "role"), [(429, "standby"), (473, "performance standby")])
def test_probe_vault_standby_passes_unless_refused(code: int, role: str) -> None:
    head = parse_response_head(f"HTTP/1.1 {code} status code {code}".encode())
    body = health(standby=True)
    assert judge_health(head, body).detail == f"Vault 1.15.6 initialized, unsealed, {role} ({code}); standby nodes accepted"
    refused = judge_health(head, body, accept_standby=False)
    assert not refused.passed and "accept_standby: false requires the active node" in refused.detail


@pytest.mark.parametrize(("code", "fields", "reason"), [
    (501, {"initialized": False, "sealed": True}, "Vault 1.15.6 is not initialized (501); run 'vault operator init'"),
    (503, {"sealed": True}, "Vault 1.15.6 is sealed (503); unseal it"),
    (472, {}, "Vault 1.15.6 initialized, unsealed, disaster-recovery secondary (472): it does not serve clients"),
    (474, {}, "standby that cannot reach the active node (474): it does not serve clients"),
    (200, {"sealed": True}, "Vault 1.15.6 is sealed (200); unseal it"),
])
def test_probe_vault_unusable_states_fail_with_their_name(code: int, fields: dict[str, object], reason: str) -> None:
    result = judge_health(parse_response_head(f"HTTP/1.1 {code} X".encode()), health(**fields))
    assert not result.passed
    assert reason in result.detail


@pytest.mark.parametrize(("body", "message"), [
    (b"<html>welcome to nginx</html>", "body is not JSON"),
    (b'{"status": "ok"}', "JSON without boolean 'initialized' and 'sealed'"),
    (b'{"initialized": "true", "sealed": false}', "JSON without boolean"),
    (b"[1, 2]", "JSON without boolean"),
    (b"\xff\xfe", "body is not JSON"),
    (b'{"initialized": true, "sea', "body is not JSON"),
])
def test_probe_vault_parser_rejects_non_vault_bodies(body: bytes, message: str) -> None:
    with pytest.raises(NotVaultHealth, match=message):
        parse_health(body)


def test_probe_vault_non_vault_http_fails_and_hints_at_tls_on_400() -> None:
    head = parse_response_head(b"HTTP/1.0 400 Bad Request")
    result = judge_health(head, b"Client sent an HTTP request to an HTTPS server.\n")
    assert not result.passed
    assert result.detail.startswith("GET /v1/sys/health answered HTTP/1.0 400 Bad Request, not Vault's health response")
    assert result.detail.endswith("set tls: true)")


def test_emulated_vault_honours_standbyok_like_vault() -> None:
    def code(state: str, target: str) -> int:
        return parse_response_head(vault_health(state, parse_request(f"GET {target} HTTP/1.1".encode()), "1", "c").split(b"\r\n\r\n")[0]).status

    assert code("standby", "/v1/sys/health") == 429
    assert code("standby", "/v1/sys/health?standbyok=true") == 200
    assert code("perf-standby", "/v1/sys/health?standbyok=true") == 473  # standbyok does not apply to performance standbys
    assert code("perf-standby", "/v1/sys/health?perfstandbyok=1") == 200
    head_only = vault_health("sealed", Request("HEAD", "/v1/sys/health", {}), "1", "c")
    assert head_only.startswith(b"HTTP/1.1 503 Service Unavailable\r\n") and head_only.endswith(b"\r\n\r\n")


@pytest.mark.asyncio
@pytest.mark.parametrize(("state", "passed", "words"), [
    ("active", True, "initialized, unsealed, active (200)"),
    ("standby", True, "unsealed, standby (429); standby nodes accepted"),
    ("perf-standby", True, "performance standby (473)"),
    ("dr-secondary", False, "disaster-recovery secondary (472)"),
    ("uninitialized", False, "is not initialized (501)"),
    ("sealed", False, "is sealed (503)"),
])
async def test_probe_vault_against_emulated_vault(state: str, passed: bool, words: str) -> None:
    result = await probe_against(serve_vault("127.0.0.1", 0, state=state, version="1.15.6"), probe("vault"), spec_port=8200)
    assert result.passed is passed, result.detail
    assert result.detail.startswith("Vault 1.15.6 ") and words in result.detail


@pytest.mark.asyncio
async def test_probe_vault_over_tls(localhost_cert: trustme.LeafCert, ca_pem: Path) -> None:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    localhost_cert.configure_cert(context)
    server = await serve_vault("127.0.0.1", 0, ssl=context)
    async with server:
        over_tls = await run_probe(probe("vault", ca=ca_pem, tls=True), port_of(server))
        in_clear = await run_probe(probe("vault"), port_of(server))
    assert over_tls.passed, over_tls.detail
    assert not in_clear.passed


@pytest.mark.asyncio
async def test_probe_vault_verifies_its_own_ca_or_only_reports(ca_pem: Path, tmp_path: Path) -> None:
    """Vault's listener with a certificate from an internal CA, not the spec's tls.ca."""
    internal = trustme.CA(organization_name="vault internal CA")
    own = tmp_path / "vault-ca.pem"
    internal.cert_pem.write_to_path(str(own))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    internal.issue_cert("localhost").configure_cert(context)
    server = await serve_vault("127.0.0.1", 0, ssl=context)
    tls = TlsConfig(ca=ca_pem)
    async with server:
        by_tls_ca = await run_probe(build("vault", {"tls": True}, tls), port_of(server), name="localhost")
        by_own_ca = await run_probe(build("vault", {"tls": True, "ca": str(own)}, tls), port_of(server), name="localhost")
        seen_only = await run_probe(build("vault", {"tls": True, "verify": False}, tls), port_of(server), name="localhost")
    assert not by_tls_ca.passed
    assert by_tls_ca.detail.startswith("certificate verify failed: unable to get local issuer certificate "
                                       "(against tls.ca (ca.pem)); presented: certificate")
    assert by_own_ca.passed, by_own_ca.detail
    assert "; over TLS, certificate verified against ca (vault-ca.pem): TLSv1." in by_own_ca.detail
    assert seen_only.passed, seen_only.detail
    assert "certificate not verified (verify: true checks it)" in seen_only.detail
    assert "issued by O=vault internal CA" in seen_only.detail and "SAN localhost" in seen_only.detail


@pytest.mark.parametrize("options", [{"ca": "vault-ca.pem"}, {"verify": False}])
def test_probe_vault_trust_options_need_tls(options: dict[str, object], tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "vault-ca.pem").write_text("not read: the option is refused first\n")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(OptionError, match="probe vault: 'ca' and 'verify' apply to its certificate, so only with tls: true"):
        build("vault", options, TlsConfig())


@pytest.mark.asyncio
async def test_probe_vault_tls_against_plain_listener_fails() -> None:
    result = await probe_against(serve_vault("127.0.0.1", 0), probe("vault", tls=True))
    assert not result.passed
    assert result.detail.startswith("TLS handshake failed:")


@pytest.mark.asyncio
async def test_probe_vault_rejects_nginx_page(http_nginx: Nginx) -> None:
    result = await run_probe(probe("vault"), http_nginx.ports["plain"])
    assert not result.passed
    assert "answered HTTP/1.1 200 OK (server nginx/" in result.detail and "body is not JSON" in result.detail


@pytest.mark.asyncio
async def test_probe_vault_rejects_ssh_banner() -> None:
    result = await probe_against(serve_banner(b"SSH-2.0-OpenSSH_9.2p1\r\n"), probe("vault"))
    assert not result.passed
    assert result.detail == "GET /v1/sys/health: not an HTTP response: 'SSH-2.0-OpenSSH_9.2p1'"
