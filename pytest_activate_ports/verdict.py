"""From observations to a verdict: the table in DESIGN.md as one pure function.

Messages follow one shape: what was expected, what was observed (with the
elapsed time), and what to change, in one or two lines.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from .checks import Check
from .results import CheckOutcome, Offence, PortSet, PortState, ProbeResult, RangeSummary, summarize
from .spec.model import ClosedState, Expect, Rule


class Outcome(str, enum.Enum):
    """The pytest outcome a check maps to."""

    PASSED = "passed"
    FAILED = "failed"
    SKIPPED = "skipped"
    ERROR = "error"


@dataclass(frozen=True, slots=True)
class Verdict:
    """The outcome of one check and the sentence that explains it."""

    outcome: Outcome
    message: str
    warnings: tuple[str, ...] = ()


_FIX = {
    PortState.REFUSED: "start the service or publish the port",
    PortState.FILTERED: "open the firewall / security group path from this vantage",
    PortState.UNREACHABLE: "open the firewall path from this vantage, or fix routing or the address",
    PortState.UNRESOLVABLE: "fix the address or DNS (or override it with --activate-host)",
}


def _ms(result: ProbeResult) -> str:
    return f"{result.elapsed * 1000:.0f} ms"


def _where(check: Check, result: ProbeResult) -> str:
    via = f" via {result.dialled}" if result.dialled != result.port else ""
    address = f" ({result.address})" if result.address and result.address != check.host.address else ""
    return f"{check.host.name}:{result.port}{via}{address}"


def _observed(result: ProbeResult) -> str:
    return f"{result.state.value}: {result.detail} after {_ms(result)}"


_SEVERITY = {Outcome.PASSED: 0, Outcome.SKIPPED: 1, Outcome.FAILED: 2, Outcome.ERROR: 3}


def judge(check: Check, outcome: CheckOutcome) -> Verdict:
    """The verdict for ``check`` given what the engine observed."""
    if check.rule.port_range is not None:
        return _judge_range(check, outcome)
    crashed = [r for r in outcome.results if r.state is PortState.ERROR]
    if crashed:
        return Verdict(Outcome.ERROR, f"{_where(check, crashed[0])}: {crashed[0].detail}")
    # One result per resolved address: every address must satisfy the rule.
    verdicts = [_judge_port(check, result, outcome.host_alive) for result in outcome.results]
    worst = max(verdicts, key=lambda v: _SEVERITY[v.outcome])
    if len(verdicts) == 1 or worst.outcome is Outcome.PASSED:
        warnings = tuple(w for v in verdicts for w in v.warnings)
        suffix = f" (all {len(verdicts)} addresses)" if len(verdicts) > 1 else ""
        return Verdict(worst.outcome, worst.message + suffix, warnings)
    bad = [v.message for v in verdicts if v.outcome is worst.outcome]
    return Verdict(worst.outcome, f"{len(bad)} of {len(verdicts)} addresses: " + "; ".join(bad))


def _judge_port(check: Check, result: ProbeResult, host_alive: bool) -> Verdict:
    warnings = result.protocol.warnings if result.protocol else ()
    expect = check.rule.expect
    kind = check.rule.probe.kind
    where = _where(check, result)
    if result.state is PortState.UNRESOLVABLE:
        message = f"{where}: {result.detail}; nothing was checked ({_FIX[result.state]})"
        return Verdict(Outcome.FAILED if expect is Expect.REQUIRED else Outcome.ERROR, message)
    if result.state is PortState.OPEN:
        if expect is Expect.FORBIDDEN:
            return Verdict(Outcome.FAILED, f"{where} must be closed from this vantage but accepted a connection "
                                           f"after {_ms(result)}; block it in the firewall or stop the listener")
        assert result.protocol is not None
        if result.protocol.unproven:
            return Verdict(Outcome.SKIPPED, f"unproven: {where} open, {kind}: {result.protocol.detail}")
        if result.protocol.passed:
            return Verdict(Outcome.PASSED, f"{where} open, {kind}: {result.protocol.detail}", warnings)
        return Verdict(Outcome.FAILED, f"{where} is open but the {kind} check failed after {_ms(result)}: "
                                       f"{result.protocol.detail}")
    if expect is Expect.REQUIRED:
        return Verdict(Outcome.FAILED, f"{where} must be open ({kind}) but is {_observed(result)}; {_FIX[result.state]}")
    if expect is Expect.OPTIONAL:
        return Verdict(Outcome.PASSED, f"{where} not exposed ({_observed(result)})")
    return _judge_closed(check, result, host_alive)


_DEMANDED = {ClosedState.FILTERED: ("dropped (no answer)", "DROP"),
             ClosedState.REFUSED: ("rejected with a TCP reset", "REJECT with tcp reset")}


def _judge_closed(check: Check, result: ProbeResult, host_alive: bool) -> Verdict:
    """A forbidden port that did not accept: is it closed the demanded way?"""
    demanded = check.rule.closed_state
    if result.state not in _CLOSED_AS[demanded]:
        how, fix = _DEMANDED[demanded]
        return Verdict(Outcome.FAILED, f"{_where(check, result)} must be {how} but is {_observed(result)}; "
                                       f"change the firewall rule to {fix}")
    if host_alive or result.state is PortState.REFUSED:
        return Verdict(Outcome.PASSED, f"{_where(check, result)} closed as required ({result.state.value})")
    return _unproven(check)


def _unproven(check: Check) -> Verdict:
    # Nothing on this host answered at all: a DROP looks exactly like a dead host
    # or a mistyped address. Never report that as a pass.
    return Verdict(Outcome.SKIPPED, f"unproven: {check.host.name} ({check.host.address}) answered nothing from this "
                                    f"vantage, so a dropped port cannot be told from a down or mistyped host; "
                                    f"add a rule for a port that answers on this host to prove it is alive")


_CLOSED_AS = {ClosedState.ANY: {PortState.REFUSED, PortState.FILTERED, PortState.UNREACHABLE},
              ClosedState.FILTERED: {PortState.FILTERED}, ClosedState.REFUSED: {PortState.REFUSED}}


def offending_states(rule: Rule) -> frozenset[PortState]:
    """The states in which a port breaks ``rule`` (an open port whose probe fails always does): what the prober keeps of a range in full."""
    broken = {PortState.ERROR, PortState.UNRESOLVABLE}
    if rule.expect is Expect.REQUIRED:
        broken |= {PortState.FILTERED, PortState.UNREACHABLE}
    elif rule.expect is Expect.FORBIDDEN:
        broken |= set(PortState) - _CLOSED_AS[rule.closed_state]
    return frozenset(broken)


def _ports(offences: list[Offence]) -> str:
    """Every port of ``offences``, by state: ``filtered: 1025,1028-1030; unreachable: 2000``."""
    by_state: dict[PortState, list[PortSet]] = {}
    for offence in offences:
        by_state.setdefault(offence.state, []).append(offence.ports)
    return "; ".join(f"{state.value}: {PortSet.union(sets)}" for state, sets in by_state.items())


def _count(offences: list[Offence]) -> int:
    return len(PortSet.union(o.ports for o in offences))


def _judge_range(check: Check, outcome: CheckOutcome) -> Verdict:
    """A range from its summary: every port that broke the rule is named (as runs), the rest only counted."""
    results = outcome.results
    summary = results if isinstance(results, RangeSummary) else summarize(results, offending_states(check.rule))
    span = f"{check.host.name}:{check.label} ({len(check.ports)} sampled ports)"
    expect = check.rule.expect
    crashed = [o for o in summary if o.state is PortState.ERROR]
    if crashed:
        return Verdict(Outcome.ERROR, f"{span}: {_count(crashed)} ports could not be probed ({_ports(crashed)}): "
                                      f"{crashed[0].detail}")
    unresolved = [o for o in summary if o.state is PortState.UNRESOLVABLE]
    if unresolved:
        return Verdict(Outcome.FAILED if expect is Expect.REQUIRED else Outcome.ERROR,
                       f"{span}: {unresolved[0].detail}; {_FIX[PortState.UNRESOLVABLE]}")
    opened = summary.counts.get(PortState.OPEN, 0)
    failing = [o for o in summary if o.state is PortState.OPEN and expect is not Expect.FORBIDDEN]
    if failing:
        unproven = all(o.protocol is not None and o.protocol.unproven for o in failing)
        return Verdict(Outcome.SKIPPED if unproven else Outcome.FAILED,
                       f"{'unproven: ' if unproven else ''}{span}: {_count(failing)} ports are open but the "
                       f"{check.rule.probe.kind} check did not pass ({_ports(failing)}): {failing[0].detail}")
    if expect is Expect.REQUIRED:
        if not summary:
            return Verdict(Outcome.PASSED, f"{span}: firewall path open, every sampled port answered (accept or RST)")
        return Verdict(Outcome.FAILED, f"{span}: {_count(list(summary))} sampled ports did not answer "
                                       f"({_ports(list(summary))}) after {summary.elapsed * 1000:.0f} ms; "
                                       f"{_FIX[summary[0].state]}")
    if expect is Expect.OPTIONAL:
        return Verdict(Outcome.PASSED, f"{span}: {opened} open, {summary.attempts - opened} closed")
    accepted = [o for o in summary if o.state is PortState.OPEN]
    if accepted:
        return Verdict(Outcome.FAILED, f"{span} must be closed but {_count(accepted)} sampled ports accepted "
                                       f"({_ports(accepted)[len('open: '):]}); block the range in the firewall")
    if summary:
        how, fix = _DEMANDED[check.rule.closed_state]
        return Verdict(Outcome.FAILED, f"{span} must be {how} but {_count(list(summary))} sampled ports are not "
                                       f"({_ports(list(summary))}); change the firewall rule to {fix}")
    states = "/".join(f"{state.value} {n}" for state, n in sorted(summary.counts.items(), key=lambda i: i[0].value))
    if outcome.host_alive or summary.answered:
        return Verdict(Outcome.PASSED, f"{span}: closed as required ({states})")
    return _unproven(check)
