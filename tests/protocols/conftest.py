"""Fixtures for the protocol probe tests: real local servers, one block per engineer's area."""

from __future__ import annotations

# --- binary-protocol probes (ssh, postgres, mongodb, amqp, mysql, nfs, slurm) ---


# --- HTTP-family probes (http, http-redirect, wss, vault, smtp-starttls) ---
import shutil  # noqa: E402 - each area keeps its imports in its own block
from collections.abc import Iterator  # noqa: E402

import pytest  # noqa: E402
import trustme  # noqa: E402

from .http_servers import Nginx, start_nginx  # noqa: E402


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
    server = start_nginx(root, cert, untrusted)
    yield server
    server.stop()
