"""Fixtures for the protocol probe tests: real local servers, one block per engineer's area."""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import pytest
import pytest_asyncio
import trustme

from pytest_activate_ports.prober.probes import registry
from pytest_activate_ports.prober.probes.base import ProtocolResult
from pytest_activate_ports.spec.model import TlsConfig

from ..probe_harness import run_probe
from . import daemons
from .http_servers import Nginx, start_nginx

# --- binary-protocol probes (ssh, postgres, mongodb, amqp, mysql, nfs, slurm) ---

ProbePort = Callable[..., Awaitable[ProtocolResult]]
Emulate = Callable[[Awaitable[asyncio.Server]], Awaitable[int]]


@pytest.fixture
def probe_port() -> ProbePort:
    """``await probe_port(kind, port, options, tls)``: one probe's check against 127.0.0.1:port, as the engine runs it."""

    async def run(kind: str, port: int, options: dict[str, Any] | None = None, tls: TlsConfig | None = None,
                  name: str = "localhost", timeout: float = 5.0) -> ProtocolResult:
        return await run_probe(registry.build(kind, options or {}, tls or TlsConfig()), port, name=name, timeout=timeout)

    return run


@pytest_asyncio.fixture
async def emulate() -> AsyncIterator[Emulate]:
    """``port = await emulate(serve_x("127.0.0.1", 0, ...))``: start an emulator, closed after the test."""
    servers: list[asyncio.Server] = []

    async def start(server: Awaitable[asyncio.Server]) -> int:
        servers.append(await server)
        return int(servers[-1].sockets[0].getsockname()[1])

    yield start
    for server in servers:
        server.close()
        await server.wait_closed()
    await asyncio.sleep(0.05)  # let handlers see the probe's hang-up and finish before the loop closes


def run_plugin(pytester: pytest.Pytester, rules: dict[str, tuple[int, object, int]], *args: str) -> pytest.RunResult:
    """Run the plugin on a spec with one loopback host per rule: ``{id: (spec port, probe, dialled port)}``."""
    hosts = "".join(f'  {rule}-host: {{address: "127.0.0.1", roles: [{rule}], port_map: {{{port}: {dial}}}}}\n'
                    for rule, (port, _, dial) in rules.items())
    body = "".join(f"  - {{id: {rule}, from: internet, to: {rule}, port: {port}, expect: required, probe: {json.dumps(probe)}}}\n"
                   for rule, (port, probe, _) in rules.items())
    spec = pytester.path / "spec.yaml"
    spec.write_text(f"version: 1\nhosts:\n{hosts}rules:\n{body}")
    return pytester.runpytest("--activate-spec", str(spec), "--activate-role", "internet", "--activate-timeout", "3", "-v",
                              *args)


@pytest.fixture(scope="session")
def db_ca() -> trustme.CA:
    """A database's own CA: not the spec's ``tls.ca`` (the web front's), as on most real deployments."""
    return trustme.CA(organization_name="activate-ports test database CA")


@pytest.fixture(scope="session")
def daemon_pool(localhost_cert: trustme.LeafCert, db_ca: trustme.CA) -> Iterator[daemons.DaemonPool]:
    """Every real server of the binary-protocol tests, started together on first use."""
    internal = db_ca.issue_cert("db.internal.example")  # names a host the spec dials by address
    pool = daemons.DaemonPool({
        "sshd": daemons.start_sshd,
        "postgres_tls": lambda: daemons.start_postgres(localhost_cert),
        "postgres_internal": lambda: daemons.start_postgres(internal),
        "postgres_plain": daemons.start_postgres,
        "mariadb": lambda: daemons.start_mariadb(localhost_cert),
        "mariadb_refusing": lambda: daemons.start_mariadb(refuse_everyone=True),
        "rabbitmq": daemons.start_rabbitmq,
        "ganesha": daemons.start_ganesha,
    })
    yield pool
    pool.stop()


def _real(name: str, doc: str) -> Callable[[daemons.DaemonPool], daemons.Daemon]:
    """A fixture ``real_<name>`` handing out one daemon of the pool, or skipping with its reason."""

    @pytest.fixture(name=f"real_{name}")
    def fixture(daemon_pool: daemons.DaemonPool) -> daemons.Daemon:
        try:
            return daemon_pool.get(name)
        except daemons.Unavailable as exc:
            pytest.skip(str(exc))

    fixture.__doc__ = doc
    return fixture


real_sshd = _real("sshd", "Debian's OpenSSH sshd on a high loopback port.")
real_postgres_tls = _real("postgres_tls", "Debian's PostgreSQL with ssl=on and a trustme certificate for localhost.")
real_postgres_internal = _real("postgres_internal", "Debian's PostgreSQL with ssl=on and a certificate from its own CA "
                                                   "naming db.internal.example.")
real_postgres_plain = _real("postgres_plain", "Debian's PostgreSQL as initdb leaves it: ssl=off.")
real_mariadb = _real("mariadb", "Debian's MariaDB with TLS configured.")
real_mariadb_refusing = _real("mariadb_refusing", "Debian's MariaDB without any account: it refuses every host with an ERR packet.")
real_rabbitmq = _real("rabbitmq", "Debian's RabbitMQ broker (AMQP 0-9-1).")
real_ganesha = _real("ganesha", "Debian's NFS-Ganesha serving NFSv4.")


# --- HTTP-family probes (http, http-redirect, wss, vault, smtp-starttls) ---


@pytest.fixture(scope="session")
def http_nginx(localhost_cert: trustme.LeafCert, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Nginx]:
    """Debian's nginx on high loopback ports: redirect, plain pages, TLS + WebSocket proxy, SMTP STARTTLS."""
    if shutil.which("nginx") is None:
        pytest.skip("nginx is not installed (Debian package nginx, listed in .ci/packages-http.txt)")
    root = tmp_path_factory.mktemp("nginx")
    cert, untrusted = root / "server.pem", root / "untrusted.pem"
    localhost_cert.private_key_and_cert_chain_pem.write_to_path(str(cert))
    other_ca = trustme.CA(organization_name="a CA the probe does not trust")
    other_ca.issue_cert("localhost", "127.0.0.1").private_key_and_cert_chain_pem.write_to_path(str(untrusted))
    other_ca.cert_pem.write_to_path(str(root / "untrusted-ca.pem"))  # the relay's own CA, for ca: tests
    server = start_nginx(root, cert, untrusted)
    yield server
    server.stop()
