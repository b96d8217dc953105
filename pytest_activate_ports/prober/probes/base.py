"""What every probe shares: the probe interface and its read bound (results are :mod:`..results`).

The engine owns the TCP connect (so port states are classified in one place);
a protocol probe receives the already-open connection and only answers the
question "does this port speak my protocol?". Probes never raise: an error in
protocol logic is a failed :class:`ProtocolResult`, and anything unexpected is
turned into an ``error`` state by the engine.
"""

from __future__ import annotations

import abc
from typing import TYPE_CHECKING, ClassVar

from ...results import PortState, ProbeResult, ProtocolResult, SubCheck, Target
from ..transport import Wire

__all__ = ["MAX_READ", "PeerError", "PortState", "Probe", "ProbeResult", "ProtocolResult", "SubCheck", "Target"]

if TYPE_CHECKING:
    from .material import TlsMaterial
    from .connection import Connection
    from .options import ProbeOptions


class PeerError(ValueError):
    """The peer sent bytes that are not the protocol the probe speaks (or not well-formed in it).

    Every parser's error derives from it, so that whatever a probe does not
    catch itself still becomes a failed check (the port does not speak the
    protocol), never a crash of the probe.
    """


MAX_READ = 64 * 1024
"""Upper bound for any single read a probe makes: a hostile server cannot make us buffer more."""


class Probe(abc.ABC):
    """A protocol check; subclasses register themselves under ``kind``."""

    kind: ClassVar[str]
    talks: ClassVar[bool] = True
    """False for probes the TCP handshake alone satisfies: the engine then skips building streams."""
    tls_material: ClassVar[frozenset[str]] = frozenset()
    """Which parts of the spec's ``tls:`` the kind uses (fields of :class:`.material.TlsMaterial`): only
    those are read and carried to the prober with its jobs."""
    config: Wire = None
    """The plain configuration the registry built it from (kind, options, TLS material, the files the options
    name, as contents): a prober process rebuilds the probe from it, since only plain data crosses a channel."""

    @classmethod
    def from_options(cls, options: ProbeOptions, tls: TlsMaterial) -> Probe:
        """Build the probe from its spec options, raising ``OptionError`` on bad input.

        The default serves probes that take no options: any option given is
        then rejected by the registry as unknown.
        """
        return cls()

    @abc.abstractmethod
    async def check(self, conn: Connection) -> ProtocolResult:
        """Speak the protocol on ``conn`` and say whether the port passes."""
