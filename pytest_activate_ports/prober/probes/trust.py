"""Whether a service's own TLS certificate is verified, and against what: ``verify:`` and ``ca:``.

The spec's ``tls.ca`` is the trust anchor of the web front (the load
balancer, the CAC listener). Databases, mail relays and Vault often carry
certificates from another CA, a self-signed "snakeoil" one, or one naming an
internal host the spec does not dial, and their clients are configured
accordingly (libpq's ``sslmode=require`` checks nothing). So the probes of
those services (``postgres``, ``mysql``, ``smtp-starttls``, ``vault``) share
one vocabulary: ``verify: true|false`` says whether the certificate must
verify (chain and host name), ``ca: PATH`` names the anchor to verify it
against (relative to the spec, like ``tls.ca``; giving it implies ``verify:
true``), and without ``ca:`` verification uses ``tls.ca``, else the system
store. Each probe has its own default: a web-facing service verifies, a
database only reports what it saw. Either way the certificate seen is
reported (subject, issuer, SAN, expiry).
"""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass
from typing import TYPE_CHECKING, Awaitable, Callable, Mapping

from .options import OptionError, ProbeOptions
from .tlsctx import client_context, describe, describe_failure, handshake_facts

if TYPE_CHECKING:
    from .material import Pem, TlsMaterial
    from .connection import Connection


@dataclass(frozen=True)
class ServerTrust:
    """How a probe judges the certificate of the service it talks to."""

    verify: bool
    ca: Pem | None = None  # the anchor when verifying; None: the system trust store
    own_ca: bool = False  # ``ca`` came from the probe's ``ca:`` option, not from ``tls.ca``

    @classmethod
    def from_options(cls, options: ProbeOptions, tls: TlsMaterial, verify_by_default: bool) -> ServerTrust:
        """``verify`` and ``ca`` from the probe's options; ``tls.ca`` is the anchor when no ``ca`` is given."""
        ca = options.certificates("ca")
        verify = options.flag("verify", verify_by_default or ca is not None)
        if ca is not None and not verify:
            raise OptionError("ca", f"probe {options.kind}: 'ca' is the anchor to verify against, "
                                    "but verify is false; drop one of them")
        return cls(verify, ca or tls.ca, ca is not None)

    @property
    def anchor(self) -> str:
        """The trust anchor in words, for messages."""
        if self.ca is None:
            return "the system trust store"
        return f"{'ca' if self.own_ca else 'tls.ca'} ({self.ca.name})"

    def context(self) -> ssl.SSLContext:
        """A shared client context that verifies (or only observes) as this trust says."""
        return client_context(self.ca, verify=True) if self.verify else client_context(verify=False)

    @property
    def judged(self) -> str:
        """What a completed handshake says about the certificate, for a result detail."""
        return f"certificate verified against {self.anchor}" if self.verify else "certificate not verified (verify: true checks it)"

    def refused(self, exc: ssl.SSLCertVerificationError, seen: Mapping[str, str]) -> str:
        """Why the certificate failed, what was presented, and the way out."""
        way_out = ("check that ca: is the CA that issued it" if self.own_ca
                   else "name the service's own CA with ca:") + ", or set verify: false"
        return f"{describe_failure(exc)} (against {self.anchor}); presented: {describe(seen) or 'not readable'}; {way_out}"


Preamble = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[bool]]
"""Brings a fresh connection to the point where the service starts TLS; False if it declines."""


async def presented(conn: Connection, preamble: Preamble) -> dict[str, str]:
    """The certificate the server presents, read unverified on an extra connection (for evidence).

    A verification failure aborts the handshake before the peer's certificate
    can be read, so a service that upgrades in-protocol (SSLRequest, STARTTLS)
    is asked once more, and this time nothing is verified.
    """
    try:
        reader, writer = await conn.open()
        if not await preamble(reader, writer):
            return {}
        await writer.start_tls(client_context(verify=False), server_hostname=conn.target.name)
    except (ValueError, EOFError, OSError):  # the protocols' parse errors are ValueErrors; ssl.SSLError is an OSError
        return {}
    facts = dict(handshake_facts(writer.get_extra_info("ssl_object")))
    writer.transport.abort()
    return facts
