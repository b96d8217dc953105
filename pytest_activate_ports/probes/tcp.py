"""``tcp``: the port accepts a TCP connection; nothing more is asked of it."""

from __future__ import annotations

from .base import Connection, Probe, ProtocolResult
from .registry import register


@register
class TcpProbe(Probe):
    """Passes on a completed TCP handshake; used for ports with no protocol to check."""

    kind = "tcp"
    summary = "TCP handshake completes"
    talks = False

    async def check(self, conn: Connection) -> ProtocolResult:
        return ProtocolResult(True, "TCP handshake completed")
