"""pytest hooks that record evidence; registered by :mod:`pytest_activate_ports.plugin`."""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    """Refuse ``--activate-evidence`` until the evidence writer exists (never silently write nothing)."""
    if config.getoption("activate_evidence", None):
        raise pytest.UsageError("--activate-evidence is not implemented yet in this version")
