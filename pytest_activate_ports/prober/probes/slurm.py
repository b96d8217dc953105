"""``slurmctld`` and ``slurmdbd``: the port is open and behaves like a Slurm daemon waiting for a request.

Slurm's RPC protocol is undocumented outside its source, versioned per
release, and every message must carry a munge credential from the cluster's
shared key, so no honest handshake is possible from an outside vantage. What
is observable: a Slurm daemon accepts the connection and then says nothing
until the client sends an RPC. The probe therefore passes on a connection
that stays open and silent for a short while, and fails when the server
speaks first (an SSH or MySQL banner on 6817 is a misrouted port) or hangs up.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, ClassVar

from .base import Probe, ProtocolResult
from .connection import Connection
from .registry import register
from .wire import seen

if TYPE_CHECKING:
    from .material import TlsMaterial
    from .options import ProbeOptions

DEFAULT_QUIET_MS = 300


def unsolicited(daemon: str, data: bytes) -> str:
    """Why bytes (or a hang-up, ``b""``) arriving before any request rule out a Slurm daemon."""
    if not data:
        return f"not a {daemon}: the server closed the connection before any request (a Slurm daemon waits for one)"
    return f"not a {daemon}: the server spoke first, which Slurm never does: {seen(data)}"


class SlurmProbe(Probe):
    """TCP open, then silence for ``quiet_ms``: the only part of Slurm's protocol checkable without munge."""

    daemon: ClassVar[str]

    def __init__(self, quiet_ms: int = DEFAULT_QUIET_MS) -> None:
        self.quiet_ms = quiet_ms

    @classmethod
    def from_options(cls, options: ProbeOptions, tls: TlsMaterial) -> SlurmProbe:
        return cls(options.integer("quiet_ms", DEFAULT_QUIET_MS, 0, 10_000))

    async def check(self, conn: Connection) -> ProtocolResult:
        # Never wait so long that the engine's timeout fires first and hides what was seen.
        wait = min(self.quiet_ms / 1000, conn.target.timeout / 2)
        try:
            data = await asyncio.wait_for(conn.reader.read(256), wait)
        except asyncio.TimeoutError:
            return ProtocolResult(True, f"TCP open and silent for {wait * 1000:.0f} ms, as a {self.daemon} awaiting an RPC is",
                                  facts={"quiet_ms": f"{wait * 1000:.0f}"})
        return ProtocolResult(False, unsolicited(self.daemon, data))


@register
class SlurmctldProbe(SlurmProbe):
    """The Slurm controller (default port 6817)."""

    kind = "slurmctld"
    daemon = "slurmctld"


@register
class SlurmdbdProbe(SlurmProbe):
    """The Slurm accounting database daemon (default port 6819)."""

    kind = "slurmdbd"
    daemon = "slurmdbd"
