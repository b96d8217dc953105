"""TLS client contexts and handshake facts, shared by every probe that speaks TLS.

``tls``, ``https``, ``mtls``, ``wss`` and ``smtp-starttls`` all build their
client side here, so trust anchors, version floors and the way a handshake is
described in evidence are decided once.
"""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Mapping

VERSIONS = {
    "TLS1.0": ssl.TLSVersion.TLSv1,
    "TLS1.1": ssl.TLSVersion.TLSv1_1,
    "TLS1.2": ssl.TLSVersion.TLSv1_2,
    "TLS1.3": ssl.TLSVersion.TLSv1_3,
}


def client_context(
    ca: Path | None = None,
    *,
    verify: bool = True,
    client_cert: Path | None = None,
    client_key: Path | None = None,
    minimum: ssl.TLSVersion | None = None,
    maximum: ssl.TLSVersion | None = None,
) -> ssl.SSLContext:
    """A client context trusting ``ca`` (the system store when None).

    With ``verify=False`` the chain and host name are not checked: used to
    *observe* a server (what certificate does it present?) before judging it.
    """
    context = ssl.create_default_context(cafile=str(ca) if ca else None)
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if client_cert is not None:
        context.load_cert_chain(str(client_cert), str(client_key) if client_key else None)
    if minimum is not None or maximum is not None:
        # Old protocol versions are only reachable at the lowest security level.
        context.set_ciphers("DEFAULT:@SECLEVEL=0")
    if minimum is not None:
        context.minimum_version = minimum
    if maximum is not None:
        context.maximum_version = maximum
    return context


def handshake_facts(ssl_object: ssl.SSLObject | ssl.SSLSocket) -> Mapping[str, str]:
    """What a completed handshake showed: version, cipher, and the peer certificate's names and dates.

    Only meaningful fields of a verified peer certificate are available from
    the standard library; an unverified one yields version and cipher only.
    """
    facts: dict[str, str] = {}
    version = ssl_object.version()
    if version:
        facts["tls_version"] = version
    cipher = ssl_object.cipher()
    if cipher:
        facts["cipher"] = cipher[0]
    cert = ssl_object.getpeercert()
    if cert:
        facts["subject"] = _name(cert.get("subject", ()))
        facts["issuer"] = _name(cert.get("issuer", ()))
        sans = [str(entry[1]) for entry in cert.get("subjectAltName", ()) if entry[0] in ("DNS", "IP Address")]
        if sans:
            facts["san"] = ", ".join(sans)
        if "notAfter" in cert:
            facts["not_after"] = str(cert["notAfter"])
    return facts


def _name(rdns: object) -> str:
    """``((('commonName', 'x'),), ...)`` as ``commonName=x, ...``."""
    if not isinstance(rdns, tuple):
        return ""
    return ", ".join(f"{pair[0]}={pair[1]}" for rdn in rdns for pair in rdn)
