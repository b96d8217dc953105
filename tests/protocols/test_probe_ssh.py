"""The ``ssh`` probe: identification parsing on bytes, then against Debian's sshd and wrong services."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_activate_ports.emulate.mysql import serve_mysql
from pytest_activate_ports.emulate.ssh import serve_ssh
from pytest_activate_ports.prober.probes.ssh import Identification, parse_identification
from pytest_activate_ports.prober.probes.wire import WireError

from .conftest import Emulate, ProbePort, run_plugin
from .daemons import Daemon

OPENSSH = b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u10\r\n"


def test_probe_ssh_parses_openssh_identification() -> None:
    ident = parse_identification(OPENSSH)
    assert ident == Identification("2.0", "OpenSSH_9.2p1", "Debian-2+deb12u10")
    assert str(ident) == "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u10"


def test_probe_ssh_accepts_lines_before_identification_and_bare_lf() -> None:
    ident = parse_identification(b"Welcome to the bastion\r\nauthorised use only\r\nSSH-1.99-Cisco-1.25\n")
    assert ident is not None
    assert (ident.protocol, ident.software, ident.preamble) == ("1.99", "Cisco-1.25", ("Welcome to the bastion", "authorised use only"))


def test_probe_ssh_waits_for_every_truncation_of_a_banner() -> None:
    data = b"hello\r\n" + OPENSSH
    assert all(parse_identification(data[:n]) is None for n in range(len(data)))


@pytest.mark.parametrize("data, reason", [
    (b"SSH-1.5-OpenSSH_3.0\r\n", "not SSH-2.0"),
    (b"SSH-2.0-\r\n", "no software version"),
    (b"S\x00\x00\x00\n5.5.5-10.11.19-MariaDB\x00", "binary data"),
    (b"\x15\x03\x01\x00\x02\x02\x32", "binary data"),
    (b"\xff\xfe\xfd\n", "binary data"),
    (b"SSH-2.0-" + b"x" * 300, "longer than 255"),
    (b"220 mail.example ESMTP\r\n" * 400, "no SSH identification in the first"),
])
def test_probe_ssh_rejects_non_ssh_bytes(data: bytes, reason: str) -> None:
    with pytest.raises(WireError, match=reason):
        parse_identification(data)


@given(st.binary(max_size=400))
def test_probe_ssh_parser_never_fails_unexpectedly(data: bytes) -> None:
    try:
        parse_identification(data)
    except WireError:
        pass


@pytest.mark.asyncio
async def test_probe_ssh_passes_on_debian_sshd(real_sshd: Daemon, probe_port: ProbePort) -> None:
    result = await probe_port("ssh", real_sshd.port)
    assert result.passed, result.detail
    assert result.facts["ssh_protocol"] == "2.0"
    assert result.facts["ssh_software"].startswith(real_sshd.version.split(",")[0])  # sshd -V: "OpenSSH_9.2, OpenSSL ..."
    assert result.detail.startswith("SSH server: SSH-2.0-OpenSSH_")


@pytest.mark.asyncio
async def test_probe_ssh_rejects_postgres_on_the_port(real_postgres_plain: Daemon, probe_port: ProbePort) -> None:
    result = await probe_port("ssh", real_postgres_plain.port)
    assert not result.passed
    assert result.detail == "not an SSH server: the server closed the connection without answering"


@pytest.mark.asyncio
async def test_probe_ssh_rejects_mysql_greeting(emulate: Emulate, probe_port: ProbePort) -> None:
    port = await emulate(serve_mysql("127.0.0.1", 0))
    result = await probe_port("ssh", port)
    assert not result.passed
    assert "binary data, not an SSH identification" in result.detail


@pytest.mark.asyncio
async def test_probe_ssh_warns_about_preamble_lines(emulate: Emulate, probe_port: ProbePort) -> None:
    port = await emulate(serve_ssh("127.0.0.1", 0, banner="SSH-2.0-dropbear_2022.83", preamble=("Authorised use only",)))
    result = await probe_port("ssh", port)
    assert result.passed
    assert result.facts["ssh_software"] == "dropbear_2022.83"
    assert result.warnings == ("server sent 1 line(s) before its identification",)


def test_plugin_ssh_rule_passes_on_sshd_and_fails_on_postgres(
        pytester: pytest.Pytester, real_sshd: Daemon, real_postgres_plain: Daemon) -> None:
    result = run_plugin(pytester, {"cluster": (22, "ssh", real_sshd.port), "misrouted": (22, "ssh", real_postgres_plain.port)})
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines_random([
        "*spec.yaml::cluster[[]cluster-host:22[]] PASSED*",
        "*misrouted-host:22 via * is open but the ssh check failed after * ms: not an SSH server: the server closed the connection without answering*",
    ])
