"""Fixtures for the built-in profile's tests: the port guide, the examples, and plans per vantage."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path
from typing import Any, Callable

import pytest

from pytest_activate_ports.checks import Plan, plan
from pytest_activate_ports.profiles import trace
from pytest_activate_ports.spec import Spec, load_spec
from pytest_activate_ports.spec.model import FeatureValue

REPO = Path(__file__).resolve().parents[2]
GUIDE_COPY = REPO / "docs" / "activate-network-ports.txt"
# The project's shared folder sits next to the repository (../shared); CI may not have it.
SHARED_GUIDE = REPO.parent / "shared" / "reference" / "activate-network-ports.txt"
EXAMPLES = REPO / "examples"
NO_HYPOTHESIS = ("-p", "no:hypothesispytest")
"""For in-process pytester runs: pytester drops modules a run imported, so hypothesis' plugin would
re-import hypothesis (seconds) in every run's terminal summary; these runs have no hypothesis tests."""


@pytest.fixture(scope="session")
def guide_text() -> str:
    """The committed copy of the ACTIVATE port guide."""
    return GUIDE_COPY.read_text(encoding="utf-8")


@pytest.fixture(scope="session")
def profile_document() -> dict[str, Any]:
    """The built-in ``activate`` profile as plain data."""
    return trace.load_profile()


@pytest.fixture(scope="session")
def full_spec() -> Spec:
    """``examples/activate-full.yaml`` with its default addresses."""
    return load_spec(EXAMPLES / "activate-full.yaml", environ={})


@pytest.fixture
def full_plan(full_spec: Spec) -> Callable[..., Plan]:
    """Plan the full example for a vantage with features overridden, as ``--activate-feature`` does."""
    def make(role: str, **features: FeatureValue) -> Plan:
        return plan(dataclasses.replace(full_spec, features={**full_spec.features, **features}), role)
    return make


@pytest.fixture
def spec_in_pytester(pytester: pytest.Pytester) -> Callable[[str], Path]:
    """Copy an example into pytester's folder so node ids read ``NAME.yaml::rule[host:port]``."""
    def copy(name: str) -> Path:
        target = pytester.path / name
        shutil.copyfile(EXAMPLES / name, target)
        return target
    return copy
