"""Jobs and attempts as plain data for a prober channel: exact tuples both ways, probes rebuilt from their configuration."""

from __future__ import annotations

from pathlib import Path

import execnet
import pytest
import trustme

from pytest_activate_ports.prober.probes import registry
from pytest_activate_ports.prober.probes.material import Identity, Pem, TlsMaterial
from pytest_activate_ports.prober.probes.postgres import PostgresProbe
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
    trustme.CA().cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    tls = TlsConfig(ca=tmp_path / "ca.pem", expiry_warn_days=30)
    probe = registry.build("https", {"path": "/api/health", "status": [200, 204]}, tls, tmp_path)
    job = Job(7, "lb", "lb.example", (443, 8443), {443: 20443}, probe)
    wire = execnet.loads(execnet.dumps(job_to_wire(job)))
    again = job_from_wire(wire, registry.rebuild)
    assert (again.key, again.host, again.address, tuple(again.ports), dict(again.port_map)) == (7, "lb", "lb.example", (443, 8443), {443: 20443})
    assert type(again.probe) is type(probe) and again.probe.config == probe.config
    assert vars(again.probe) == vars(probe)


def test_transport_job_carries_the_files_contents_not_their_paths(tmp_path: Path) -> None:
    """A vantage has none of the spec's files: once the job is written, they may be gone."""
    web, db = trustme.CA(), trustme.CA()
    web.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    db.cert_pem.write_to_path(str(tmp_path / "db-ca.pem"))
    probe = registry.build("postgres", {"ca": "db-ca.pem"}, TlsConfig(ca=tmp_path / "ca.pem"), tmp_path)
    wire = execnet.loads(execnet.dumps(job_to_wire(Job(1, "db", "127.0.0.1", (5432,), {}, probe))))
    for name in ("ca.pem", "db-ca.pem"):
        (tmp_path / name).unlink()
    again = job_from_wire(wire, registry.rebuild).probe
    assert isinstance(again, PostgresProbe) and again.trust.ca is not None
    assert again.trust.ca == Pem(str(tmp_path / "db-ca.pem"), db.cert_pem.bytes().decode())
    assert again.trust.anchor == "ca (db-ca.pem)"  # messages still name the spec's file
    other = job_from_wire(execnet.loads(execnet.dumps(job_to_wire(Job(2, "db2", "127.0.0.2", (5432,), {}, probe)))),
                          registry.rebuild).probe
    assert isinstance(other, PostgresProbe) and other.trust.ca is not None
    assert other.trust.ca.text is again.trust.ca.text  # one copy of a bundle however many jobs carry it


def test_transport_a_probe_carries_only_the_tls_material_its_kind_uses(tmp_path: Path) -> None:
    trustme.CA().cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    tls = TlsConfig(ca=tmp_path / "ca.pem")
    assert tls_from_wire(registry.build("tls", {}, tls).config[2]).ca is not None
    assert tls_from_wire(registry.build("ssh", {}, tls).config[2]) == TlsMaterial()


def test_transport_tls_material_round_trip() -> None:
    pem = Pem("/etc/activate/ca.pem", "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
    identity = Identity(Pem("c.pem", "cert"), Pem("c.key", "key"))
    tls = TlsMaterial(pem, Pem("roots.pem", "roots"), identity, Identity(Pem("u", "cert"), Pem("u", "key")), "TLS1.2", 30)
    assert tls_from_wire(execnet.loads(execnet.dumps(tls_to_wire(tls)))) == tls
    assert tls_from_wire(tls_to_wire(TlsMaterial())) == TlsMaterial()


def test_transport_tls_material_never_shows_its_text() -> None:
    text = trustme.CA().issue_cert("client.test").private_key_pem.bytes().decode()  # a real key, made now
    secret = text.splitlines()[1]  # a line of the key's body
    key = Pem("/home/ops/client.key", text)
    shown = repr(TlsMaterial(client=Identity(Pem("/home/ops/client.pem", "cert"), key)))
    assert "/home/ops/client.key" in shown and secret not in shown and "PRIVATE KEY" not in shown
