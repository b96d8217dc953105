"""Reading what a TLS server shows in the clear, as pure functions over bytes.

The standard library's ``ssl`` module verifies certificates but does not
describe one it rejected, and it never exposes the list of acceptable client
CAs a server sends in its CertificateRequest. Both are plain DER/TLS bytes,
so this module reads them directly: a minimal DER reader for certificates and
distinguished names, and a parser for a TLS 1.2 server's first flight. No
sockets here; :mod:`.mtls` and :mod:`.tls` feed it bytes.
"""

from __future__ import annotations

import datetime
import ipaddress
import re
from dataclasses import dataclass

from .base import PeerError

Name = tuple[tuple[str, str], ...]
"""A distinguished name as (attribute, value) pairs in certificate order, e.g. (("C", "US"), ("CN", "DoD Root CA 3"))."""

_OIDS = {
    "2.5.4.3": "CN", "2.5.4.5": "serialNumber", "2.5.4.6": "C", "2.5.4.7": "L", "2.5.4.8": "ST",
    "2.5.4.10": "O", "2.5.4.11": "OU", "0.9.2342.19200300.100.1.25": "DC",
    "0.9.2342.19200300.100.1.1": "UID", "1.2.840.113549.1.9.1": "emailAddress",
}
LONG_NAMES = {
    "commonname": "CN", "countryname": "C", "localityname": "L", "stateorprovincename": "ST",
    "organizationname": "O", "organizationalunitname": "OU", "domaincomponent": "DC",
    "userid": "UID", "emailaddress": "emailAddress", "serialnumber": "serialNumber",
}
"""Attribute names as ``getpeercert()`` or a user may spell them, mapped to the short form we report."""

_VERSIONS = {b"\x03\x01": "TLSv1", b"\x03\x02": "TLSv1.1", b"\x03\x03": "TLSv1.2"}
_STRINGS = {0x0C: "utf-8", 0x13: "ascii", 0x16: "ascii", 0x14: "latin-1", 0x1E: "utf-16-be", 0x1C: "utf-32-be"}

ALERTS = {
    0: "close notify", 10: "unexpected message", 40: "handshake failure", 42: "bad certificate",
    43: "unsupported certificate", 45: "certificate expired", 46: "certificate unknown",
    47: "illegal parameter", 48: "unknown CA", 49: "access denied", 50: "decode error",
    51: "decrypt error", 70: "protocol version", 71: "insufficient security", 80: "internal error",
    112: "unrecognized name", 116: "certificate required",
}


class TlsParseError(PeerError):
    """The peer's bytes are not the DER or TLS structure expected."""


@dataclass(frozen=True)
class CertificateSummary:
    """The parts of a certificate a person needs to recognise it, read without verifying it."""

    subject: Name
    issuer: Name
    not_after: datetime.datetime
    san: tuple[str, ...] = ()
    """DNS names and IP addresses of the subjectAltName extension, in certificate order."""


@dataclass(frozen=True)
class ServerFlight:
    """What a TLS 1.2 server sent in the clear in answer to our ClientHello.

    ``complete`` is False until ServerHelloDone or an alert arrived: feed more
    bytes. ``version`` is the one the ServerHello chose; ``ca_names`` is None
    when the server sent no CertificateRequest.
    """

    complete: bool
    alert: int | None = None
    version: str | None = None
    certificate: bytes | None = None
    ca_names: tuple[Name, ...] | None = None


def format_name(name: Name) -> str:
    """``C=US, O=U.S. Government, CN=DoD Root CA 3``, in certificate order."""
    return ", ".join(f"{key}={value}" for key, value in name)


def _tlv(data: bytes, pos: int, end: int) -> tuple[int, int, int]:
    """Tag, content start and content end of the DER element at ``pos``."""
    if pos + 2 > end:
        raise TlsParseError("truncated DER element")
    tag, length, pos = data[pos], data[pos + 1], pos + 2
    if length & 0x80:
        count = length & 0x7F
        if not 0 < count <= 4 or pos + count > end:
            raise TlsParseError("bad DER length")
        length, pos = int.from_bytes(data[pos:pos + count], "big"), pos + count
    if pos + length > end:
        raise TlsParseError("DER element overruns its container")
    return tag, pos, pos + length


