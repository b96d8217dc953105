"""Fixtures for the evidence tests: a two-vantage spec against real loopback ports, and the schemas.

The spec mirrors a slice of the ACTIVATE guide (UI, redirect, CAC, databases)
with ``port_map`` sending each rule's port to a real listener (open) or a
bound, non-listening socket (refused), so every outcome in the evidence comes
from a real TCP exchange.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any, Callable

import pytest

from ..servers import Listener

SCHEMAS = Path(__file__).parent / "schemas"

SPEC = """
version: 1
name: acme-test
hosts:
  lb: {{address: 127.0.0.1, roles: [control-plane], port_map: {{443: {open}, 80: {refused}, 8443: {open}}}}}
  db: {{address: 127.0.0.1, roles: [database], port_map: {{5432: {refused}, 27017: {open}}}}}
features:
  cac_auth: false
rules:
  - id: ui-https
    from: [internet, control-plane]
    to: lb
    port: 443
    expect: required
    reason: UI, REST API and agent tunnels
  - id: http-redirect
    from: internet
    to: lb
    port: 80
    expect: required
    reason: HTTP-to-HTTPS redirect
  - id: cac-mtls
    from: internet
    to: lb
    port: 8443
    expect: optional
    when: cac_auth
    reason: CAC/Smart Card authentication (mTLS)
  - id: postgres-internal
    from: internet
    to: db
    port: 5432
    expect: forbidden
    reason: PostgreSQL stays inside the cluster
  - id: mongodb-internal
    from: internet
    to: db
    port: 27017
    expect: forbidden
    reason: MongoDB stays inside the cluster
  - id: postgres
    from: control-plane
    to: db
    port: 5432
    expect: required
    reason: Usage metrics, billing, activity
  - id: mongodb
    from: control-plane
    to: db
    port: 27017
    expect: required
    reason: User accounts and platform configuration
"""

INTERNET_NODES = ["ui-https[lb:443]", "http-redirect[lb:80]", "cac-mtls[lb:8443]", "postgres-internal[db:5432]",
                  "mongodb-internal[db:27017]"]
CONTROL_PLANE_NODES = ["ui-https[lb:443]", "postgres[db:5432]", "mongodb[db:27017]"]


@pytest.fixture
def vantage_spec(write_spec: Callable[..., Path], listener: Listener, refused_port: int) -> Path:
    """The two-vantage spec: internet sees 2 passed, 2 failed, 1 not applicable; control-plane 2 passed, 1 failed."""
    return write_spec(SPEC.format(open=listener.port, refused=refused_port))


def run_vantage(pytester: pytest.Pytester, spec: Path, role: str, *args: str) -> pytest.RunResult:
    """Run the spec from ``role`` in-process (a Ctrl-C of the inner run stays inside it)."""
    return pytester.runpytest("--activate-spec", str(spec), "--activate-role", role, "--activate-timeout", "1",
                              "-p", "no:cacheprovider", "-p", "no:hypothesispytest", *args, no_reraise_ctrlc=True)


@pytest.fixture(scope="session")
def evidence_schema() -> dict[str, Any]:
    """The published JSON Schema, read the way an installed package ships it."""
    jsonschema = pytest.importorskip("jsonschema", reason="jsonschema (test extra) validates evidence files")
    text = resources.files("pytest_activate_ports.evidence").joinpath("schema.json").read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    jsonschema.Draft202012Validator.check_schema(schema)
    return schema


@pytest.fixture
def validate(evidence_schema: dict[str, Any]) -> Callable[[Path], dict[str, Any]]:
    """Load an evidence file and validate it against the published schema; returns the document."""
    import jsonschema  # present: evidence_schema skipped otherwise

    validator = jsonschema.Draft202012Validator(evidence_schema, format_checker=jsonschema.FormatChecker())

    def check(path: Path) -> dict[str, Any]:
        document: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        validator.validate(document)
        return document
    return check


def outcomes(document: dict[str, Any]) -> dict[str, str]:
    """Node name (after ``::``) -> outcome, from an evidence document."""
    return {record["nodeid"].split("::", 1)[1]: record["outcome"] for record in document["records"]}


@pytest.fixture
def two_vantages(pytester: pytest.Pytester, vantage_spec: Path) -> tuple[Path, Path]:
    """Evidence of the same spec run from the internet and from the control plane."""
    paths = (pytester.path / "internet.json", pytester.path / "control-plane.json")
    for role, path in zip(("internet", "control-plane"), paths):
        run_vantage(pytester, vantage_spec, role, "--activate-evidence", str(path))
    return paths
