"""Turn a located YAML tree into a :class:`Spec`, or fail at the first problem with its place."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Collection, Mapping

from ..prober.probes import registry
from ..prober.probes.base import Probe
from ..prober.probes.options import OptionError
from ..suggest import did_you_mean, one_of
from ..untrusted import untrusted_client
from . import fields
from .condition import Condition, ConditionError, parse
from .features import FeatureType, FeatureValueError, typed_value
from .model import ClosedState, Excepted, Expect, FeatureValue, Host, Location, PortRange, Rule, TlsConfig, bare_address
from .nodes import Node

TOP_KEYS = ("version", "name", "profile", "roles", "features", "hosts", "tls", "rules")
HOST_KEYS = ("address", "roles", "port_map")
TLS_KEYS = ("ca", "server_ca", "client_cert", "client_key", "min_version", "expiry_warn_days")
RULE_KEYS = ("id", "from", "to", "port", "ports", "range", "sample", "except", "expect", "state", "probe", "when", "reason")
EXCEPT_KEYS = ("port", "range", "when")
TLS_VERSIONS = ("TLS1.0", "TLS1.1", "TLS1.2", "TLS1.3")
BUILTIN_ROLES = {"internet": "anywhere outside the deployment's networks"}
DEFAULT_SAMPLE = 16
_RANGE = re.compile(r"\s*(\d+)\s*[-\u2013]\s*(\d+)\s*")


def port(node: Node, what: str = "port") -> int:
    """A TCP port number."""
    return fields.integer(node, what, 1, 65535)


def span(node: Node, what: str = "range") -> tuple[int, int]:
    """An inclusive port range written ``8192-60000``, as (first, last)."""
    match = _RANGE.fullmatch(node.value) if isinstance(node.value, str) else None
    if not match:
        raise node.error(f"{what} must look like 8192-60000, not {node.value!r}")
    first, last = int(match.group(1)), int(match.group(2))
    if not (1 <= first < last <= 65535):
        raise node.error(f"{what} {first}-{last} must satisfy 1 <= first < last <= 65535")
    return first, last


def roles(node: Node | None) -> dict[str, str]:
    """``roles:`` as a list of names or a mapping of name to description."""
    if node is None:
        return {}
    if isinstance(node.value, dict):
        return {fields.name(fields.key(key, child), "role"): fields.text(child, f"description of role {key!r}")
                for key, child in node.value.items()}
    return {role: "" for role, _ in fields.names(node, "roles")}


def features(node: Node | None, types: Mapping[str, FeatureType] | None = None) -> dict[str, FeatureValue]:
    """``features:`` name -> scalar value, checked against the features' ``types`` when known."""
    out: dict[str, FeatureValue] = {}
    for key, child in (fields.entries(node, "features") if node else {}).items():
        fields.name(fields.key(key, child), "feature name")
        if not isinstance(child.value, (bool, int, float, str)):
            raise child.error(f"feature {key!r} must be true/false, a number or a string")
        try:
            out[key] = typed_value(key, child.value, (types or {}).get(key))
        except FeatureValueError as exc:
            raise child.error(str(exc)) from None
    return out


def hosts(node: Node | None) -> dict[str, Host]:
    """``hosts:`` name -> {address, roles, port_map}."""
    out: dict[str, Host] = {}
    for key, child in (fields.entries(node, "hosts") if node else {}).items():
        fields.name(fields.key(key, child), "host name")
        body = fields.mapping(child, f"host {key!r}", HOST_KEYS, required=("address",))
        address = bare_address(fields.text(body["address"], f"address of host {key!r}"))
        port_map: dict[int, int] = {}
        for spec_port, dialled in (fields.entries(body["port_map"], "port_map") if "port_map" in body else {}).items():
            number = int(spec_port) if spec_port.isascii() and spec_port.isdigit() else spec_port
            port_map[port(fields.key(number, dialled), "port_map key")] = port(dialled, "port_map value")
        host_roles = tuple(r for r, _ in fields.names(body["roles"], f"roles of host {key!r}")) if "roles" in body else ()
        out[key] = Host(key, address, host_roles, port_map, Location(child.path, child.key_line, child.key_col))
    return out


def host_roles_known(node: Node | None, known: Collection[str]) -> None:
    """Every role of a host is one the profile, the spec's ``roles:`` or some rule names.

    Only with a profile: it fixes the vocabulary, and a typo there (``control-plan``)
    would otherwise leave the host matched by no rule, silently.
    """
    for key, child in (fields.entries(node, "hosts") if node else {}).items():
        body = fields.entries(child, f"host {key!r}")
        for role, item in fields.names(body["roles"], f"roles of host {key!r}") if "roles" in body else ():
            if role not in known:
                raise item.error(f"unknown role {role!r} of host {key!r}{did_you_mean(role, known)}: neither the profile nor a rule "
                                 f"names it; a role of your own is declared at the top level: roles: [{role}]")


