"""``mtls``: the CAC listener (8443) demands a client certificate from a CA it trusts.

Five named sub-checks, each on its own connection so that one cannot mask
another, and each a full handshake plus one HTTP request: under TLS 1.3 the
server judges the client certificate after the client has finished its side of
the handshake, so a rejection only shows on the first read.

1. ``server-certificate``: the server's certificate verifies against
   ``tls.server_ca`` (else ``tls.ca``): ACTIVATE itself terminates TLS, not a
   load balancer with its default certificate.
2. ``no-client-cert-rejected``: without a client certificate: alert, reset or
   EOF before any HTTP response.
3. ``untrusted-client-cert-rejected``: the same with a certificate from a CA
   made up on the spot (users need not provide one): the pytest side makes it
   with trustme, once per session, and hands it over as PEM with the job
   (:attr:`.material.TlsMaterial.untrusted_client`); the prober has only the
   standard library.
4. ``client-cert-accepted``: the spec's ``tls.client_cert`` is accepted and
   answered. Without one this is "not verified" and the probe fails.
5. ``acceptable-ca-listed`` (only with the ``acceptable_ca`` option): the
   server's CertificateRequest names those CAs.

For (5) the standard library has no API for the CA list a server sends.
pyOpenSSL's ``get_client_ca_list()`` has, but would be a new dependency for one
list of names; instead a TLS 1.2-capped ClientHello is sent and the plaintext
CertificateRequest is parsed (:mod:`.tlsverify`). Under TLS 1.3 that message
is encrypted, so a TLS 1.3-only server is reported as "not verifiable".

Servers that finish the handshake and refuse in HTTP instead pass (2) and (3)
when the refusal is one of nginx's (``ssl_verify_client on`` answers 400 "No
required SSL certificate was sent" or "The SSL certificate error", see
:mod:`.refusals`), or when its status is listed in ``reject_status``.
"""

from __future__ import annotations

import asyncio
import enum
import ssl
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Mapping

from .base import Probe, ProtocolResult, SubCheck
from .connection import Connection
from .http1 import HttpError, build_request, describe, exchange, host_header
from .options import OptionError
from .refusals import CLIENT_CERT_REFUSALS, read_refusal, refusal_text
from .registry import register
from .tlsctx import HANDSHAKE_ERRORS, client_context, describe_failure, first_flight, handshake_facts
from .tlsctx import describe as describe_tls
from .tlsverify import ALERTS, Name, TlsParseError, format_name, parse_subject, subject_matches

if TYPE_CHECKING:
    from .material import Pem, TlsMaterial
    from .options import ProbeOptions

CLIENT_CERT_ALERTS = frozenset({
    "SSLV3_ALERT_BAD_CERTIFICATE", "SSLV3_ALERT_UNSUPPORTED_CERTIFICATE", "SSLV3_ALERT_CERTIFICATE_REVOKED",
    "SSLV3_ALERT_CERTIFICATE_EXPIRED", "SSLV3_ALERT_CERTIFICATE_UNKNOWN", "TLSV1_ALERT_UNKNOWN_CA",
    "TLSV1_ALERT_ACCESS_DENIED", "TLSV1_ALERT_DECRYPT_ERROR", "TLSV13_ALERT_CERTIFICATE_REQUIRED",
})
"""Alerts about *our* certificate: the server sends them only after our side accepted its certificate."""


TLS13_ONLY = "under TLS 1.3 the CertificateRequest is encrypted, so its CA list cannot be read"


class Taken(enum.Enum):
    """How the server took one connection attempt."""

    ANSWERED = "answered"
    REJECTED = "rejected"
    OTHER_DATA = "sent non-HTTP data"
    SILENT = "no answer"
    SERVER_UNTRUSTED = "server certificate not trusted"


@dataclass(frozen=True)
class Exchange:
    """One handshake plus request as a given client identity, and what came of it."""

    taken: Taken
    detail: str
    completed: bool = False  # our side of the handshake finished (so the server certificate was accepted)
    judged_client: bool = False  # the server sent an alert about our client certificate
    facts: Mapping[str, str] = field(default_factory=dict)


