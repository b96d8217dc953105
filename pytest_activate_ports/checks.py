"""From a spec and a vantage role to the list of checks: one per (rule, host, port).

A check is the unit that becomes a pytest item; a range rule is one check per
host whose ports are the range's deterministic sample.
"""

from __future__ import annotations

import bisect
import itertools
import random
from dataclasses import dataclass
from typing import Collection, Mapping

from .spec.model import Expect, FeatureValue, Host, Location, PortRange, Rule, Spec


@dataclass(frozen=True, eq=False, slots=True)
class Check:
    """One test item's worth of work: a rule applied to a host on one port (or a range)."""

    rule: Rule
    host: Host
    ports: tuple[int, ...]
    label: str  # "443" or "8192-60000": the port part of the node id
    skip_reason: str | None = None  # set when the rule's ``when`` is false
    role: str | None = None  # the vantage role it is probed from

    @property
    def name(self) -> str:
        """The item name: ``rule-id[host:port]``."""
        return f"{self.rule.id}[{self.host.name}:{self.label}]"


@dataclass(frozen=True)
class Note:
    """A finding that does not stop the run: the spec loads, but likely says something its author did not mean."""

    location: Location
    message: str

    def __str__(self) -> str:
        return f"{self.location}: {self.message}"


@dataclass(frozen=True)
class Plan:
    """The checks a spec yields from one vantage, with what was left out and why."""

    checks: tuple[Check, ...]
    other_roles: int  # rules that run from other vantages, not collected
    without_hosts: tuple[str, ...]  # rule ids whose targets matched no host
    conflicts: tuple[Note, ...] = ()  # a port both required and forbidden from one vantage

    @property
    def not_applicable(self) -> int:
        """Checks switched off by a ``when`` condition."""
        return sum(1 for check in self.checks if check.skip_reason)


def port_labels(rule: Rule) -> list[str]:
    """The port parts of the node ids a rule yields per host: ``443`` or ``8192-60000``."""
    return [str(rule.port_range)] if rule.port_range is not None else [str(port) for port in rule.ports]


def sample_ports(port_range: PortRange, features: Mapping[str, FeatureValue]) -> tuple[int, ...]:
    """Boundaries plus a reproducible spread of the range (``sample: None`` means all), never an excepted port.

    The seed is the range itself, so every run and every host probes the same
    ports and results stay comparable across vantages and days. The sample is
    drawn by position among the ports the exceptions in force leave: an excepted
    boundary gives way to the nearest port that is checked, and a range without
    exceptions samples exactly the ports it always did.
    """
    spans: list[range] = []
    start = port_range.first
    for excepted in port_range.exceptions(features):
        spans.append(range(start, excepted.first))
        start = excepted.last + 1
    spans.append(range(start, port_range.last + 1))
    ends = list(itertools.accumulate(len(span) for span in spans))
    if port_range.sample is None or port_range.sample >= ends[-1]:
        return tuple(itertools.chain.from_iterable(spans))

    def at(position: int) -> int:
        index = bisect.bisect_right(ends, position)
        return spans[index][position - (ends[index - 1] if index else 0)]

    inner = random.Random(str(port_range)).sample(range(1, ends[-1] - 1), port_range.sample - 2)
    return (at(0), *(at(position) for position in sorted(inner)), at(ends[-1] - 1))


def _not_applicable(rule: Rule, features: Mapping[str, FeatureValue]) -> str | None:
    if rule.when is None or rule.when.holds(features):
        return None
    values = ", ".join(f"{name}={features[name]}" for name in sorted(rule.when.names()))
    because = f": {rule.reason}" if rule.reason else ""
    return f"not applicable: when '{rule.when.text}' is false ({values}){because}"


def plan(spec: Spec, roles: str | Collection[str]) -> Plan:
    """All checks ``spec`` asks of the vantage(s) ``roles``, one per (rule, host, port) and vantage.

    A rule that runs from several of ``roles`` is checked from each, and its
    node ids name the vantage: ``rule[host:443@agent]``.
    """
    roles = (roles,) if isinstance(roles, str) else roles
    checks: list[Check] = []
    other = 0
    empty: list[str] = []
    for rule in spec.rules:
        sources = [role for role in rule.sources if role in roles]
        if not sources:
            other += 1
            continue
        if not rule.targets:
            empty.append(rule.id)
            continue
        skip = _not_applicable(rule, spec.features)
        # Every host of a rule probes the same ports: one tuple and label per port, not per check.
        labels = port_labels(rule)
        if rule.port_range is not None:
            ports = [(sample_ports(rule.port_range, spec.features), labels[0])]
        else:
            ports = [((port,), label) for port, label in zip(rule.ports, labels)]
        for source in sources:
            suffix = f"@{source}" if len(sources) > 1 else ""
            for host_name in rule.targets:
                host = spec.hosts[host_name]
                checks.extend(Check(rule, host, sampled, label + suffix, skip, source) for sampled, label in ports)
    return Plan(tuple(checks), other, tuple(empty), conflicts(checks))


def conflicts(checks: list[Check]) -> tuple[Note, ...]:
    """Pairs of applicable rules of which one requires a host's port open and the other forbids it, from one vantage.

    Both cannot pass, so one of them is wrong. Ranges are left out: a required range
    only demands an answer, which a refused (forbidden) port gives.
    """
    required: dict[tuple[str, int, str | None], Rule] = {}
    found: dict[tuple[str, str, str], tuple[Rule, Rule, list[str]]] = {}
    for check in checks:
        if check.skip_reason is None and check.rule.port_range is None and check.rule.expect is Expect.REQUIRED:
            required.setdefault((check.host.name, check.ports[0], check.role), check.rule)
    for check in checks:
        if check.skip_reason is None and check.rule.port_range is None and check.rule.expect is Expect.FORBIDDEN:
            needs = required.get((check.host.name, check.ports[0], check.role))
            if needs is not None:
                pair = found.setdefault((needs.id, check.rule.id, check.role or "-"), (needs, check.rule, []))
                pair[2].append(f"{check.host.name}:{check.ports[0]}")
    return tuple(Note(forbids.location, f"rule {forbids.id!r} forbids {', '.join(targets)} from {source}, which rule "
                                        f"{needs.id!r} ({needs.location}) requires open; both cannot pass, so one of them is wrong")
                 for (_, _, source), (needs, forbids, targets) in found.items())


def unchecked_hosts(spec: Spec) -> tuple[Note, ...]:
    """The hosts that no rule checks, from any vantage (a forgotten ``roles:``, a missing rule)."""
    targeted = {name for rule in spec.rules for name in rule.targets}
    return tuple(Note(host.location or Location(spec.path, 1, 1), f"host {host.name!r} is checked by no rule: "
                      + (f"no rule names it or its roles ({', '.join(host.roles)}) in to:" if host.roles
                         else "it has no roles and no rule names it in to:"))
                 for host in spec.hosts.values() if host.name not in targeted)
