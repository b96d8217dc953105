"""What every probe shares: the target, the connection it is handed, and its result.

The engine owns the TCP connect (so port states are classified in one place);
a protocol probe receives the already-open connection and only answers the
question "does this port speak my protocol?". Probes never raise: an error in
protocol logic is a failed :class:`ProtocolResult`, and anything unexpected is
turned into an ``error`` state by the engine.
"""

from __future__ import annotations

import abc
import enum
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar, Mapping

if TYPE_CHECKING:
    from ..spec.model import TlsConfig
    from .connection import Connection
    from .options import ProbeOptions


class PortState(str, enum.Enum):
    """What a TCP connect attempt observed."""

    OPEN = "open"
    REFUSED = "refused"  # RST: host alive, nothing listening (or a REJECT rule)
    FILTERED = "filtered"  # no answer within the timeout (a DROP rule, or a dead host)
    UNREACHABLE = "unreachable"  # ICMP unreachable / no route
    UNRESOLVABLE = "unresolvable"  # the name does not resolve
    ERROR = "error"  # the probe itself broke; never a verdict about the port

    @property
    def answered(self) -> bool:
        """True when the host proved it is alive (accepted or reset)."""
        return self in (PortState.OPEN, PortState.REFUSED)


@dataclass(frozen=True, slots=True)
class SubCheck:
    """One named condition inside a protocol check (mTLS has five)."""

    name: str
    passed: bool | None  # None: could not be verified (never counts as a pass)
    detail: str


@dataclass(frozen=True, slots=True)
class ProtocolResult:
    """A probe's answer to "does this open port speak my protocol?"."""

    passed: bool
    detail: str
    checks: tuple[SubCheck, ...] = ()
    facts: Mapping[str, str] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ProbeResult:
    """Everything observed for one port: the audit record behind a verdict."""

    port: int
    state: PortState
    detail: str
    elapsed: float
    errno: int | None = None
    address: str | None = None
    source: str | None = None
    protocol: ProtocolResult | None = None


@dataclass(frozen=True, slots=True)
class Target:
    """Where a probe points.

    ``name`` is the address as written in the spec (used for SNI, the HTTP
    ``Host`` header and redirect checks); ``address`` is what it resolved to.
    ``port`` is the port actually dialled (after a host's ``port_map``);
    ``spec_port`` is the port the rule talks about.
    """

    host: str
    name: str
    address: str
    port: int
    spec_port: int
    timeout: float


MAX_READ = 64 * 1024
"""Upper bound for any single read a probe makes: a hostile server cannot make us buffer more."""


class Probe(abc.ABC):
    """A protocol check; subclasses register themselves under ``kind``."""

    kind: ClassVar[str]
    talks: ClassVar[bool] = True
    """False for probes the TCP handshake alone satisfies: the engine then skips building streams."""

    @classmethod
    def from_options(cls, options: ProbeOptions, tls: TlsConfig) -> Probe:
        """Build the probe from its spec options, raising ``OptionError`` on bad input.

        The default serves probes that take no options: any option given is
        then rejected by the registry as unknown.
        """
        return cls()

    @abc.abstractmethod
    async def check(self, conn: Connection) -> ProtocolResult:
        """Speak the protocol on ``conn`` and say whether the port passes."""
