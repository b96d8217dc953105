"""The ``postgres`` probe: SSLRequest answers on bytes, then Debian's PostgreSQL with and without TLS."""

from __future__ import annotations

import re
import ssl
import struct
from pathlib import Path

import pytest
import trustme

from pytest_activate_ports.emulate.postgres import serve_postgres
from pytest_activate_ports.emulate.ssh import serve_ssh
from pytest_activate_ports.prober.probes import registry
from pytest_activate_ports.prober.probes.options import OptionError
from pytest_activate_ports.prober.probes.postgres import SSL_REQUEST, parse_ssl_answer, parse_startup_reply
from pytest_activate_ports.prober.probes.wire import WireError
from pytest_activate_ports.spec.model import TlsConfig

from .conftest import Emulate, ProbePort, run_plugin
from .daemons import Daemon


def test_probe_postgres_ssl_request_is_the_documented_eight_bytes() -> None:
    assert SSL_REQUEST == struct.pack("!ii", 8, 80877103) == b"\x00\x00\x00\x08\x04\xd2\x16\x2f"


def test_probe_postgres_reads_s_and_n() -> None:
    assert parse_ssl_answer(b"") is None
    assert parse_ssl_answer(b"S") is True
    assert parse_ssl_answer(b"N") is False


@pytest.mark.parametrize("data, reason", [
    (b"SSH-2.0-OpenSSH_9.2p1\r\n", "an SSH banner"),
    (b"SN", "expected 'S' or 'N'"),
    (b"E\x00\x00\x00\x50SFATAL\x00C0A000\x00Munsupported frontend protocol", "with an error message"),
    (b"\x00", "expected 'S' or 'N'"),
])
def test_probe_postgres_rejects_other_answers(data: bytes, reason: str) -> None:
    with pytest.raises(WireError, match=reason):
        parse_ssl_answer(data)


@pytest.mark.asyncio
async def test_probe_postgres_real_server_without_tls_answers_n(real_postgres_plain: Daemon, probe_port: ProbePort) -> None:
    result = await probe_port("postgres", real_postgres_plain.port)
    assert result.passed, result.detail
    assert result.detail.startswith("PostgreSQL server answered N (TLS not offered) and a startup with ")
    assert result.facts["tls_offered"] == "no"
    assert result.warnings


@pytest.mark.asyncio
async def test_probe_postgres_require_tls_fails_on_n(real_postgres_plain: Daemon, probe_port: ProbePort) -> None:
    result = await probe_port("postgres", real_postgres_plain.port, {"require_tls": True})
    assert not result.passed
    assert "TLS not offered, and require_tls is set" in result.detail


@pytest.mark.asyncio
async def test_probe_postgres_real_server_with_tls_completes_handshake(
    real_postgres_tls: Daemon, probe_port: ProbePort, ca_pem: Path
) -> None:
    result = await probe_port("postgres", real_postgres_tls.port, {"require_tls": True, "verify": True}, TlsConfig(ca=ca_pem))
    assert result.passed, result.detail
    assert result.facts["tls_offered"] == "yes"
    assert result.facts["tls_version"] in ("TLSv1.2", "TLSv1.3")
    assert "handshake completed, certificate verified against tls.ca (ca.pem): TLSv1." in result.detail


@pytest.mark.asyncio
async def test_probe_postgres_tls_without_ca_observes_only(real_postgres_tls: Daemon, probe_port: ProbePort) -> None:
    result = await probe_port("postgres", real_postgres_tls.port)
    assert result.passed, result.detail
    assert "certificate not verified (verify: true checks it)" in result.detail
    assert "SAN localhost, 127.0.0.1, ::1; valid until" in result.detail


@pytest.mark.asyncio
async def test_probe_postgres_does_not_judge_the_database_certificate_by_the_web_front_ca(
    real_postgres_internal: Daemon, probe_port: ProbePort, ca_pem: Path
) -> None:
    """tls.ca is the load balancer's CA; the database's own certificate names db.internal.example."""
    result = await probe_port("postgres", real_postgres_internal.port, tls=TlsConfig(ca=ca_pem))
    assert result.passed, result.detail
    assert "certificate not verified (verify: true checks it)" in result.detail
    assert "issued by O=activate-ports test database CA" in result.detail
    assert result.facts["san"] == "db.internal.example"


@pytest.mark.asyncio
async def test_probe_postgres_verify_true_fails_against_the_wrong_ca_and_shows_the_certificate(
    real_postgres_internal: Daemon, probe_port: ProbePort, ca_pem: Path
) -> None:
    result = await probe_port("postgres", real_postgres_internal.port, {"verify": True}, TlsConfig(ca=ca_pem))
    assert not result.passed
    assert result.detail.startswith("PostgreSQL server answered S but its certificate verify failed: "
                                    "unable to get local issuer certificate (against tls.ca (ca.pem)); presented: ")
    assert "SAN db.internal.example" in result.detail
    assert result.detail.endswith("name the service's own CA with ca:, or set verify: false")


