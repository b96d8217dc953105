"""``tcp``: the port accepts a TCP connection; nothing more is asked of it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .base import Connection, Probe, ProtocolResult
from .registry import register

if TYPE_CHECKING:
    from ..spec.model import TlsConfig
    from .options import ProbeOptions


@register
class TcpProbe(Probe):
    """Passes on a completed TCP handshake; used for ports with no protocol to check."""

    kind = "tcp"
    summary = "TCP handshake completes"
    talks = False

    @classmethod
    def from_options(cls, options: ProbeOptions, tls: TlsConfig) -> TcpProbe:
        return cls()

    async def check(self, conn: Connection) -> ProtocolResult:
        return ProtocolResult(True, "TCP handshake completed")
