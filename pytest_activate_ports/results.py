"""The words both halves share: a job goes down to the prober, attempts come back up.

The prober (reactor, resolver, dialer, protocol probes) and the pytest side
(spec, plan, items, verdicts, evidence) meet only here, so this module imports
nothing but the standard library. A *job* is one check's work: a host, its
ports and the probe to speak; an *attempt* is what one connection to one
address on one port observed; a *protocol answer* is what a probe concluded
on an open port; a check's *outcome* is its attempts plus whether the host
answered anything at all in the run (the liveness a forbidden port needs).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Mapping

if TYPE_CHECKING:
    from .prober.probes.base import Probe


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
    unproven: bool = False  # the answer neither proves nor disproves the protocol: skipped, never passed


@dataclass(frozen=True, slots=True)
class ProbeResult:
    """One attempt: everything observed for one port on one address, the audit record behind a verdict.

    ``port`` is the rule's port; ``dialled`` the port actually connected to
    (they differ under a host's ``port_map``), recorded where it was dialled so
    that nothing downstream works it out from the spec again.
    """

    port: int
    dialled: int
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


@dataclass(frozen=True, repr=False)
class TlsConfig:
    """Trust anchors and the client identity for TLS probes (paths already resolved).

    ``repr`` names the files only: key material is never read into this object.
    """

    ca: Path | None = None
    server_ca: Path | None = None
    client_cert: Path | None = None
    client_key: Path | None = None
    min_version: str | None = None
    expiry_warn_days: int = 14

    def __repr__(self) -> str:
        shown = ", ".join(f"{k}={v}" for k, v in vars(self).items() if v is not None)
        return f"TlsConfig({shown})"


HostKey = tuple[str, str]  # (host name, address): the unit of per-host limits and liveness


@dataclass(frozen=True, eq=False, slots=True)
class Job:
    """One check's work for the prober: which host, which ports, which probe; ``key`` names it in the answer."""

    key: int
    host: str
    address: str  # a name to resolve or an IP literal, as the spec gives it
    ports: tuple[int, ...]  # the rule's ports
    port_map: Mapping[int, int]  # rule port -> port dialled, where they differ
    probe: Probe

    @property
    def host_key(self) -> HostKey:
        """Which host this job loads and proves alive (names may repeat across specs, so the address too)."""
        return self.host, self.address

    def dial_port(self, port: int) -> int:
        """The port to connect to for the rule's ``port``."""
        return self.port_map.get(port, port)


@dataclass(frozen=True, slots=True)
class CheckOutcome:
    """What the prober observed for one job: its attempts, and whether its host answered anything in the run."""

    results: tuple[ProbeResult, ...]
    host_alive: bool  # some port on this host accepted or reset a connection in this run
