"""The ``postgres`` probe: SSLRequest answers on bytes, then Debian's PostgreSQL with and without TLS."""

from __future__ import annotations

import ssl
import struct
from pathlib import Path

import pytest
import trustme

from pytest_activate_ports.emulate.postgres import serve_postgres
from pytest_activate_ports.emulate.ssh import serve_ssh
from pytest_activate_ports.probes.postgres import SSL_REQUEST, parse_ssl_answer, parse_startup_reply
from pytest_activate_ports.probes.wire import WireError
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
    result = await probe_port("postgres", real_postgres_tls.port, {"require_tls": True}, TlsConfig(ca=ca_pem))
    assert result.passed, result.detail
    assert result.facts["tls_offered"] == "yes"
    assert result.facts["tls_version"] in ("TLSv1.2", "TLSv1.3")
    assert "certificate verified against ca.pem" in result.detail


@pytest.mark.asyncio
async def test_probe_postgres_tls_without_ca_observes_only(real_postgres_tls: Daemon, probe_port: ProbePort) -> None:
    result = await probe_port("postgres", real_postgres_tls.port)
    assert result.passed, result.detail
    assert "certificate not verified: no tls.ca in the spec" in result.detail


@pytest.mark.asyncio
async def test_probe_postgres_untrusted_certificate_fails(
    real_postgres_tls: Daemon, probe_port: ProbePort, tmp_path: Path
) -> None:
    other = tmp_path / "other-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(other))
    result = await probe_port("postgres", real_postgres_tls.port, tls=TlsConfig(ca=other))
    assert not result.passed
    assert "answered S but the TLS handshake failed" in result.detail
    assert "CERTIFICATE_VERIFY_FAILED" in result.detail


@pytest.mark.asyncio
async def test_probe_postgres_rejects_ssh_banner(real_sshd: Daemon, probe_port: ProbePort) -> None:
    result = await probe_port("postgres", real_sshd.port)
    assert not result.passed
    assert result.detail.startswith("not a PostgreSQL server: expected 'S' or 'N' in answer to an SSLRequest, got 'SSH-2.0-")
    assert "(an SSH banner)" in result.detail


@pytest.mark.asyncio
async def test_probe_postgres_s_from_a_non_tls_server_fails(emulate: Emulate, probe_port: ProbePort) -> None:
    # An "S" alone (or the first byte of "SSH-2.0-" arriving on its own) must not pass without a handshake.
    port = await emulate(serve_postgres("127.0.0.1", 0, answer=b"S"))
    result = await probe_port("postgres", port)
    assert not result.passed
    assert "answered S but the TLS handshake failed" in result.detail


@pytest.mark.asyncio
async def test_probe_postgres_emulator_with_tls(
    emulate: Emulate, probe_port: ProbePort, localhost_cert: trustme.LeafCert, ca_pem: Path
) -> None:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    localhost_cert.configure_cert(context)
    port = await emulate(serve_postgres("127.0.0.1", 0, tls=context))
    result = await probe_port("postgres", port, tls=TlsConfig(ca=ca_pem))
    assert result.passed, result.detail
    ssh_port = await emulate(serve_ssh("127.0.0.1", 0))
    assert not (await probe_port("postgres", ssh_port)).passed


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