async def try_identity(conn: Connection, context: ssl.SSLContext, request: bytes, reject_status: frozenset[int],
                       *, handed: bool = False) -> Exchange:
    """Handshake on a fresh connection (or upgrade the handed one), send ``request``, read the answer."""
    try:
        if handed:
            await conn.start_tls(context)
            reader, writer = conn.reader, conn.writer
        else:
            reader, writer = await conn.open(context)
    except ssl.SSLCertVerificationError as exc:
        return Exchange(Taken.SERVER_UNTRUSTED, describe_failure(exc))
    except HANDSHAKE_ERRORS as exc:
        about_us = isinstance(exc, ssl.SSLError) and exc.reason in CLIENT_CERT_ALERTS
        return Exchange(Taken.REJECTED, f"{describe_failure(exc)} during the handshake", judged_client=about_us)
    facts = handshake_facts(writer.get_extra_info("ssl_object"))
    try:
        head = await exchange(reader, writer, request)
        refusal = await read_refusal(reader, head)
    except HttpError as exc:
        cause = exc.__cause__
        if isinstance(cause, asyncio.IncompleteReadError) and not cause.partial:
            return Exchange(Taken.REJECTED, "connection closed before any response", True, facts=facts)
        return Exchange(Taken.OTHER_DATA, str(exc), True, facts=facts)
    except HANDSHAKE_ERRORS as exc:
        return Exchange(Taken.REJECTED, f"{describe_failure(exc)} at the first read", True, facts=facts)
    finally:
        writer.transport.abort()
    answer = describe(head)
    if refusal in CLIENT_CERT_REFUSALS:
        return Exchange(Taken.REJECTED, f"refused in HTTP: {answer} {refusal_text(refusal)}", True, facts=facts)
    if head.status in reject_status:
        return Exchange(Taken.REJECTED, f"refused in HTTP: {answer} (listed in reject_status)", True, facts=facts)
    return Exchange(Taken.ANSWERED, answer, True, facts={**facts, "status": str(head.status)})


UNTRUSTED_MISSING = "no untrusted client identity was handed to the prober (the pytest side makes it)"


async def _unverifiable(why: str) -> Exchange:
    return Exchange(Taken.SILENT, why)


def _refusal(name: str, attempt: Exchange, without: str) -> SubCheck:
    """Sub-checks 2 and 3: the server must refuse the connection."""
    if attempt.taken is Taken.REJECTED:
        return SubCheck(name, True, f"rejected: {attempt.detail}")
    if attempt.taken is Taken.SILENT:
        return SubCheck(name, None, f"not verified: {attempt.detail}")
    # Only an error status can be a refusal worth listing; a 2xx served the request.
    refused_in_http = attempt.taken is Taken.ANSWERED and int(attempt.facts.get("status", "200")) >= 300
    hint = "; if the server refuses in HTTP, list that status in reject_status" if refused_in_http else ""
    return SubCheck(name, False, f"{attempt.taken.value} {without}: {attempt.detail}{hint}")


