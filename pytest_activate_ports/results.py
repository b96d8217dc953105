"""The words both halves share: a job goes down to the prober, attempts come back up.

The prober (reactor, resolver, dialer, protocol probes) and the pytest side
(spec, plan, items, verdicts, evidence) meet only here, so this module imports
nothing but the standard library. A *job* is one check's work: a host, its
ports and the probe to speak; an *attempt* is what one connection to one
address on one port observed; a *protocol answer* is what a probe concluded
on an open port; a check's *outcome* is its attempts plus whether the host
answered anything at all in the run (the liveness a forbidden port needs).
A range job's attempts are summed up where they are made (a
:class:`RangeSummary`): counts per state, the ports of each state as runs
(:class:`PortSet`), and every port that broke the rule as an :class:`Offence`.
"""

from __future__ import annotations

import bisect
import enum
import functools
import re
from array import array
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Collection, Iterable, Iterator, Mapping

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
    ports: Collection[int]  # the rule's ports (a PortSet once it crossed a channel)
    port_map: Mapping[int, int]  # rule port -> port dialled, where they differ
    probe: Probe
    offends: frozenset[PortState] | None = None  # a range: the states that break its rule (attempts summed up)

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


class PortSet:
    """Ports as sorted runs, written ``8192-8300,8302-60000``: how a range's ports travel and are kept.

    Four bytes a run whatever its length, so ``1024-65535`` costs what ``443``
    does. Built from ports in any order (:meth:`of`), from its text
    (:meth:`parse`) or from runs; ``a | b`` is the union.
    """

    __slots__ = ("_bounds", "_len")

    def __init__(self, runs: Iterable[tuple[int, int]] = ()) -> None:
        """``runs``: (first, last) pairs sorted by first; overlapping and adjacent runs are joined."""
        bounds = array("H")
        for first, last in runs:
            if bounds and first <= bounds[-1] + 1:
                bounds[-1] = max(bounds[-1], last)
            else:
                bounds.extend((first, last))
        self._bounds = bounds
        self._len = sum(bounds[1::2]) - sum(bounds[0::2]) + len(bounds) // 2

    @classmethod
    def of(cls, ports: Iterable[int]) -> PortSet:
        """The set of ``ports``, in any order, repeats allowed."""
        return cls((port, port) for port in sorted(set(ports)))

    @classmethod
    def parse(cls, text: str) -> PortSet:
        """The set :func:`str` wrote (``""`` is the empty set).

        Raises:
            ValueError: not a list of ports and ``first-last`` runs in order.
        """
        runs = []
        for part in text.split(",") if text else ():
            first, _, last = part.partition("-")
            runs.append((int(first), int(last or first)))
        if any(not 0 <= a <= b <= 65535 for a, b in runs) or runs != sorted(runs):
            raise ValueError(f"not a sorted list of ports and port runs: {text[:80]!r}")
        return cls(runs)

    def runs(self) -> Iterator[tuple[int, int]]:
        """The (first, last) runs in port order."""
        bounds = self._bounds
        return zip(bounds[0::2], bounds[1::2])

    def __iter__(self) -> Iterator[int]:
        for first, last in self.runs():
            yield from range(first, last + 1)

    def __len__(self) -> int:
        return self._len

    def __contains__(self, port: object) -> bool:
        if not isinstance(port, int):
            return False
        index = bisect.bisect_right(self._bounds, port)
        return index % 2 == 1 or (index > 0 and self._bounds[index - 1] == port)

    def __or__(self, other: PortSet) -> PortSet:
        return PortSet.union((self, other))

    @staticmethod
    def union(sets: Iterable[PortSet]) -> PortSet:
        """Every port of any of ``sets``."""
        return PortSet(sorted(run for ports in sets for run in ports.runs()))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PortSet) and self._bounds == other._bounds

    def __hash__(self) -> int:
        return hash(self._bounds.tobytes())

    def __str__(self) -> str:
        return ",".join(str(first) if first == last else f"{first}-{last}" for first, last in self.runs())

    def __repr__(self) -> str:
        return f"PortSet({str(self)!r})"


def port_set(ports: Collection[int]) -> PortSet:
    """``ports`` as a :class:`PortSet`; the tuple a rule gives all its hosts is converted once."""
    return ports if isinstance(ports, PortSet) else _port_set(tuple(ports))


@functools.lru_cache(maxsize=64)
def _port_set(ports: tuple[int, ...]) -> PortSet:
    return PortSet.of(ports)


@dataclass(frozen=True, slots=True)
class Offence(ProbeResult):
    """The ports of a range that broke its rule the same way (state, errno, detail, address), as one attempt.

    Every such port is in ``ports``, never sampled away; the other fields are
    those of the first such attempt made, except ``elapsed``: the slowest.
    """

    ports: PortSet = field(kw_only=True)

    @classmethod
    def of(cls, attempt: ProbeResult, ports: PortSet, elapsed: float) -> Offence:
        """``attempt`` standing for every port of ``ports``, ``elapsed`` the slowest of theirs."""
        return cls(attempt.port, attempt.dialled, attempt.state, attempt.detail, elapsed, attempt.errno,
                   attempt.address, attempt.source, attempt.protocol, ports=ports)


