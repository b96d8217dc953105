"""Fixtures for the TLS probe tests: a client PKI standing in for DoD PKE, spec files, loopback listeners.

Every certificate comes from trustme at test time and is written under the
test's tmp_path; no key material lives in the repository.
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
import trustme

from pytest_activate_ports.emulate.tls import Handler, listening_port, serve_tls
from pytest_activate_ports.prober.probes.base import Probe
from pytest_activate_ports.prober.probes.registry import build
from pytest_activate_ports.spec.model import TlsConfig
from pytest_activate_ports.untrusted import untrusted_client

Serve = Callable[..., Awaitable[int]]


@dataclass(frozen=True)
class Pki:
    """The files a CAC spec's ``tls:`` section names, plus the trustme objects behind them."""

    server_ca: trustme.CA
    client_ca: trustme.CA
    client: trustme.LeafCert
    config: TlsConfig

    def probe(self, kind: str, **options: object) -> Probe:
        """A probe built as the spec loader builds it (options validated, files read, the untrusted client made)."""
        return build(kind, options, self.config, untrusted_client=untrusted_client)

    def changed(self, **tls: Any) -> Pki:
        """The same PKI with some ``tls:`` entries replaced (``client_cert=None`` drops the identity)."""
        return replace(self, config=replace(self.config, **tls))


@pytest.fixture(scope="session")
def client_ca() -> trustme.CA:
    """The CA client certificates chain to: the test's stand-in for the DoD PKE roots."""
    return trustme.CA(organization_name="activate-ports test client CA")


@pytest.fixture(scope="session")
def client_leaf(client_ca: trustme.CA) -> trustme.LeafCert:
    """A CAC user's certificate."""
    return client_ca.issue_cert("jane.doe@example.mil", common_name="DOE.JANE.Q.1234567890")


@pytest.fixture
def pki(ca: trustme.CA, client_ca: trustme.CA, client_leaf: trustme.LeafCert, tmp_path: Path) -> Pki:
    """``tls.ca`` (the server CA) and the spec's client identity as files, as a spec would name them."""
    paths = {name: tmp_path / name for name in ("ca.pem", "client.pem", "client.key")}
    ca.cert_pem.write_to_path(str(paths["ca.pem"]))
    client_leaf.cert_chain_pems[0].write_to_path(str(paths["client.pem"]))
    client_leaf.private_key_pem.write_to_path(str(paths["client.key"]))
    config = TlsConfig(ca=paths["ca.pem"], client_cert=paths["client.pem"], client_key=paths["client.key"])
    return Pki(ca, client_ca, client_leaf, config)


@pytest_asyncio.fixture
async def serve() -> AsyncIterator[Serve]:
    """Start TLS listeners on loopback for this test: ``port = await serve(context, handler)``."""
    servers = []

    async def start(context: ssl.SSLContext, handler: Handler | None = None) -> int:
        server = await serve_tls("127.0.0.1", 0, context, handler)
        servers.append(server)
        return listening_port(server)

    yield start
    for server in servers:
        server.close()
        await server.wait_closed()
