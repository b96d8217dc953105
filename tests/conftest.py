"""Fixtures shared by every test area: a trustme CA and certificates for localhost.

Certificates are generated per session with trustme; no key material is ever
committed. Area-specific servers live in each folder's own conftest.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import trustme


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