def _children(data: bytes, start: int, end: int) -> list[tuple[int, int, int]]:
    items = []
    while start < end:
        item = _tlv(data, start, end)
        items.append(item)
        start = item[2]
    return items


def _oid(raw: bytes) -> str:
    if not raw:
        raise TlsParseError("empty OID")
    parts, value = [min(raw[0] // 40, 2), raw[0] - 40 * min(raw[0] // 40, 2)], 0
    for byte in raw[1:]:
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            parts.append(value)
            value = 0
    return ".".join(map(str, parts))


def _name_at(data: bytes, start: int, end: int) -> Name:
    pairs = []
    for tag, rdn_start, rdn_end in _children(data, start, end):
        if tag != 0x31:
            raise TlsParseError("a distinguished name must be a sequence of sets")
        for _, attr_start, attr_end in _children(data, rdn_start, rdn_end):
            parts = _children(data, attr_start, attr_end)
            if len(parts) != 2 or parts[0][0] != 0x06:
                raise TlsParseError("malformed name attribute")
            oid = _oid(data[parts[0][1]:parts[0][2]])
            value_tag, value_start, value_end = parts[1]
            value = data[value_start:value_end].decode(_STRINGS.get(value_tag, "utf-8"), "replace")
            pairs.append((_OIDS.get(oid, oid), value))
    return tuple(pairs)


def decode_name(der: bytes) -> Name:
    """A DER-encoded X.501 Name (as listed in a CertificateRequest)."""
    tag, start, end = _tlv(der, 0, len(der))
    if tag != 0x30:
        raise TlsParseError("a distinguished name must be a DER sequence")
    return _name_at(der, start, end)


def _time(tag: int, raw: bytes) -> datetime.datetime:
    text = raw.decode("ascii", "replace")
    layout = {0x17: "%y%m%d%H%M%SZ", 0x18: "%Y%m%d%H%M%SZ"}.get(tag)
    try:
        if layout is None:
            raise ValueError(text)
        return datetime.datetime.strptime(text, layout).replace(tzinfo=datetime.timezone.utc)
    except ValueError as exc:
        raise TlsParseError(f"bad certificate time {text!r}") from exc


def summarize_certificate(der: bytes) -> CertificateSummary:
    """Subject, issuer and expiry of a DER certificate, without judging it."""
    _, cert_start, cert_end = _tlv(der, 0, len(der))
    _, tbs_start, tbs_end = _tlv(der, cert_start, cert_end)
    fields = _children(der, tbs_start, tbs_end)
    if fields and fields[0][0] == 0xA0:
        fields = fields[1:]  # the optional explicit version
    if len(fields) < 5:
        raise TlsParseError("truncated certificate")
    validity = _children(der, fields[3][1], fields[3][2])
    if len(validity) != 2:
        raise TlsParseError("malformed certificate validity")
    extensions = next((f for f in fields[6:] if f[0] == 0xA3), None)  # [3] EXPLICIT Extensions
    return CertificateSummary(
        subject=_name_at(der, fields[4][1], fields[4][2]),
        issuer=_name_at(der, fields[2][1], fields[2][2]),
        not_after=_time(validity[1][0], der[validity[1][1]:validity[1][2]]),
        san=_alt_names(der, extensions[1], extensions[2]) if extensions else (),
    )


_SAN_OID = "2.5.29.17"


def _alt_names(der: bytes, start: int, end: int) -> tuple[str, ...]:
    """The dNSName and iPAddress entries of a subjectAltName among ``Extensions`` (RFC 5280 4.2.1.6)."""
    _, seq_start, seq_end = _tlv(der, start, end)
    for _, ext_start, ext_end in _children(der, seq_start, seq_end):
        parts = _children(der, ext_start, ext_end)
        if not parts or parts[0][0] != 0x06 or _oid(der[parts[0][1]:parts[0][2]]) != _SAN_OID:
            continue
        tag, value_start, value_end = parts[-1]  # extnValue, after the optional critical flag
        if tag != 0x04:
            raise TlsParseError("subjectAltName value is not an OCTET STRING")
        _, names_start, names_end = _tlv(der, value_start, value_end)
        names = []
        for name_tag, name_start, name_end in _children(der, names_start, names_end):
            raw = der[name_start:name_end]
            if name_tag == 0x82:  # [2] dNSName
                names.append(raw.decode("ascii", "replace"))
            elif name_tag == 0x87 and len(raw) in (4, 16):  # [7] iPAddress
                names.append(ipaddress.ip_address(raw).compressed)
        return tuple(names)
    return ()


def _u16(data: bytes, pos: int) -> int:
    if pos + 2 > len(data):
        raise TlsParseError("truncated TLS message")
    return int.from_bytes(data[pos:pos + 2], "big")


def parse_certificate_request(body: bytes) -> tuple[Name, ...]:
    """The ``certificate_authorities`` of a TLS 1.2 CertificateRequest body (RFC 5246 7.4.4)."""
    if not body:
        raise TlsParseError("empty CertificateRequest")
    pos = 1 + body[0]  # certificate_types
    pos += 2 + _u16(body, pos)  # supported_signature_algorithms
    end = pos + 2 + _u16(body, pos)
    if end > len(body):
        raise TlsParseError("CertificateRequest CA list overruns the message")
    pos += 2
    names = []
    while pos < end:
        length = _u16(body, pos)
        if pos + 2 + length > end:
            raise TlsParseError("CA name overruns the CertificateRequest")
        names.append(decode_name(body[pos + 2:pos + 2 + length]))
        pos += 2 + length
    return tuple(names)


def read_server_flight(data: bytes) -> ServerFlight:
    """Parse everything received so far after a TLS 1.2 ClientHello (records may split messages)."""
    handshake, pos = bytearray(), 0
    while pos + 5 <= len(data):
        kind, major, length = data[pos], data[pos + 1], _u16(data, pos + 3)
        if major != 3:
            raise TlsParseError(f"not a TLS record (first bytes {data[pos:pos + 5].hex()})")
        if pos + 5 + length > len(data):
            break
        fragment, pos = data[pos + 5:pos + 5 + length], pos + 5 + length
        if kind == 21:
            return ServerFlight(True, alert=fragment[1] if len(fragment) > 1 else None)
        if kind != 22:
            raise TlsParseError(f"unexpected TLS record type {kind} before ServerHelloDone")
        handshake += fragment
    version, certificate, ca_names, pos = None, None, None, 0
    while pos + 4 <= len(handshake):
        kind, length = handshake[pos], int.from_bytes(handshake[pos + 1:pos + 4], "big")
        body = bytes(handshake[pos + 4:pos + 4 + length])
        if len(body) < length:
            break
        pos += 4 + length
        if kind == 2 and len(body) >= 2:
            version = _VERSIONS.get(body[:2], body[:2].hex())
        elif kind == 11 and len(body) >= 6:
            first = int.from_bytes(body[3:6], "big")
            certificate = body[6:6 + first]
        elif kind == 13:
            ca_names = parse_certificate_request(body)
        elif kind == 14:
            return ServerFlight(True, None, version, certificate, ca_names)
    return ServerFlight(False, None, version, certificate, ca_names)


def _normalize(key: str, value: str) -> tuple[str, str]:
    key = key.strip()
    return LONG_NAMES.get(key.lower(), key.upper() if len(key) <= 2 else key), " ".join(value.split()).casefold()


def parse_subject(text: str) -> Name:
    """A subject as a user writes it, normalized for :func:`subject_matches`.

    Accepted: ``CN=DoD Root CA 3, OU=PKI, OU=DoD, O=U.S. Government, C=US`` (RFC 4514 or
    OpenSSL order, ``\\,`` escapes a comma), ``/C=US/O=.../CN=...`` (OpenSSL's one-line
    form), or a bare common name (``DoD Root CA 3``).
    """
    if "=" not in text:
        return (_normalize("CN", text),)
    parts = text.strip().lstrip("/").split("/") if text.strip().startswith("/") else re.split(r"(?<!\\),", text)
    pairs = []
    for part in parts:
        key, sep, value = part.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"cannot read {part.strip()!r} in subject {text!r}: write ATTR=value pairs")
        pairs.append(_normalize(key, value.replace("\\", "")))
    return tuple(pairs)


def subject_matches(wanted: Name, name: Name) -> bool:
    """Whether ``name`` is the subject ``wanted`` describes: the same attributes in any order,
    compared case- and whitespace-insensitively; a bare common name matches on CN alone."""
    normalized = sorted(_normalize(key, value) for key, value in name)
    if len(wanted) == 1 and wanted[0][0] == "CN":
        return wanted[0] in normalized
    return sorted(wanted) == normalized