def tls(node: Node | None, base: Path) -> TlsConfig:
    """``tls:`` with paths resolved against the spec's folder and checked to exist."""
    if node is None:
        return TlsConfig()
    body = fields.mapping(node, "tls", TLS_KEYS)
    paths: dict[str, Path | None] = {}
    for key in ("ca", "server_ca", "client_cert", "client_key"):
        if key in body:
            path = base / fields.text(body[key], f"tls.{key}")
            if not path.is_file():
                raise body[key].error(f"tls.{key}: no such file {path}")
            paths[key] = path
    if ("client_cert" in paths) != ("client_key" in paths):
        raise node.error("tls.client_cert and tls.client_key must be given together")
    min_version = None
    if "min_version" in body:
        min_version = fields.text(body["min_version"], "tls.min_version")
        if min_version not in TLS_VERSIONS:
            raise body["min_version"].error(f"tls.min_version must be {one_of(TLS_VERSIONS)}, not {min_version!r}")
    warn = fields.integer(body["expiry_warn_days"], "tls.expiry_warn_days", 0, 3650) if "expiry_warn_days" in body else 14
    return TlsConfig(paths.get("ca"), paths.get("server_ca"), paths.get("client_cert"), paths.get("client_key"), min_version, warn)


class RuleBuilder:
    """Validates rules against the spec's hosts, roles and features."""

    def __init__(self, hosts: Mapping[str, Host], roles: Mapping[str, str], features: Mapping[str, FeatureValue], tls: TlsConfig) -> None:
        self.hosts, self.roles, self.features, self.tls = hosts, roles, features, tls
        self.seen: dict[str, Node] = {}
        self.named: set[str] = set()  # every name a rule's from: or to: gives

    def build(self, node: Node) -> Rule:
        body = fields.mapping(node, "rule", RULE_KEYS, required=("id", "from", "to", "expect"))
        rule_id = fields.name(body["id"], "rule id")
        if rule_id in self.seen:
            first = self.seen[rule_id]
            raise body["id"].error(f"duplicate rule id {rule_id!r} (first defined at line {first.line})")
        self.seen[rule_id] = body["id"]
        sources = tuple(self.role(n, item) for n, item in fields.names(body["from"], "from"))
        self.named.update(sources)
        targets = self.targets(body["to"])
        expect_text = fields.text(body["expect"], "expect")
        if expect_text not in Expect._value2member_map_:
            raise body["expect"].error(f"expect must be {one_of(e.value for e in Expect)}, not {expect_text!r}{did_you_mean(expect_text, [e.value for e in Expect])}")
        expect = Expect(expect_text)
        ports, port_range = self.ports(node, body)
        closed = ClosedState.ANY
        if "state" in body:
            if expect is not Expect.FORBIDDEN:
                raise body["state"].error("'state' only applies to expect: forbidden")
            state = fields.text(body["state"], "state")
            if state not in ClosedState._value2member_map_:
                raise body["state"].error(f"state must be {one_of(s.value for s in ClosedState)}, not {state!r}")
            closed = ClosedState(state)
        probe_node = body.get("probe")
        probe = self.probe(probe_node)
        if probe_node is not None and expect is Expect.FORBIDDEN and probe.kind != "tcp":  # tcp: the identity for closedness
            raise probe_node.error("a forbidden rule only checks that the port is closed; remove 'probe'")
        if port_range is not None and probe.kind != "tcp":
            raise (probe_node or node).error("a range rule checks the firewall path only; its probe must be tcp")
        when = self.condition(body["when"]) if "when" in body else None
        reason = fields.text(body["reason"], "reason") if "reason" in body else ""
        return Rule(rule_id, sources, targets, ports, port_range, expect, closed, probe, when, reason.strip(),
                    Location(node.path, node.line, node.col))

    def role(self, role: str, node: Node) -> str:
        if role not in self.roles:
            raise node.error(f"unknown role {role!r}{did_you_mean(role, self.roles)}; {one_of(self.roles)}; "
                             f"a vantage role that no host has is declared at the top level: roles: [{role}]")
        return role

    def targets(self, node: Node) -> tuple[str, ...]:
        out: dict[str, None] = {}
        for target, item in fields.names(node, "to"):
            self.named.add(target)
            if target in self.hosts:
                out.setdefault(target, None)
            elif target in self.roles:
                out.update((h.name, None) for h in self.hosts.values() if target in h.roles)
            else:
                choices = [*self.hosts, *self.roles]
                raise item.error(f"'to' names no host or role: {target!r}{did_you_mean(target, choices)}")
        return tuple(out)

    def ports(self, node: Node, body: dict[str, Node]) -> tuple[tuple[int, ...], PortRange | None]:
        given = [k for k in ("port", "ports", "range") if k in body]
        if len(given) != 1:
            raise node.error("a rule needs exactly one of 'port', 'ports' or 'range'" + (f" (found {', '.join(given)})" if given else ""))
        for key in ("sample", "except"):
            if key in body and "range" not in body:
                raise body[key].error(f"'{key}' only applies to a 'range' rule")
        if "port" in body:
            return (port(body["port"]),), None
        if "ports" in body:
            items = fields.sequence(body["ports"], "ports")
            if not items:
                raise body["ports"].error("ports must not be empty")
            values: dict[int, None] = {}
            for item in items:
                value = port(item)
                if value in values:
                    raise item.error(f"port {value} is listed twice")
                values[value] = None
            return tuple(values), None
        first, last = span(body["range"])
        sample: int | None = DEFAULT_SAMPLE
        if "sample" in body:
            sample = None if body["sample"].value == "all" else fields.integer(body["sample"], "sample (or 'all')", 2, 65535)
        excepted = self.exceptions(body["except"], first, last) if "except" in body else ()
        return (), PortRange(first, last, sample, excepted)

    def exceptions(self, node: Node, first: int, last: int) -> tuple[Excepted, ...]:
        """``except:`` of the range ``first``-``last``: disjoint ports and ranges inside it that leave some port to check."""
        items = fields.sequence(node, "except")
        if not items:
            raise node.error("except must list at least one port or range")
        given = [(self.exception(item), item) for item in items]
        for excepted, item in given:
            if not first <= excepted.first <= excepted.last <= last:
                raise item.error(f"except {excepted} lies outside the rule's range {first}-{last}")
        # Sorted by first port, any overlap shows between neighbours; the later-written entry is the one to fix.
        ordered = sorted(given, key=lambda pair: (pair[0].first, pair[0].last))
        for before, after in zip(ordered, ordered[1:]):
            if after[0].first <= before[0].last:
                (earlier, seen), (later, where) = sorted((before, after), key=lambda pair: (pair[1].line, pair[1].col))
                what = "is listed twice" if (earlier.first, earlier.last) == (later.first, later.last) else f"overlaps {earlier}"
                raise where.error(f"except {later} {what} (first at line {seen.line}, column {seen.col})")
        if sum(e.last - e.first + 1 for e, _ in given) == last - first + 1:
            raise node.error(f"except leaves no port of the range {first}-{last} to check")
        return tuple(excepted for excepted, _ in ordered)

    def exception(self, node: Node) -> Excepted:
        """One ``except`` entry: ``443``, ``"8000-8100"`` or ``{port: 80, when: http_redirect}`` (or ``range:``)."""
        if isinstance(node.value, str):
            return Excepted(*span(node, "except range"))
        if not isinstance(node.value, dict):
            number = port(node, "except port")
            return Excepted(number, number)
        body = fields.mapping(node, "except entry", EXCEPT_KEYS)
        given = [k for k in ("port", "range") if k in body]
        if len(given) != 1:
            raise node.error("an except entry needs exactly one of 'port' or 'range'" + (f" (found {', '.join(given)})" if given else ""))
        when = self.condition(body["when"]) if "when" in body else None
        if "port" in body:
            number = port(body["port"], "except port")
            return Excepted(number, number, when)
        return Excepted(*span(body["range"], "except range"), when)

    def probe(self, node: Node | None) -> Probe:
        if node is None:
            return registry.build("tcp", {}, self.tls)
        if isinstance(node.value, str):
            kind, options, where = node.value, {}, {"kind": node}
        else:
            where = dict(fields.entries(node, "probe"))
            if "kind" not in where:
                raise node.error(f"probe needs a 'kind': {one_of(registry.kinds())}")
            kind = fields.text(where["kind"], "probe kind")
            options = {k: _plain(v) for k, v in where.items() if k != "kind"}
        try:
            return registry.build(kind, options, self.tls, node.path.parent, untrusted_client)
        except OptionError as exc:
            target = where.get(exc.key or "kind", node)
            raise target.error(exc.message, at_key=exc.key not in (None, "kind")) from None

    def condition(self, node: Node) -> Condition:
        text = str(node.value) if isinstance(node.value, (str, bool)) else fields.text(node, "when")
        try:
            condition = parse(text)
        except ConditionError as exc:
            raise node.error(str(exc)) from None
        for feature in condition.names():
            if feature not in self.features:
                raise node.error(f"unknown feature {feature!r} in 'when'{did_you_mean(feature, self.features)}; declare it under features:")
        return condition


def _plain(node: Node) -> object:
    """Located value -> plain Python value, for probe options."""
    if isinstance(node.value, dict):
        return {k: _plain(v) for k, v in node.value.items()}
    if isinstance(node.value, list):
        return [_plain(v) for v in node.value]
    return node.value
