"""Fixtures shared by every test area: a trustme CA and certificates for localhost.

Certificates are generated per session with trustme; no key material is ever
committed. Area-specific servers live in each folder's own conftest.py.
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Callable, Iterator

import pytest
import trustme

from .servers import FilteredPort, Listener, RefusedPort


@pytest.fixture(scope="session")
def ca() -> trustme.CA:
    """The CA that the servers under test present certificates from."""
    return trustme.CA(organization_name="activate-ports test CA")


@pytest.fixture(scope="session")
def localhost_cert(ca: trustme.CA) -> trustme.LeafCert:
    """A server certificate for localhost, 127.0.0.1 and ::1."""
    return ca.issue_cert("localhost", "127.0.0.1", "::1")


@pytest.fixture
def ca_pem(ca: trustme.CA, tmp_path: Path) -> Path:
    """The CA certificate as a file, as a spec's ``tls.ca`` would name it."""
    path = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return path


@pytest.fixture
def listener() -> Iterator[Listener]:
    """An open loopback port that counts accepted connections."""
    with Listener() as server:
        yield server


@pytest.fixture
def refused_port() -> Iterator[int]:
    """A loopback port that answers with RST."""
    port = RefusedPort()
    yield port.port
    port.close()


@pytest.fixture
def filtered_port() -> Iterator[int]:
    """A loopback port that never answers (full accept queue)."""
    port = FilteredPort()
    yield port.port
    port.close()


@pytest.fixture
def write_spec(pytester: pytest.Pytester) -> Callable[[str], Path]:
    """Write a spec (dedented YAML) into the pytester folder and return its path."""
    def write(text: str, name: str = "spec.yaml") -> Path:
        path = pytester.path / name
        path.write_text(textwrap.dedent(text))
        return path
    return write


@pytest.fixture(autouse=True)
def _pytester_ini(request: pytest.FixtureRequest) -> None:
    """Give every pytester run an ini, so plugins (pytest-asyncio) start without config warnings.

    Hypothesis' plugin is left out of inner runs: it adds a second of summary per run and nothing they use.
    """
    if "pytester" in request.fixturenames:
        pytester: pytest.Pytester = request.getfixturevalue("pytester")
        pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\naddopts = -p no:hypothesispytest\n")
