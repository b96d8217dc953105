"""``tls``: the port completes a TLS handshake with a certificate a client can trust.

Trust means what a browser or agent would check: the chain verifies against
``tls.ca`` (the system store when absent), the certificate names the host as
written in the spec (also sent as SNI), and it has not expired. Two further
conditions catch slow rot: a certificate inside ``expiry_warn_days`` passes
with a warning, and with ``min_version`` a server that still accepts an older
protocol on a second, deliberately capped connection fails.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .base import Probe, ProtocolResult
from .connection import Connection
from .registry import register
from .tlspolicy import TlsPolicy

if TYPE_CHECKING:
    from .material import TlsMaterial
    from .options import ProbeOptions


@register
class TlsProbe(Probe):
    """Passes on a trusted, matching, unexpired certificate (and no protocol below ``min_version``)."""

    kind = "tls"
    tls_material = frozenset({"ca"})

    def __init__(self, policy: TlsPolicy) -> None:
        self.policy = policy

    @classmethod
    def from_options(cls, options: ProbeOptions, tls: TlsMaterial) -> TlsProbe:
        return cls(TlsPolicy.from_options(options, tls))

    async def check(self, conn: Connection) -> ProtocolResult:
        result = await self.policy.establish(conn)
        conn.abort()  # the floor check's extra connection may queue behind it
        return await self.policy.judge_floor(conn, result)
