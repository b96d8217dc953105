"""The ``mysql`` probe: greeting and ERR packets on bytes, then Debian's MariaDB greeting and refusing."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
import trustme
from hypothesis import given
from hypothesis import strategies as st

from pytest_activate_ports.emulate.mysql import error, greeting, packet, serve_mysql
from pytest_activate_ports.prober.probes.mysql import CLIENT_SSL, ErrorPacket, Greeting, parse_greeting, ssl_request
from pytest_activate_ports.prober.probes.wire import WireError
from pytest_activate_ports.spec.model import TlsConfig

from .conftest import Emulate, ProbePort, run_plugin
from .daemons import Daemon

# Captured from Debian's MariaDB 10.11 (scramble bytes replaced): no TLS configured.
MARIADB_GREETING = (b"d\x00\x00\x00\n5.5.5-10.11.19-MariaDB-0+deb12u1\x00\x04\x00\x00\x00abcdefgh\x00\xfe\xf7\x08\x02\x00"
                    b"\xff\x81\x15\x00\x00\x00\x00\x00\x00\x1d\x00\x00\x00ijklmnopqrst\x00mysql_native_password\x00")
MARIADB_REFUSAL = b"D\x00\x00\x00\xffj\x04Host 'localhost' is not allowed to connect to this MariaDB server"


def test_probe_mysql_parses_captured_mariadb_greeting() -> None:
    answer = parse_greeting(MARIADB_GREETING)
    assert isinstance(answer, Greeting)
    assert (answer.version, answer.connection_id, answer.auth_plugin) == ("5.5.5-10.11.19-MariaDB-0+deb12u1", 4, "mysql_native_password")
    assert answer.product == "10.11.19-MariaDB-0+deb12u1"
    assert not answer.tls


def test_probe_mysql_parses_mysql8_greeting_with_tls() -> None:
    answer = parse_greeting(packet(greeting("8.0.36", 7, tls=True)))
    assert isinstance(answer, Greeting)
    assert (answer.product, answer.tls, answer.auth_plugin) == ("MySQL 8.0.36", True, "caching_sha2_password")


def test_probe_mysql_parses_error_packets_with_and_without_sqlstate() -> None:
    assert parse_greeting(MARIADB_REFUSAL) == ErrorPacket(1130, "Host 'localhost' is not allowed to connect to this MariaDB server")
    assert parse_greeting(packet(b"\xff\x10\x04#08004Too many connections")) == ErrorPacket(1040, "Too many connections")


def test_probe_mysql_waits_for_every_truncation() -> None:
    assert all(parse_greeting(MARIADB_GREETING[:n]) is None for n in range(len(MARIADB_GREETING)))


@pytest.mark.parametrize("data, reason", [
    (b"SSH-2.0-OpenSSH_9.2p1\r\n", "an SSH banner"),
    (b"HTTP/1.1 400 Bad Request\r\n", "not a MySQL packet header"),
    (packet(greeting("5.0", 1, False, protocol=9)), "protocol version 9, expected 10"),
    (packet(b"\n8.0.36\x00\x01\x00"), "truncated MySQL greeting"),
    (packet(b"\n8.0.36"), "unterminated string"),
    (packet(b"\xff\x01"), "truncated MySQL error packet"),
    (MARIADB_GREETING + b"\x00", "unexpected bytes after the greeting"),
])
def test_probe_mysql_rejects_non_mysql_bytes(data: bytes, reason: str) -> None:
    with pytest.raises(WireError, match=reason):
        parse_greeting(data)


@given(st.binary(max_size=200))
def test_probe_mysql_parser_never_fails_unexpectedly(data: bytes) -> None:
    try:
        parse_greeting(data)
    except WireError:
        pass


@pytest.mark.asyncio
async def test_probe_mysql_passes_on_debian_mariadb_with_tls(real_mariadb: Daemon, probe_port: ProbePort) -> None:
    result = await probe_port("mysql", real_mariadb.port, {"require_tls": True})
    assert result.passed, result.detail
    server_version = real_mariadb.version.split("Ver ")[1].split()[0]  # "mariadbd  Ver 10.11.19-MariaDB-0+deb12u1 for ..."
    assert result.facts["mysql_version"].endswith(server_version)
    assert result.detail.startswith(f"{server_version} greeting, TLS offered; TLS handshake completed, "
                                    "certificate not verified (verify: true checks it): TLSv1.")
    assert "SAN localhost, 127.0.0.1, ::1" in result.detail and result.facts["tls_version"].startswith("TLSv1.")


@pytest.mark.asyncio
async def test_probe_mysql_verifies_the_mariadb_certificate_only_when_asked(
        real_mariadb: Daemon, probe_port: ProbePort, ca_pem: Path, tmp_path: Path) -> None:
    lb_ca = tmp_path / "lb-ca.pem"
    trustme.CA(organization_name="the load balancer's CA").cert_pem.write_to_path(str(lb_ca))
    default = await probe_port("mysql", real_mariadb.port, tls=TlsConfig(ca=lb_ca))
    wrong = await probe_port("mysql", real_mariadb.port, {"verify": True}, TlsConfig(ca=lb_ca))
    right = await probe_port("mysql", real_mariadb.port, {"ca": str(ca_pem)}, TlsConfig(ca=lb_ca))
    assert default.passed, default.detail
    assert not wrong.passed
    assert "greeting, TLS offered, but its certificate verify failed: unable to get local issuer certificate " \
           "(against tls.ca (lb-ca.pem)); presented: TLSv1." in wrong.detail
    assert "issued by O=activate-ports test CA" in wrong.detail  # read on a second, unverified connection
    assert right.passed, right.detail
    assert "certificate verified against ca (ca.pem)" in right.detail


def test_probe_mysql_ssl_request_is_32_bytes_asking_for_tls() -> None:
    packet = ssl_request()
    assert packet[:4] == b"\x20\x00\x00\x01"  # length 32, sequence 1 (the greeting was 0)
    (capabilities,) = struct.unpack_from("<I", packet, 4)
    assert capabilities & CLIENT_SSL and capabilities & 0x0200  # CLIENT_PROTOCOL_41
    assert len(packet) == 36


@pytest.mark.asyncio
async def test_probe_mysql_reports_mariadb_refusal_honestly(real_mariadb_refusing: Daemon, probe_port: ProbePort) -> None:
    result = await probe_port("mysql", real_mariadb_refusing.port)
    assert result.passed, result.detail
    assert result.detail == ("MySQL server answered with error 1130: "
                             "Host 'localhost' is not allowed to connect to this MariaDB server")
    assert result.warnings
    strict = await probe_port("mysql", real_mariadb_refusing.port, {"require_tls": True})
    assert not strict.passed
    assert "cannot tell whether TLS is offered" in strict.detail


@pytest.mark.asyncio
async def test_probe_mysql_require_tls_fails_without_ssl_capability(emulate: Emulate, probe_port: ProbePort) -> None:
    port = await emulate(serve_mysql("127.0.0.1", 0, version="8.0.36"))
    assert (await probe_port("mysql", port)).passed
    result = await probe_port("mysql", port, {"require_tls": True})
    assert not result.passed
    assert result.detail.startswith("MySQL 8.0.36 greeting, TLS not offered, and require_tls is set")


@pytest.mark.asyncio
async def test_probe_mysql_rejects_ssh_banner(real_sshd: Daemon, probe_port: ProbePort) -> None:
    result = await probe_port("mysql", real_sshd.port)
    assert not result.passed
    assert result.detail.startswith("not a MySQL server: not a MySQL packet header")
    assert "(an SSH banner)" in result.detail


@pytest.mark.asyncio
async def test_probe_mysql_emulated_refusal_passes_with_warning(emulate: Emulate, probe_port: ProbePort) -> None:
    port = await emulate(serve_mysql("127.0.0.1", 0, refuse=(1040, "Too many connections")))
    result = await probe_port("mysql", port)
    assert result.passed
    assert result.detail == "MySQL server answered with error 1040: Too many connections"
    assert error(1040, "x").startswith(b"\xff\x10\x04")


def test_plugin_mysql_rule_passes_on_greeting_and_refusal_and_fails_on_ssh(
        pytester: pytest.Pytester, real_mariadb: Daemon, real_mariadb_refusing: Daemon, real_sshd: Daemon) -> None:
    result = run_plugin(pytester, {"accounting": (3306, "mysql", real_mariadb.port),
                                   "refusing": (3306, "mysql", real_mariadb_refusing.port),
                                   "misrouted": (3306, "mysql", real_sshd.port)})
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines_random([
        "*spec.yaml::accounting[[]accounting-host:3306[]] PASSED*",
        "*spec.yaml::refusing[[]refusing-host:3306[]] PASSED*",
        "*misrouted-host:3306 via * is open but the mysql check failed after * ms: not a MySQL server: not a MySQL packet header*",
    ])