@pytest.mark.asyncio
async def test_probe_postgres_verifies_against_its_own_ca(
    real_postgres_internal: Daemon, probe_port: ProbePort, ca_pem: Path, db_ca: trustme.CA, tmp_path: Path
) -> None:
    own = tmp_path / "db-ca.pem"
    db_ca.cert_pem.write_to_path(str(own))
    right = await probe_port("postgres", real_postgres_internal.port, {"ca": str(own)}, TlsConfig(ca=ca_pem),
                             name="db.internal.example")
    by_address = await probe_port("postgres", real_postgres_internal.port, {"ca": str(own)}, TlsConfig(ca=ca_pem))
    assert right.passed, right.detail
    assert "certificate verified against ca (db-ca.pem)" in right.detail
    assert not by_address.passed  # the right CA, but the certificate does not name the host dialled
    assert "Hostname mismatch, certificate is not valid for 'localhost'" in by_address.detail
    assert "SAN db.internal.example" in by_address.detail
    assert by_address.detail.endswith("check that ca: is the CA that issued it, or set verify: false")


@pytest.mark.parametrize(("options", "message"), [
    ({"ca": "missing.pem"}, "probe postgres: 'ca': no such file missing.pem"),
    ({"ca": "ca.pem", "verify": False}, "'ca' is the anchor to verify against, but verify is false"),
    ({"verify": "yes"}, "'verify' must be true or false"),
])
def test_probe_postgres_rejects_bad_trust_options(
        options: dict[str, object], message: str, ca_pem: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ca_pem.parent)
    with pytest.raises(OptionError, match=re.escape(message)):
        registry.build("postgres", options, TlsConfig())


def test_plugin_postgres_ca_is_relative_to_the_spec(
        pytester: pytest.Pytester, real_postgres_tls: Daemon, ca: trustme.CA) -> None:
    certs = pytester.path / "certs"
    certs.mkdir()
    trustme.CA(organization_name="the load balancer's CA").cert_pem.write_to_path(str(certs / "lb-ca.pem"))
    ca.cert_pem.write_to_path(str(certs / "db-ca.pem"))  # the CA that issued the database's certificate
    head = f"""version: 1
hosts: {{db: {{address: 127.0.0.1, roles: [database], port_map: {{5432: {real_postgres_tls.port}}}}}}}
tls: {{ca: certs/lb-ca.pem}}
rules:
"""
    rule = "  - {{id: {}, from: internet, to: database, port: 5432, expect: required, probe: {{kind: postgres, {}}}}}\n"
    typo = pytester.path / "typo.yaml"
    typo.write_text(head + rule.format("db", "ca: certs/db.pem"))
    spec = pytester.path / "spec.yaml"
    spec.write_text(head + rule.format("db", "ca: certs/db-ca.pem") + rule.format("db-by-lb-ca", "verify: true")
                    + rule.format("db-seen", "require_tls: true"))
    refused = pytester.runpytest("--activate-spec", str(typo), "--activate-role", "internet")
    assert refused.ret != 0
    refused.stdout.fnmatch_lines(["*typo.yaml:5:*: probe postgres: 'ca': no such file *certs/db.pem*"])
    result = pytester.runpytest("--activate-spec", str(spec), "--activate-role", "internet", "-v")
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines_random([
        "*spec.yaml::db[[]db:5432[]] PASSED*",
        "*spec.yaml::db-seen[[]db:5432[]] PASSED*",
        "*db:5432 via * is open but the postgres check failed * certificate verify failed: * (against tls.ca (lb-ca.pem))*",
    ])


def test_plugin_postgres_rule_reports_tls_and_rejects_ssh(
        pytester: pytest.Pytester, real_postgres_tls: Daemon, real_postgres_plain: Daemon, real_sshd: Daemon) -> None:
    strict = {"kind": "postgres", "require_tls": True}
    result = run_plugin(pytester, {"db": (5432, strict, real_postgres_tls.port), "db-plain": (5432, strict, real_postgres_plain.port),
                                   "db-ssh": (5432, "postgres", real_sshd.port)})
    result.assert_outcomes(passed=1, failed=2)
    result.stdout.fnmatch_lines_random([
        "*spec.yaml::db[[]db-host:5432[]] PASSED*",
        "*db-plain-host:5432 via * is open but the postgres check failed after * ms: PostgreSQL server answered N: TLS not offered, and require_tls is set*",
        "*db-ssh-host:5432 via * is open but the postgres check failed after * ms: not a PostgreSQL server: expected 'S' or 'N'*(an SSH banner)*",
    ])


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"", None),
        (b"R\x00\x00", None),
        (b"R\x00\x00\x00\x08", "an authentication request"),
        (b"E\x00\x00\x00\x50", "an error response"),
        (b"v\x00\x00\x00\x0c", "a protocol version negotiation"),
    ],
)
def test_parse_startup_reply_recognises_backend_messages(data: bytes, expected: str | None) -> None:
    assert parse_startup_reply(data) == expected


@pytest.mark.parametrize("data", [b"OTICE", b"SSH-2", b"R\xff\xff\xff\xff", b"E\x00\x00\x00\x01"])
def test_parse_startup_reply_rejects_other_bytes(data: bytes) -> None:
    with pytest.raises(WireError):
        parse_startup_reply(data)
