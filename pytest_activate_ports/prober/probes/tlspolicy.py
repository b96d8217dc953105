"""The TLS a server must show (trust, expiry window, protocol floor): shared by ``tls``, ``https``, ``wss`` and ``vault``.

A probe kind that speaks TLS judges the handshake here, so importing one kind
never registers another (``https`` once imported ``tls`` for this, and with it
the ``tls`` kind).
"""

from __future__ import annotations

import datetime
import ssl
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .base import ProtocolResult
from .options import OptionError
from .tlsctx import (HANDSHAKE_ERRORS, NEGOTIATED, VERSIONS, below, certificate_facts, client_context, describe,
                     describe_failure, first_flight, handshake_facts)
from .tlsverify import TlsParseError
from .trust import ServerTrust

if TYPE_CHECKING:
    from .material import TlsMaterial
    from .connection import Connection
    from .options import ProbeOptions


@dataclass(frozen=True)
class TlsPolicy:
    """What a server's TLS must satisfy; shared by ``tls``, ``https``, ``wss`` and ``vault``."""

    trust: ServerTrust
    min_version: str | None
    expiry_warn_days: int

    @classmethod
    def from_options(cls, options: ProbeOptions, tls: TlsMaterial) -> TlsPolicy:
        """``min_version`` and ``expiry_warn_days`` from the probe, defaulting to the spec's ``tls:``."""
        min_version = options.text("min_version", tls.min_version)
        if min_version is not None and min_version not in VERSIONS:
            raise OptionError("min_version", f"probe {options.kind}: 'min_version' must be one of "
                                             f"{', '.join(VERSIONS)}, not {min_version!r}")
        warn = options.integer("expiry_warn_days", tls.expiry_warn_days, 0, 3650)
        return cls(ServerTrust(True, tls.ca), min_version, warn)

    async def establish(self, conn: Connection) -> ProtocolResult:
        """Upgrade ``conn`` to TLS and judge the handshake and certificate; on success ``conn`` carries TLS.

        The protocol floor is judged separately (:meth:`judge_floor`), once the
        caller is done with ``conn``.
        """
        try:
            await conn.start_tls(self.trust.context())
        except ssl.SSLCertVerificationError as exc:
            seen = await _presented(conn)
            return ProtocolResult(False, f"{describe_failure(exc)} (against {self.trust.anchor}); presented: "
                                         f"{describe(seen) or 'not readable'}", facts=seen)
        except HANDSHAKE_ERRORS as exc:
            return ProtocolResult(False, f"TLS handshake failed: {describe_failure(exc)}")
        facts = dict(handshake_facts(conn.writer.get_extra_info("ssl_object")))
        warnings: tuple[str, ...] = ()
        if "not_after" in facts:
            left = (ssl.cert_time_to_seconds(facts["not_after"]) - datetime.datetime.now(datetime.timezone.utc).timestamp()) / 86400
            facts["days_left"] = f"{left:.0f}"
            if left < self.expiry_warn_days:
                warnings = (f"{conn.target.name}:{conn.target.spec_port} certificate expires in {left:.1f} days "
                            f"({facts['not_after']}), inside the {self.expiry_warn_days}-day warning window; renew it",)
        return ProtocolResult(True, describe(facts), facts=facts, warnings=warnings)

    async def judge_floor(self, conn: Connection, result: ProtocolResult) -> ProtocolResult:
        """``result`` unless the server also accepts a version below ``min_version``.

        Call it after closing the handed connection: the extra connection it
        opens must not wait behind it on a server that serves one at a time
        (``openssl s_server``).
        """
        if not result.passed or self.min_version is None:
            return result
        facts = dict(result.facts)
        broken, untested = await self._floor(conn, facts)
        if broken:
            return ProtocolResult(False, f"{broken}; {result.detail}", result.checks, facts)
        return ProtocolResult(True, result.detail, result.checks, facts, result.warnings + untested)

    async def _floor(self, conn: Connection, facts: dict[str, str]) -> tuple[str | None, tuple[str, ...]]:
        """Why the server breaks ``min_version`` (or None), and warnings when that could not be tested."""
        assert self.min_version is not None
        floor = VERSIONS[self.min_version]
        negotiated = facts.get("tls_version", "")
        if NEGOTIATED.get(negotiated, floor) < floor:
            return f"negotiated {negotiated}, below min_version {self.min_version}", ()
        older = below(floor)
        if older is None:
            return None, ()
        try:
            # The ServerHello alone shows the version is accepted, even where a
            # client certificate would be demanded later in the handshake.
            flight = await first_flight(conn, older)
        except ssl.SSLError as exc:  # raised before any byte is sent: our OpenSSL, not the server
            return None, (f"min_version {self.min_version}: cannot test whether older versions are still accepted; "
                          f"this machine's OpenSSL will not offer them ({describe_failure(exc)})",)
        except (TlsParseError, *HANDSHAKE_ERRORS):
            flight = None
        if flight is None or flight.alert is not None or NEGOTIATED.get(flight.version or "", floor) >= floor:
            facts["older_versions"] = "refused"
            return None, ()
        facts["older_versions"] = f"{flight.version} accepted"
        return f"also accepts {flight.version}, older than min_version {self.min_version}; disable it on the server", ()


async def _presented(conn: Connection) -> dict[str, str]:
    """The certificate a server presents, read on an extra unverified connection (for evidence).

    A server that refuses the handshake without a client certificate still
    shows its certificate in a TLS 1.2 first flight, in plaintext.
    """
    try:
        _, writer = await conn.open(client_context(verify=False))
    except HANDSHAKE_ERRORS:
        try:
            flight = await first_flight(conn, ssl.TLSVersion.TLSv1_2)
        except (TlsParseError, *HANDSHAKE_ERRORS):
            return {}
        return dict(certificate_facts(flight.certificate))
    der = writer.get_extra_info("ssl_object").getpeercert(binary_form=True)
    writer.transport.abort()
    return dict(certificate_facts(der))
