"""The emulated ACTIVATE deployment: which service answers where, correct or deliberately misconfigured.

One layout serves two environments. On loopback (no root) every host gets its
own 127.0.0.x address and each port the profile names is dialled through the
host's ``port_map`` on a high port; in the namespace lab the same hosts get
198.18.x.y addresses and real ports. The spec written for either is the single
source of addresses and ports: :func:`start` binds every service where that
spec says it will be probed. Services are the responders of this package
(protocol-faithful stand-ins), composed here, not rewritten.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Awaitable, Callable, Iterable, Mapping

import trustme
import yaml

from ..profiles import trace
from ..spec.model import Spec
from . import amqp, http_services, mongodb, mysql, nfs, postgres, ssh, tls

HOSTS: Mapping[str, tuple[str, ...]] = {
    "lb": ("control-plane",),
    "postgres": ("postgres",),
    "mongodb": ("mongodb",),
    "rabbitmq": ("rabbitmq",),
    "vault": ("vault",),
    "cloud-cacher": ("cloud-cacher",),
    "legacy-api": ("legacy-api",),
    "internal-api": ("internal-api",),
    "nfs": ("storage",),
    "workspace": ("workspace",),
    "slurm-controller": ("cluster-controller",),
    "slurm-node": ("cluster-node",),
}
"""Host name -> roles: one host per role of the profile that is a target."""

LOOPBACK = {name: f"127.0.0.{index}" for index, name in enumerate(HOSTS, start=2)}
FEATURES = {"cac_auth": True, "rabbitmq_management": True, "email": False, "platform_version": "7.4"}
"""Features of the emulated deployment (email is off: there is no SMTP responder to emulate 587 with)."""


def high_port(port: int) -> int:
    """The unprivileged port a loopback host serves ``port`` on (443 -> 20443, 27017 -> 47017)."""
    return 20000 + port if port < 20000 else 40000 + port - 20000


@dataclass(frozen=True)
class Service:
    """One listener: ``kind`` (a key of :data:`STARTERS`) on a host at the port the guide names."""

    host: str
    port: int
    kind: str


SERVICES = (
    Service("lb", 443, "ingress"), Service("lb", 80, "redirect"), Service("lb", 8443, "cac-mtls"),
    Service("postgres", 5432, "postgres"), Service("mongodb", 27017, "mongodb"),
    Service("rabbitmq", 5672, "amqp"), Service("rabbitmq", 15672, "http"), Service("vault", 8200, "vault"),
    Service("cloud-cacher", 3000, "http"), Service("legacy-api", 4006, "http"), Service("internal-api", 8888, "http"),
    Service("nfs", 2049, "nfs"),
    Service("workspace", 22, "ssh"), *(Service("workspace", port, "http") for port in (3000, 3001, 3003, 3004)),
    Service("slurm-controller", 22, "ssh"), Service("slurm-controller", 2049, "nfs"),
    Service("slurm-controller", 6817, "slurm"), Service("slurm-controller", 6819, "slurm"),
    Service("slurm-controller", 3306, "mysql"),
)
"""The correct deployment."""


@dataclass(frozen=True)
class Misconfiguration:
    """A deliberate mistake: services it adds or removes, and the items it must make fail (nothing else)."""

    explanation: str
    add: tuple[Service, ...] = ()
    remove: tuple[Service, ...] = ()
    fails: tuple[str, ...] = ()


MISCONFIGURATIONS: Mapping[str, Misconfiguration] = {
    "postgres-on-lb": Misconfiguration(
        "PostgreSQL is published on the load balancer's public address (a LoadBalancer Service left on 5432)",
        add=(Service("lb", 5432, "postgres"),), fails=("internet-no-postgres[lb:5432]",)),
    "mtls-not-enforced": Misconfiguration(
        "8443 terminates TLS but does not demand a client certificate, so CAC login is bypassable",
        add=(Service("lb", 8443, "tls-any-client"),), remove=(Service("lb", 8443, "cac-mtls"),),
        fails=("lb-cac-mtls[lb:8443]",)),
    "http-200": Misconfiguration(
        "80 serves the UI over plain HTTP (200) instead of redirecting to HTTPS",
        add=(Service("lb", 80, "http-page"),), remove=(Service("lb", 80, "redirect"),),
        fails=("lb-http-redirect[lb:80]",)),
    "ssh-closed": Misconfiguration(
        "the cluster controller's sshd is down although SSH is not routed through the agent tunnel",
        remove=(Service("slurm-controller", 22, "ssh"),),
        fails=("cluster-ssh[slurm-controller:22]", "cloud-cluster-ssh[slurm-controller:22]",
               "managed-cluster-ssh[slurm-controller:22]", "existing-cluster-ssh[slurm-controller:22]")),
}


def services(misconfigurations: Iterable[str] = ()) -> tuple[Service, ...]:
    """The deployment's services with the named misconfigurations applied."""
    chosen = [MISCONFIGURATIONS[name] for name in misconfigurations]
    removed = {service for m in chosen for service in m.remove}
    return tuple(s for s in SERVICES if s not in removed) + tuple(s for m in chosen for s in m.add)