@register
class MtlsProbe(Probe):
    """Passes only if the server proves its identity and answers only trusted client certificates."""

    kind = "mtls"
    tls_material = frozenset({"ca", "server_ca", "client", "untrusted_client"})

    def __init__(self, tls: TlsMaterial, path: str = "/", acceptable_ca: tuple[tuple[str, Name], ...] = (),
                 reject_status: frozenset[int] = frozenset()) -> None:
        self.tls = tls
        self.path = path
        self.acceptable_ca = acceptable_ca  # (as written, parsed) per required CA subject
        self.reject_status = reject_status

    @classmethod
    def from_options(cls, options: ProbeOptions, tls: TlsMaterial) -> MtlsProbe:
        path = options.request_path()
        try:
            acceptable_ca = tuple((text, parse_subject(text)) for text in options.texts("acceptable_ca"))
        except ValueError as exc:
            raise OptionError("acceptable_ca", f"probe mtls: {exc}") from exc
        return cls(tls, path, acceptable_ca, options.statuses("reject_status", frozenset()))

    @property
    def server_trust(self) -> tuple[Pem | None, str]:
        """The trust anchor for the server's certificate, and how messages name it."""
        anchor = self.tls.server_ca or self.tls.ca
        key = "tls.server_ca" if self.tls.server_ca else "tls.ca"
        return anchor, f"{key} ({anchor.name})" if anchor else "the system trust store"

    async def check(self, conn: Connection) -> ProtocolResult:
        anchor, trust = self.server_trust
        spec_identity, stranger = self.tls.client, self.tls.untrusted_client
        try:
            # Without a spec identity, presenting *some* certificate still lets a TLS 1.2
            # server reach the point where it judges it, which proves our side had
            # accepted the server's certificate.
            verified = client_context(anchor, client=spec_identity or stranger)
            with_spec = client_context(verify=False, client=spec_identity) if spec_identity else None
        except (OSError, ValueError) as exc:  # ssl.SSLError is an OSError
            return ProtocolResult(False, f"cannot load tls.client_cert/tls.client_key: {describe_failure(exc)}")
        without = client_context(verify=False)
        untrusted = client_context(verify=False, client=stranger) if stranger else None
        request = build_request(host_header(conn.target.name, conn.target.spec_port, 443), self.path)
        limit = conn.target.timeout * 0.8  # each attempt ends before the engine gives up on the whole probe

        async def attempt(context: ssl.SSLContext, handed: bool = False) -> Exchange:
            try:
                return await asyncio.wait_for(try_identity(conn, context, request, self.reject_status, handed=handed), limit)
            except asyncio.TimeoutError:
                return Exchange(Taken.SILENT, f"no answer within {limit:.1f}s")

        ca_list = asyncio.ensure_future(self._ca_list_check(conn, limit)) if self.acceptable_ca else None
        attempts = [attempt(verified, handed=True), attempt(without),
                    attempt(untrusted) if untrusted else _unverifiable(UNTRUSTED_MISSING)]
        if with_spec is not None:
            attempts.append(attempt(with_spec))
        try:
            server, bare, foreign, *known = await asyncio.gather(*attempts)
        except BaseException:
            if ca_list is not None:
                ca_list.cancel()  # cancelled by the engine's timeout: never leave the task running
            raise
        presented = next((a.facts for a in (server, *known, bare, foreign) if a.facts), {})
        checks = [
            self._server_check(server, trust, presented),
            _refusal("no-client-cert-rejected", bare, "without a client certificate"),
            _refusal("untrusted-client-cert-rejected", foreign, "with a client certificate from an untrusted CA"),
            self._known_check(known[0]) if known else SubCheck(
                "client-cert-accepted", None,
                "not verified: tls.client_cert/tls.client_key are not configured, so nothing shows a real user gets in"),
        ]
        if ca_list is not None:
            checks.append(await ca_list)
        return self._result(tuple(checks), presented)

    @staticmethod
    def _server_check(attempt: Exchange, trust: str, presented: Mapping[str, str]) -> SubCheck:
        name = "server-certificate"
        if attempt.taken is Taken.SERVER_UNTRUSTED:
            return SubCheck(name, False, f"{attempt.detail} against {trust}; presented: {describe_tls(presented) or 'unknown'}")
        if attempt.completed:
            return SubCheck(name, True, f"verifies against {trust}: {describe_tls(attempt.facts)}")
        if attempt.judged_client:
            return SubCheck(name, True, f"verifies against {trust} (the server then judged our client certificate)")
        return SubCheck(name, None, f"not verified: the handshake ended before our side finished ({attempt.detail})")

    @staticmethod
    def _known_check(attempt: Exchange) -> SubCheck:
        name = "client-cert-accepted"
        if attempt.taken is Taken.ANSWERED:
            return SubCheck(name, True, f"accepted and answered {attempt.detail}")
        if attempt.taken is Taken.SILENT:
            return SubCheck(name, None, f"not verified: {attempt.detail}")
        return SubCheck(name, False, f"the spec's client certificate was {attempt.taken.value}: {attempt.detail}")

    async def _ca_list_check(self, conn: Connection, limit: float) -> SubCheck:
        name = "acceptable-ca-listed"
        try:
            flight = await asyncio.wait_for(first_flight(conn, ssl.TLSVersion.TLSv1_2), limit)
        except asyncio.TimeoutError:
            return SubCheck(name, None, f"not verifiable: no TLS 1.2 answer within {limit:.1f}s")
        except TlsParseError as exc:
            return SubCheck(name, None, f"not verifiable: the answer to a TLS 1.2 ClientHello is not TLS ({exc})")
        except HANDSHAKE_ERRORS as exc:
            return SubCheck(name, None, f"not verifiable: the server refused TLS 1.2 ({describe_failure(exc)}); {TLS13_ONLY}")
        if flight.alert is not None:
            return SubCheck(name, None, f"not verifiable: the server refused TLS 1.2 (alert "
                                        f"{ALERTS.get(flight.alert, flight.alert)}); {TLS13_ONLY}")
        if flight.ca_names is None:
            return SubCheck(name, False, "the server requested no client certificate over TLS 1.2")
        missing = [text for text, wanted in self.acceptable_ca
                   if not any(subject_matches(wanted, listed) for listed in flight.ca_names)]
        listed = "; ".join(format_name(n) for n in flight.ca_names) or "no CA names"
        if missing:
            return SubCheck(name, False, f"CertificateRequest lacks {', '.join(missing)}; it lists: {listed}")
        return SubCheck(name, True, f"CertificateRequest lists {len(self.acceptable_ca)} required CA(s) among {len(flight.ca_names)}")

    @staticmethod
    def _result(checks: tuple[SubCheck, ...], facts: Mapping[str, str]) -> ProtocolResult:
        if all(check.passed for check in checks):
            return ProtocolResult(True, "mTLS enforced: " + "; ".join(f"{c.name}: {c.detail}" for c in checks),
                                  checks, facts)
        shown = [f"{c.name} {'FAILED' if c.passed is False else 'NOT VERIFIED'}: {c.detail}"
                 for c in checks if not c.passed]
        return ProtocolResult(False, "; ".join(shown), checks, facts)