class RangeSummary(tuple[Offence, ...]):
    """A range job's attempts, summed up where they were made: a tuple of its offences, with counts and ports per state.

    It is a tuple of attempts like any job's results, so what reads a check's
    attempts (the outcome store, the ``activate_result`` fixture) reads a
    range's too, without 64k objects: the ports that kept the rule are only
    counted and kept as runs. Summaries of parts of one range :meth:`merge`.
    """

    counts: Mapping[PortState, int]  # attempts per state (a port with two addresses counts twice)
    ports: Mapping[PortState, PortSet]  # the ports seen in each state
    elapsed: float  # the slowest attempt
    addresses: tuple[str, ...]  # the addresses dialled, in the order first dialled

    def __new__(cls, offences: Iterable[Offence], counts: Mapping[PortState, int], ports: Mapping[PortState, PortSet],
                elapsed: float, addresses: Iterable[str] = ()) -> RangeSummary:
        summary = super().__new__(cls, sorted(offences, key=lambda o: (o.port, o.state.value, o.detail)))
        summary.counts, summary.ports, summary.elapsed = counts, ports, elapsed
        summary.addresses = tuple(addresses)
        return summary

    @property
    def attempts(self) -> int:
        return sum(self.counts.values())

    @property
    def answered(self) -> bool:
        """True when some port accepted or reset a connection."""
        return any(state.answered for state in self.counts)

    @property
    def offending(self) -> PortSet:
        """Every port that broke the rule."""
        return PortSet.union(offence.ports for offence in self)

    @classmethod
    def merge(cls, parts: Iterable[RangeSummary]) -> RangeSummary:
        """One summary of several parts of a range (say, dialled by several probers)."""
        counts: dict[PortState, int] = {}
        ports: dict[PortState, PortSet] = {}
        offences: dict[tuple[PortState, int | None, str, str | None], Offence] = {}
        elapsed = 0.0
        addresses: dict[str, None] = {}
        for part in parts:
            addresses.update(dict.fromkeys(part.addresses))
            for state, count in part.counts.items():
                counts[state] = counts.get(state, 0) + count
                ports[state] = ports[state] | part.ports[state] if state in ports else part.ports[state]
            for offence in part:
                key = (offence.state, offence.errno, offence.detail, offence.address)
                seen = offences.get(key)
                offences[key] = offence if seen is None else Offence.of(min(seen, offence, key=lambda o: o.port),
                                                                     seen.ports | offence.ports,
                                                                     max(seen.elapsed, offence.elapsed))
            elapsed = max(elapsed, part.elapsed)
        return cls(offences.values(), counts, ports, elapsed, addresses)


_BITS = [format(byte, "08b")[::-1] for byte in range(256)]  # the ports a bitmap byte holds, lowest first


def _from_bits(bits: bytearray) -> PortSet:
    text = "".join(map(_BITS.__getitem__, bits))
    return PortSet((run.start(), run.end() - 1) for run in re.finditer("1+", text))


class RangeTally:
    """A range job's attempts summed up as they arrive: a bitmap of ports per state (8 KiB each), counts, offences.

    What it holds is bounded by the port space, not by the number of
    attempts: a sweep of 64k ports keeps a few bitmaps, and every offending
    attempt is folded into the :class:`Offence` of its kind. An attempt
    offends when its state is in ``offends`` or its port is open and the
    probe's protocol check did not pass.
    """

    __slots__ = ("offends", "_counts", "_bits", "_offences", "_elapsed", "_addresses")

    def __init__(self, offends: frozenset[PortState]) -> None:
        self.offends = offends
        self._counts: dict[PortState, int] = {}
        self._bits: dict[PortState, bytearray] = {}
        self._offences: dict[tuple[PortState, int | None, str, str | None], tuple[ProbeResult, bytearray, list[float]]] = {}
        self._elapsed = 0.0
        self._addresses: dict[str, None] = {}

    def add(self, result: ProbeResult) -> None:
        state, port = result.state, result.port
        self._counts[state] = self._counts.get(state, 0) + 1
        bits = self._bits.get(state)
        if bits is None:
            bits = self._bits[state] = bytearray(8192)
        bits[port >> 3] |= 1 << (port & 7)
        if result.elapsed > self._elapsed:
            self._elapsed = result.elapsed
        if result.address is not None and result.address not in self._addresses:
            self._addresses[result.address] = None
        if state in self.offends or (result.protocol is not None and not result.protocol.passed):
            key = (state, result.errno, result.detail, result.address)
            seen = self._offences.get(key)
            if seen is None:
                seen = self._offences[key] = (result, bytearray(8192), [0.0])
            seen[1][port >> 3] |= 1 << (port & 7)
            seen[2][0] = max(seen[2][0], result.elapsed)

    def summary(self) -> RangeSummary:
        offences = [Offence.of(first, _from_bits(bits), slowest[0]) for first, bits, slowest in self._offences.values()]
        return RangeSummary(offences, dict(self._counts), {state: _from_bits(bits) for state, bits in self._bits.items()},
                            self._elapsed, self._addresses)


def summarize(attempts: Iterable[ProbeResult], offends: frozenset[PortState]) -> RangeSummary:
    """The summary of a range's ``attempts`` (as the prober makes it while they arrive)."""
    tally = RangeTally(offends)
    for attempt in attempts:
        tally.add(attempt)
    return tally.summary()