@dataclass(frozen=True)
class Certificates:
    """The deployment's key material, as files in one folder (shared by the servers and the spec's ``tls``).

    A platform CA issues the server certificate (every host address); a separate
    "CAC" CA issues the client identity the 8443 listener accepts.
    """

    folder: Path

    @classmethod
    def create(cls, folder: Path, addresses: Iterable[str]) -> Certificates:
        """Issue fresh certificates with trustme into ``folder``."""
        platform, cac = trustme.CA(organization_name="ACTIVATE emulated platform CA"), trustme.CA(organization_name="ACTIVATE emulated CAC CA")
        platform.cert_pem.write_to_path(str(folder / "ca.pem"))
        cac.cert_pem.write_to_path(str(folder / "cac-ca.pem"))
        server = platform.issue_cert(*addresses)
        server.private_key_and_cert_chain_pem.write_to_path(str(folder / "server.pem"))
        client = cac.issue_cert("cac-user@activate.example")
        client.cert_chain_pems[0].write_to_path(str(folder / "cac-client.pem"))
        client.private_key_pem.write_to_path(str(folder / "cac-client.key"))
        return cls(folder)

    def server_context(self, client_certificates: ssl.VerifyMode | None = None) -> ssl.SSLContext:
        """A server context; with ``client_certificates``, client certificates are checked against the CAC CA."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(str(self.folder / "server.pem"))
        if client_certificates is not None:
            context.load_verify_locations(str(self.folder / "cac-ca.pem"))
            context.verify_mode = client_certificates
        return context


async def _pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
    while chunk := await source.read(65536):
        sink.write(chunk)
        await sink.drain()


def ingress(routes: Mapping[str, tuple[str, int]], default: tuple[str, int]) -> tls.Handler:
    """The 443 ingress after TLS termination: route one request by path prefix to a backend and relay both ways."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        path = head.split(b" ", 2)[1].decode("latin-1") if head.count(b" ") >= 2 else "/"
        backend = next((target for prefix, target in routes.items() if path.startswith(prefix)), default)
        upstream_reader, upstream = await asyncio.open_connection(*backend)
        answer = asyncio.ensure_future(_pipe(upstream_reader, writer))
        ask = asyncio.ensure_future(_pipe(reader, upstream))
        try:
            upstream.write(head)
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(answer, 10)  # every backend here answers, then hangs up
        finally:
            for relay in (answer, ask):
                relay.cancel()
            await asyncio.gather(answer, ask, return_exceptions=True)
            upstream.close()

    return handle


async def _slurm(host: str, port: int) -> asyncio.Server:
    """slurmctld/slurmdbd as seen without the cluster's munge key: accept, then wait silently for an RPC."""
    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError):
            await reader.read(1)
        writer.close()
    return await asyncio.start_server(hold, host, port)


Starter = Callable[[str, int, Certificates, list[asyncio.Server]], Awaitable[asyncio.Server]]


