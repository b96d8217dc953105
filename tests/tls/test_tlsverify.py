"""Sans-IO TLS reading: DER names and certificates, a TLS 1.2 server flight, subject matching. No sockets."""

from __future__ import annotations

import datetime
import ssl
from collections.abc import Callable

import pytest
import trustme
from cryptography import x509
from cryptography.x509.oid import NameOID
from hypothesis import given
from hypothesis import strategies as st

from pytest_activate_ports.prober.probes.tlsctx import certificate_facts, describe_failure
from pytest_activate_ports.prober.probes.tlsverify import (
    TlsParseError,
    decode_name,
    format_name,
    parse_certificate_request,
    parse_subject,
    read_server_flight,
    subject_matches,
    summarize_certificate,
)

DOD_ROOT = x509.Name([
    x509.NameAttribute(NameOID.COUNTRY_NAME, "US"),
    x509.NameAttribute(NameOID.ORGANIZATION_NAME, "U.S. Government"),
    x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "DoD"),
    x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "PKI"),
    x509.NameAttribute(NameOID.COMMON_NAME, "DoD Root CA 3"),
])
DOD_EMAIL_CA = x509.Name([
    x509.NameAttribute(NameOID.COUNTRY_NAME, "US"),
    x509.NameAttribute(NameOID.ORGANIZATION_NAME, "U.S. Government"),
    x509.NameAttribute(NameOID.COMMON_NAME, "DOD EMAIL CA-59 \u00e9"),
])
SERVER_HELLO_12 = b"\x03\x03" + bytes(32) + b"\x00" + b"\xc0\x2b" + b"\x00"


def record(kind: int, payload: bytes) -> bytes:
    return bytes([kind, 3, 3]) + len(payload).to_bytes(2, "big") + payload


def message(kind: int, body: bytes) -> bytes:
    return bytes([kind]) + len(body).to_bytes(3, "big") + body


def certificate_request(*names: bytes) -> bytes:
    listed = b"".join(len(n).to_bytes(2, "big") + n for n in names)
    return b"\x01\x40" + b"\x00\x02\x04\x03" + len(listed).to_bytes(2, "big") + listed


def flight(leaf_der: bytes, *names: bytes, done: bool = True) -> bytes:
    """ServerHello, Certificate, CertificateRequest, ServerHelloDone as one handshake byte stream."""
    chain = len(leaf_der).to_bytes(3, "big") + leaf_der
    return (message(2, SERVER_HELLO_12) + message(11, len(chain).to_bytes(3, "big") + chain)
            + message(13, certificate_request(*names)) + (message(14, b"") if done else b""))


@pytest.fixture(scope="module")
def leaf_der() -> bytes:
    leaf = trustme.CA(organization_name="flight CA").issue_cert("localhost")
    return ssl.PEM_cert_to_DER_cert(leaf.cert_chain_pems[0].bytes().decode())


def test_decode_name_reads_what_cryptography_encodes() -> None:
    assert decode_name(DOD_ROOT.public_bytes()) == (
        ("C", "US"), ("O", "U.S. Government"), ("OU", "DoD"), ("OU", "PKI"), ("CN", "DoD Root CA 3"))
    assert format_name(decode_name(DOD_EMAIL_CA.public_bytes())) == "C=US, O=U.S. Government, CN=DOD EMAIL CA-59 \u00e9"


def test_summarize_certificate_names_subject_issuer_and_expiry() -> None:
    ca = trustme.CA(organization_name="summary CA")
    not_after = datetime.datetime(2031, 5, 17, 8, 30, 0)
    leaf = ca.issue_cert("localhost", common_name="portal.example.mil", not_after=not_after)
    der = ssl.PEM_cert_to_DER_cert(leaf.cert_chain_pems[0].bytes().decode())
    summary = summarize_certificate(der)
    assert ("CN", "portal.example.mil") in summary.subject
    assert ("O", "summary CA") in summary.issuer
    assert summary.not_after == not_after.replace(tzinfo=datetime.timezone.utc)
    assert certificate_facts(der)["not_after"] == "May 17 08:30:00 2031 GMT"  # getpeercert()'s format
    assert summary.san == ("localhost",)


def test_summarize_certificate_lists_dns_and_ip_alt_names_as_getpeercert_shows_them() -> None:
    leaf = trustme.CA().issue_cert("db.internal.example", "10.0.0.5", "2001:db8::5", "*.example.org")
    der = ssl.PEM_cert_to_DER_cert(leaf.cert_chain_pems[0].bytes().decode())
    assert summarize_certificate(der).san == ("db.internal.example", "10.0.0.5", "2001:db8::5", "*.example.org")
    assert certificate_facts(der)["san"] == "db.internal.example, 10.0.0.5, 2001:db8::5, *.example.org"
    ca_der = ssl.PEM_cert_to_DER_cert(trustme.CA().cert_pem.bytes().decode())
    assert summarize_certificate(ca_der).san == () and "san" not in certificate_facts(ca_der)


