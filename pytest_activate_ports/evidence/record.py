"""One port check as evidence: what was tested, from where, against which address, what was seen.

Every output format (JUnit properties, the JSON file, the terminal matrix)
reads an :class:`Observation`, so they can never disagree about a check.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..checks import port_labels
from ..results import Offence, PortSet, ProbeResult, ProtocolResult, RangeSummary, port_set, summarize
from ..spec.model import Rule, Spec
from ..verdict import offending_states

if TYPE_CHECKING:
    from ..checks import Check
    from ..results import CheckOutcome
    from ..items import PortCheckItem
    from ..verdict import Verdict

JSON = dict[str, Any]


def rule_json(rule: Rule) -> JSON:
    """A rule as the merged report needs it to draw a row even where no vantage checked it."""
    return {
        "id": rule.id,
        "from": list(rule.sources),
        "to": list(rule.targets),
        "ports": port_labels(rule),
        "expect": rule.expect.value,
        "state": rule.closed_state.value,
        "probe": rule.probe.kind,
        "when": rule.when.text if rule.when is not None else None,
        "reason": rule.reason,
        "location": f"{rule.location.path.name}:{rule.location.line}",
    }


def spec_json(spec: Spec) -> JSON:
    """Which spec was run: path and sha256 (the audit identity), plus its hosts and rules."""
    return {
        "path": str(spec.path),
        "name": spec.name,
        "sha256": spec.sha256,
        "roles": dict(spec.roles),
        "hosts": {name: {"address": host.address, "roles": list(host.roles)} for name, host in spec.hosts.items()},
        "rules": [rule_json(rule) for rule in spec.rules],
    }


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 1)


def protocol_json(protocol: ProtocolResult) -> JSON:
    """A probe's protocol answer, sub-checks included (mTLS records each identity it tried)."""
    return {
        "passed": protocol.passed,
        "detail": protocol.detail,
        "checks": [{"name": c.name, "passed": c.passed, "detail": c.detail} for c in protocol.checks],
        "facts": {key: str(value) for key, value in protocol.facts.items()},
        "warnings": list(protocol.warnings),
    }


def result_json(result: ProbeResult) -> JSON:
    """Everything observed on one port."""
    return {
        "port": result.port,
        "dialled": result.dialled,
        "state": result.state.value,
        "detail": result.detail,
        "elapsed_ms": _ms(result.elapsed),
        "errno": result.errno,
        "address": result.address,
        "source": result.source,
        "protocol": protocol_json(result.protocol) if result.protocol is not None else None,
    }


def offence_json(offence: Offence) -> JSON:
    """Ports of a range that broke its rule the same way: every one of them (as runs), with one attempt's record."""
    return {**result_json(offence), "ports": str(offence.ports), "count": len(offence.ports)}


def range_json(ports: PortSet, summary: RangeSummary | None) -> JSON:
    """A range check: its ports, and (once probed) counts and ports per state and every offending port."""
    return {
        "ports": str(ports),
        "attempts": summary.attempts if summary is not None else 0,
        "counts": {state.value: n for state, n in summary.counts.items()} if summary is not None else {},
        "states": {state.value: str(p) for state, p in summary.ports.items()} if summary is not None else {},
        "offending": [offence_json(offence) for offence in summary] if summary is not None else [],
    }


@dataclass(frozen=True, slots=True)
class Observation:
    """One item's check with what the engine saw and what the verdict said."""

    nodeid: str
    check: Check
    outcome: CheckOutcome | None  # None: never probed (not applicable, or the run stopped first)
    verdict: Verdict | None
    vantage: dict[str, str] | None = None  # where it was probed from: WHERE as shown, the vantage's hostname and Python

    @classmethod
    def of(cls, item: PortCheckItem) -> Observation:
        return cls(item.nodeid, item.check, item.outcome, item.verdict, item.vantage)

    @property
    def address(self) -> str:
        """The address actually dialled (the spec's address when nothing was resolved)."""
        results = self.outcome.results if self.outcome else ()
        if isinstance(results, RangeSummary) and results.addresses:
            return results.addresses[0]
        return next((r.address for r in results if r.address), self.check.host.address)

    @property
    def observed(self) -> str:
        """The port state(s) seen, in one line: ``refused: connection refused (RST)``."""
        if self.outcome is None:
            return "not probed"
        results = self.outcome.results
        if isinstance(results, RangeSummary):
            return f"{results.attempts} sampled ports: " + ", ".join(f"{state.value} {n}" for state, n in results.counts.items())
        if len(results) == 1:
            return f"{results[0].state.value}: {results[0].detail}"
        states: dict[str, int] = {}
        for result in results:
            states[result.state.value] = states.get(result.state.value, 0) + 1
        return f"{len(results)} sampled ports: " + ", ".join(f"{state} {n}" for state, n in states.items())

    @property
    def elapsed_ms(self) -> float | None:
        """Wall time of the probe; ports of a range run concurrently, so the slowest one."""
        if self.outcome is None:
            return None
        results = self.outcome.results
        if isinstance(results, RangeSummary):
            return _ms(results.elapsed) if results.attempts else None
        return _ms(max(r.elapsed for r in results)) if results else None

    def properties(self) -> list[tuple[str, str]]:
        """The ``activate.*`` JUnit testcase properties."""
        rule = self.check.rule
        elapsed = self.elapsed_ms
        return [
            ("activate.rule", rule.id),
            ("activate.role", self.check.role or ""),
            *((("activate.vantage", self.vantage["where"]),) if self.vantage else ()),
            ("activate.host", self.check.host.name),
            ("activate.address", self.address),
            ("activate.port", self.check.label),
            ("activate.expect", rule.expect.value),
            ("activate.probe", rule.probe.kind),
            ("activate.observed", self.observed),
            ("activate.elapsed_ms", "" if elapsed is None else f"{elapsed:g}"),
            ("activate.reason", rule.reason),
            *(("activate.warning", warning) for warning in (self.verdict.warnings if self.verdict else ())),
        ]

    def to_json(self, spec: str, outcome: str, message: str, finished: str) -> JSON:
        """The evidence record; ``spec`` is the spec's name, ``outcome`` pytest's (passed/failed/skipped/error)."""
        check, rule = self.check, self.check.rule
        results = self.outcome.results if self.outcome else ()
        summary = None
        if rule.port_range is not None and self.outcome is not None:
            summary = results if isinstance(results, RangeSummary) else summarize(results, offending_states(rule))
        return {
            "nodeid": self.nodeid,
            "spec": spec,
            "role": check.role,
            "vantage": self.vantage,
            "rule": rule.id,
            "host": check.host.name,
            "address": self.address,
            "port": check.label,
            "ports": list(check.ports) if rule.port_range is None else [],
            "expect": rule.expect.value,
            "probe": rule.probe.kind,
            "reason": rule.reason,
            "outcome": outcome,
            "message": message,
            "observed": self.observed,
            "elapsed_ms": self.elapsed_ms,
            "host_alive": self.outcome.host_alive if self.outcome else None,
            "warnings": list(self.verdict.warnings) if self.verdict else [],
            "finished": finished,
            "results": [] if rule.port_range is not None else [result_json(r) for r in results],
            "range": None if rule.port_range is None else range_json(port_set(check.ports), summary),
        }