async def _ingress(host: str, port: int, certs: Certificates, extra: list[asyncio.Server]) -> asyncio.Server:
    ui = await http_services.serve_http(host, 0, body=b"<html>ACTIVATE (emulated)</html>\n")
    tunnel = await http_services.serve_websocket(host, 0)
    extra += [ui, tunnel]
    routes = {"/ws/": (host, tls.listening_port(tunnel))}
    return await tls.serve_tls(host, port, certs.server_context(), ingress(routes, (host, tls.listening_port(ui))))


STARTERS: Mapping[str, Starter] = {
    "ingress": _ingress,
    "redirect": lambda host, port, certs, extra: http_services.serve_redirect(host, port),
    "http-page": lambda host, port, certs, extra: http_services.serve_redirect(host, port, mode="ok"),
    "cac-mtls": lambda host, port, certs, extra: tls.serve_tls(host, port, certs.server_context(ssl.CERT_REQUIRED)),
    "tls-any-client": lambda host, port, certs, extra: tls.serve_tls(host, port, certs.server_context()),
    "http": lambda host, port, certs, extra: http_services.serve_http(host, port),
    "vault": lambda host, port, certs, extra: http_services.serve_vault(host, port),
    "postgres": lambda host, port, certs, extra: postgres.serve_postgres(host, port, tls=certs.server_context()),
    "mongodb": lambda host, port, certs, extra: mongodb.serve_mongodb(host, port),
    "amqp": lambda host, port, certs, extra: amqp.serve_amqp(host, port),
    "ssh": lambda host, port, certs, extra: ssh.serve_ssh(host, port),
    "nfs": lambda host, port, certs, extra: nfs.serve_nfs(host, port),
    "mysql": lambda host, port, certs, extra: mysql.serve_mysql(host, port),
    "slurm": lambda host, port, certs, extra: _slurm(host, port),
}


class ListenError(OSError):
    """A service could not listen where the spec says it is probed (most often: another emulation holds the port)."""


async def start(spec: Spec, certs: Certificates, chosen: Iterable[Service]) -> list[asyncio.Server]:
    """Start ``chosen`` services where ``spec`` will probe them; the caller closes the servers.

    Raises:
        ListenError: an address or port is taken or unavailable; no service is left listening.
    """
    servers: list[asyncio.Server] = []
    try:
        for service in chosen:
            host = spec.hosts[service.host]
            port = host.dial_port(service.port)
            try:
                servers.append(await STARTERS[service.kind](host.address, port, certs, servers))
            except OSError as exc:
                hint = "; is another `activate-ports emulate` running?" if exc.errno == errno.EADDRINUSE else ""
                raise ListenError(exc.errno, f"cannot serve {service.host}:{service.port} on {host.address}:{port}: "
                                             f"{os.strerror(exc.errno).lower() if exc.errno else exc}{hint}") from None
    except BaseException:
        await stop(servers)
        raise
    return servers


async def stop(servers: Iterable[asyncio.Server]) -> None:
    """Close servers and wait until they no longer listen."""
    for server in servers:
        server.close()
    for server in servers:
        await server.wait_closed()


def render_spec(addresses: Mapping[str, str], port_map: bool, certs: str = "${ACTIVATE_EMULATION_DIR}") -> str:
    """The spec of the emulated deployment at ``addresses`` (YAML text).

    With ``port_map`` every single port a profile rule names for a host is
    dialled on :func:`high_port`, so nothing needs root and no service of the
    machine running the emulation can answer in its place.
    """
    rules = trace.profile_rules(trace.load_profile())
    hosts: dict[str, object] = {}
    for name, roles in HOSTS.items():
        body: dict[str, object] = {"address": addresses[name], "roles": list(roles)}
        ports = sorted({port for rule in rules if set(rule.targets) & set(roles) for port in rule.ports})
        if port_map and ports:
            body["port_map"] = {port: high_port(port) for port in ports}
        hosts[name] = body
    document = {
        "version": 1, "name": "activate-emulated", "profile": "activate", "features": dict(FEATURES), "hosts": hosts,
        "tls": {"ca": f"{certs}/ca.pem", "client_cert": f"{certs}/cac-client.pem", "client_key": f"{certs}/cac-client.key"},
    }
    return yaml.safe_dump(document, sort_keys=False, default_flow_style=None, width=120)