def test_parse_certificate_request_lists_ca_names_in_order() -> None:
    body = certificate_request(DOD_ROOT.public_bytes(), DOD_EMAIL_CA.public_bytes())
    names = parse_certificate_request(body)
    assert [dict(name)["CN"] for name in names] == ["DoD Root CA 3", "DOD EMAIL CA-59 \u00e9"]
    assert parse_certificate_request(certificate_request()) == ()


def test_read_server_flight_collects_certificate_and_ca_names(leaf_der: bytes) -> None:
    result = read_server_flight(record(22, flight(leaf_der, DOD_ROOT.public_bytes())))
    assert result.complete and result.alert is None and result.version == "TLSv1.2"
    assert result.certificate == leaf_der
    assert result.ca_names == (decode_name(DOD_ROOT.public_bytes()),)


def test_read_server_flight_is_incomplete_until_server_hello_done(leaf_der: bytes) -> None:
    data = record(22, flight(leaf_der, DOD_ROOT.public_bytes(), done=False))
    assert not read_server_flight(data).complete
    assert not read_server_flight(data[:-3]).complete


@given(st.lists(st.integers(min_value=1, max_value=400), min_size=1, max_size=8))
def test_read_server_flight_reassembles_messages_split_over_records(sizes: list[int]) -> None:
    leaf = b"\x30\x03\x02\x01\x05"  # only carried, never parsed here
    stream = flight(leaf, DOD_ROOT.public_bytes())
    records, pos = b"", 0
    for size in sizes * (len(stream) // min(sizes) + 1):
        if pos >= len(stream):
            break
        records += record(22, stream[pos:pos + size])
        pos += size
    result = read_server_flight(records)
    assert result.complete and result.certificate == leaf
    assert result.ca_names == (decode_name(DOD_ROOT.public_bytes()),)


def test_read_server_flight_reports_an_alert() -> None:
    result = read_server_flight(record(21, b"\x02\x46"))  # fatal protocol_version: a TLS 1.3-only server
    assert result.complete and result.alert == 70


def test_read_server_flight_rejects_what_is_not_tls() -> None:
    with pytest.raises(TlsParseError, match="not a TLS record"):
        read_server_flight(b"HTTP/1.1 400 Bad Request\r\n\r\n")


@pytest.mark.parametrize("parse", [read_server_flight, decode_name, summarize_certificate, parse_certificate_request])
@given(data=st.binary(max_size=300))
def test_parsers_never_raise_anything_but_parse_errors(parse: Callable[[bytes], object], data: bytes) -> None:
    try:
        parse(data)
    except TlsParseError:
        pass


@pytest.mark.parametrize("written", [
    "CN=DoD Root CA 3, OU=PKI, OU=DoD, O=U.S. Government, C=US",  # RFC 4514 order
    "C=US, O=U.S. Government, OU=DoD, OU=PKI, CN=DoD Root CA 3",  # OpenSSL order
    "C = US, O = U.S. Government, OU = DoD, OU = PKI, CN = DoD Root CA 3",  # OpenSSL default print
    "/C=US/O=U.S. Government/OU=DoD/OU=PKI/CN=DoD Root CA 3",  # OpenSSL one-line form
    "commonName=dod root ca  3,organizationalUnitName=PKI,OU=DoD,O=U.S. Government,countryName=us",
    "DoD Root CA 3",  # a bare common name
])
def test_subject_matches_the_ways_people_write_it(written: str) -> None:
    assert subject_matches(parse_subject(written), decode_name(DOD_ROOT.public_bytes()))


@pytest.mark.parametrize("written", [
    "CN=DoD Root CA 3, OU=PKI, O=U.S. Government, C=US",  # an OU missing
    "CN=DoD Root CA 4, OU=PKI, OU=DoD, O=U.S. Government, C=US",
    "DoD Root CA",
])
def test_subject_does_not_match_a_different_name(written: str) -> None:
    assert not subject_matches(parse_subject(written), decode_name(DOD_ROOT.public_bytes()))


def test_parse_subject_keeps_escaped_commas_and_rejects_nonsense() -> None:
    assert parse_subject(r"O=Acme\, Inc., CN=x") == (("O", "acme, inc."), ("CN", "x"))
    with pytest.raises(ValueError, match="write ATTR=value pairs"):
        parse_subject("CN=x, y")


def test_describe_failure_names_alerts_resets_and_eof() -> None:
    alert = ssl.SSLError(1, "[SSL: TLSV13_ALERT_CERTIFICATE_REQUIRED] tlsv13 alert certificate required")
    alert.reason = "TLSV13_ALERT_CERTIFICATE_REQUIRED"
    assert describe_failure(alert) == "peer sent TLS alert certificate required"
    assert describe_failure(ConnectionResetError(104, "Connection reset by peer")) == "connection reset"
    assert describe_failure(ssl.SSLEOFError(8, "EOF occurred")) == "connection closed"
