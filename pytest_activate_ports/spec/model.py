"""The validated spec: frozen data the rest of the plugin can trust without re-checking."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Mapping, Union

from ..results import TlsConfig as TlsConfig  # the prober reads it too, so it lives with the shared vocabulary

if TYPE_CHECKING:
    from ..prober.probes.base import Probe
    from .condition import Condition
    from .features import FeatureType

FeatureValue = Union[bool, int, float, str]


class Expect(str, enum.Enum):
    """What the rule demands of the port from this vantage."""

    REQUIRED = "required"
    OPTIONAL = "optional"
    FORBIDDEN = "forbidden"


class ClosedState(str, enum.Enum):
    """How a forbidden port must be closed."""

    ANY = "any"
    FILTERED = "filtered"
    REFUSED = "refused"


@dataclass(frozen=True)
class Location:
    """Where something was written, for messages that point back into the spec."""

    path: Path
    line: int
    col: int

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.col}"


@dataclass(frozen=True)
class Host:
    """A machine (or load balancer) the spec checks."""

    name: str
    address: str
    roles: tuple[str, ...]
    port_map: Mapping[int, int] = field(default_factory=dict)  # spec port -> port actually dialled
    location: Location | None = field(default=None, compare=False)  # where the spec names the host

    def dial_port(self, port: int) -> int:
        """The port to connect to for a rule's ``port`` (port-forwards, unprivileged emulation)."""
        return self.port_map.get(port, port)


def bare_address(address: str) -> str:
    """An address as it is dialled: surrounding space and URL brackets dropped (``[::1]`` -> ``::1``)."""
    address = address.strip()
    return address[1:-1] if address.startswith("[") and address.endswith("]") else address


@dataclass(frozen=True)
class Excepted:
    """Ports of a range that its rule leaves unchecked (``except:``), while ``when`` holds."""

    first: int
    last: int  # equal to first for one port
    when: Condition | None = None

    def __str__(self) -> str:
        return str(self.first) if self.first == self.last else f"{self.first}-{self.last}"


@dataclass(frozen=True)
class PortRange:
    """An inclusive port range, how many of its ports to sample, and the ports it excepts."""

    first: int
    last: int
    sample: int | None  # None: every port
    excepted: tuple[Excepted, ...] = ()  # in port order, disjoint, inside the range

    def __str__(self) -> str:
        return f"{self.first}-{self.last}"

    def exceptions(self, features: Mapping[str, FeatureValue]) -> tuple[Excepted, ...]:
        """The exceptions in force with these feature values."""
        return tuple(e for e in self.excepted if e.when is None or e.when.holds(features))


@dataclass(frozen=True)
class Rule:
    """One line of the port contract: from where, to what, which ports, what to expect."""

    id: str
    sources: tuple[str, ...]
    targets: tuple[str, ...]  # host names, roles already expanded
    ports: tuple[int, ...]  # empty for a range rule
    port_range: PortRange | None
    expect: Expect
    closed_state: ClosedState
    probe: Probe
    when: Condition | None
    reason: str
    location: Location


@dataclass(frozen=True)
class Spec:
    """A whole validated spec file."""

    path: Path
    name: str
    sha256: str
    hosts: Mapping[str, Host]
    roles: Mapping[str, str]  # every known role -> description ("" when undocumented)
    features: Mapping[str, FeatureValue]
    tls: TlsConfig
    rules: tuple[Rule, ...]
    secrets: frozenset[str] = frozenset()  # expanded values to redact from any output
    feature_types: Mapping[str, FeatureType] = field(default_factory=dict)  # what --activate-feature values must be

    def vantages(self) -> tuple[str, ...]:
        """Roles that some rule runs from, in first-use order."""
        seen: dict[str, None] = {}
        for rule in self.rules:
            for source in rule.sources:
                seen.setdefault(source, None)
        return tuple(seen)
