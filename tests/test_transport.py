"""Jobs and attempts as plain data for a prober channel: exact tuples both ways, probes rebuilt from their configuration."""

from __future__ import annotations

from pathlib import Path

import execnet
import pytest

from pytest_activate_ports.prober.probes import registry
from pytest_activate_ports.results import Job, PortState, ProbeResult, ProtocolResult, SubCheck, TlsConfig
from pytest_activate_ports.prober.transport import (attempt_from_wire, attempt_to_wire, job_from_wire, job_to_wire,
                                             tls_from_wire, tls_to_wire)

MTLS_ATTEMPT = ProbeResult(
    8443, 18443, PortState.OPEN, "2 of 5 sub-checks failed", 0.0231, None, "127.0.0.1", "127.0.0.1:40000",
    ProtocolResult(False, "2 of 5 sub-checks failed",
                   (SubCheck("server-cert-verified", True, "TLSv1.3"), SubCheck("acceptable-ca", None, "TLS 1.3 only")),
                   {"tls_version": "TLSv1.3"}, ("certificate expires in 5.0 days",)))
# The same attempt as the channel carries it, written out by hand: the format is a contract with a prober of
# the same version on another machine, so a change of field order must fail here, not in the field.
MTLS_WIRE = (8443, 18443, "open", "2 of 5 sub-checks failed", 0.0231, None, "127.0.0.1", "127.0.0.1:40000",
             (False, "2 of 5 sub-checks failed",
              [("server-cert-verified", True, "TLSv1.3"), ("acceptable-ca", None, "TLS 1.3 only")],
              {"tls_version": "TLSv1.3"}, ["certificate expires in 5.0 days"]))


def test_transport_attempt_is_the_documented_tuple() -> None:
    assert attempt_to_wire(MTLS_ATTEMPT) == MTLS_WIRE
    assert attempt_from_wire(MTLS_WIRE) == MTLS_ATTEMPT


def test_transport_attempt_survives_execnets_serializer() -> None:
    """Only what execnet can carry is used: a dumps/loads round trip gives the same attempt back."""
    refused = ProbeResult(22, 22, PortState.REFUSED, "connection refused (RST)", 0.001, 111, "::1", None)
    for attempt in (MTLS_ATTEMPT, refused):
        assert attempt_from_wire(execnet.loads(execnet.dumps(attempt_to_wire(attempt)))) == attempt


@pytest.mark.parametrize("bad", [
    (22, 22, "ajar", "?", 0.1, None, None, None, None),  # no such port state
    (22, 22, "open", "?", 0.1, None, None, None),  # a field short
])
def test_transport_rejects_what_is_not_an_attempt(bad: tuple[object, ...]) -> None:
    with pytest.raises(ValueError):
        attempt_from_wire(bad)


def test_transport_job_rebuilds_its_probe_from_the_configuration(tmp_path: Path) -> None:
    (tmp_path / "ca.pem").write_text("not read here")
    tls = TlsConfig(ca=tmp_path / "ca.pem", expiry_warn_days=30)
    probe = registry.build("https", {"path": "/api/health", "status": [200, 204]}, tls, tmp_path)
    job = Job(7, "lb", "lb.example", (443, 8443), {443: 20443}, probe)
    wire = execnet.loads(execnet.dumps(job_to_wire(job)))
    again = job_from_wire(wire, registry.rebuild)
    assert (again.key, again.host, again.address, again.ports, dict(again.port_map)) == (7, "lb", "lb.example", (443, 8443), {443: 20443})
    assert type(again.probe) is type(probe) and again.probe.config == probe.config
    assert vars(again.probe) == vars(probe)


def test_transport_tls_settings_round_trip(tmp_path: Path) -> None:
    tls = TlsConfig(ca=tmp_path / "ca.pem", client_cert=tmp_path / "c.pem", client_key=tmp_path / "c.key", min_version="TLS1.2")
    assert tls_from_wire(execnet.loads(execnet.dumps(tls_to_wire(tls)))) == tls
