"""``tcp``: the port accepts a TCP connection; nothing more is asked of it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .base import Probe, ProtocolResult
from .registry import register

if TYPE_CHECKING:
    from .connection import Connection


@register
class TcpProbe(Probe):
    """Passes on a completed TCP handshake; used for ports with no protocol to check."""

    kind = "tcp"
    talks = False

    async def check(self, conn: Connection) -> ProtocolResult:
        return ProtocolResult(True, "TCP handshake completed")
