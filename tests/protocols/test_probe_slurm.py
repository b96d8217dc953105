"""The ``slurmctld``/``slurmdbd`` probes: open and silent passes; a server that speaks first or hangs up fails.

No real Slurm daemon runs here: slurmctld and slurmdbd bind every interface
(no 127.0.0.1-only option), and slurmctld needs munge. Its observable
behaviour (accept, then wait silently for an authenticated RPC) is what the
listener below reproduces.
"""

from __future__ import annotations

import asyncio

import pytest

from pytest_activate_ports.emulate.mysql import serve_mysql
from pytest_activate_ports.prober.probes import registry
from pytest_activate_ports.prober.probes.options import OptionError
from pytest_activate_ports.prober.probes.slurm import unsolicited
from pytest_activate_ports.spec.model import TlsConfig

from ..probe_harness import BackgroundLoop
from .conftest import Emulate, ProbePort, run_plugin
from .daemons import Daemon


async def serve_silent(hang_up: bool = False) -> asyncio.Server:
    """A listener that accepts and then waits for a request, as slurmctld does (or hangs up at once)."""

    async def session(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            if not hang_up:
                await reader.read(1024)
        finally:
            writer.close()

    return await asyncio.start_server(session, "127.0.0.1", 0)


def test_probe_slurm_explains_unsolicited_bytes() -> None:
    assert unsolicited("slurmctld", b"") == (
        "not a slurmctld: the server closed the connection before any request (a Slurm daemon waits for one)")
    assert unsolicited("slurmdbd", b"SSH-2.0-OpenSSH_9.2p1\r\n") == (
        "not a slurmdbd: the server spoke first, which Slurm never does: 'SSH-2.0-OpenSSH_9.2p1\\r\\n' (an SSH banner)")


@pytest.mark.asyncio
@pytest.mark.parametrize("kind", ["slurmctld", "slurmdbd"])
async def test_probe_slurm_passes_on_a_silent_open_port(kind: str, emulate: Emulate, probe_port: ProbePort) -> None:
    port = await emulate(serve_silent())
    result = await probe_port(kind, port, {"quiet_ms": 100})
    assert result.passed, result.detail
    assert result.detail == f"TCP open and silent for 100 ms, as a {kind} awaiting an RPC is"


@pytest.mark.asyncio
async def test_probe_slurm_quiet_wait_stays_inside_the_timeout(emulate: Emulate, probe_port: ProbePort) -> None:
    port = await emulate(serve_silent())
    result = await probe_port("slurmctld", port, {"quiet_ms": 10_000}, timeout=0.4)
    assert result.passed
    assert result.facts == {"quiet_ms": "200"}


@pytest.mark.asyncio
async def test_probe_slurm_rejects_ssh_banner(real_sshd: Daemon, probe_port: ProbePort) -> None:
    result = await probe_port("slurmctld", real_sshd.port)
    assert not result.passed
    assert result.detail.startswith("not a slurmctld: the server spoke first, which Slurm never does: 'SSH-2.0-OpenSSH_")


@pytest.mark.asyncio
async def test_probe_slurm_rejects_mysql_greeting_on_slurmdbd_port(emulate: Emulate, probe_port: ProbePort) -> None:
    port = await emulate(serve_mysql("127.0.0.1", 0))
    result = await probe_port("slurmdbd", port)
    assert not result.passed
    assert "the server spoke first" in result.detail


@pytest.mark.asyncio
async def test_probe_slurm_rejects_immediate_hang_up(emulate: Emulate, probe_port: ProbePort) -> None:
    port = await emulate(serve_silent(hang_up=True))
    result = await probe_port("slurmctld", port)
    assert not result.passed
    assert "closed the connection before any request" in result.detail


def test_probe_slurm_quiet_ms_is_bounded() -> None:
    with pytest.raises(OptionError, match="'quiet_ms' must be in 0..10000"):
        registry.build("slurmctld", {"quiet_ms": 60_000}, TlsConfig())


def test_plugin_slurm_rules_pass_on_silent_ports_and_fail_on_a_banner(pytester: pytest.Pytester, real_sshd: Daemon) -> None:
    with BackgroundLoop() as background:
        silent = background.serve(serve_silent)
        result = run_plugin(pytester, {"ctld": (6817, "slurmctld", silent), "dbd": (6819, "slurmdbd", silent),
                                       "misrouted": (6817, "slurmctld", real_sshd.port)})
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines_random([
        "*spec.yaml::dbd[[]dbd-host:6819[]] PASSED*",
        "*misrouted-host:6817 via * is open but the slurmctld check failed after * ms: not a slurmctld: the server spoke first*SSH-2.0-*",
    ])
