"""From observations to a verdict: the table in DESIGN.md as one pure function.

Messages follow one shape: what was expected, what was observed (with the
elapsed time), and what to change, in one or two lines.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from .checks import Check
from .results import CheckOutcome, PortState, ProbeResult
from .spec.model import ClosedState, Expect


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
    crashed = [r for r in outcome.results if r.state is PortState.ERROR]
    if crashed:
        return Verdict(Outcome.ERROR, f"{_where(check, crashed[0])}: {crashed[0].detail}")
    if check.rule.port_range is not None:
        return _judge_range(check, outcome)
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
    return _judge_closed(check, [result], host_alive)


def _judge_closed(check: Check, results: list[ProbeResult], host_alive: bool) -> Verdict:
    """A forbidden port (or range sample) that did not accept: is it closed the demanded way?"""
    demanded = check.rule.closed_state
    for result in results:
        wrong = (demanded is ClosedState.FILTERED and result.state is not PortState.FILTERED) or (
            demanded is ClosedState.REFUSED and result.state is not PortState.REFUSED)
        if wrong:
            how = "dropped (no answer)" if demanded is ClosedState.FILTERED else "rejected with a TCP reset"
            return Verdict(Outcome.FAILED, f"{_where(check, result)} must be {how} but is {_observed(result)}; "
                                           f"change the firewall rule to {'DROP' if demanded is ClosedState.FILTERED else 'REJECT with tcp reset'}")
    first = results[0]
    states = sorted({r.state.value for r in results})
    if host_alive or first.state is PortState.REFUSED:
        return Verdict(Outcome.PASSED, f"{_where(check, first)} closed as required ({'/'.join(states)})")
    # Nothing on this host answered at all: a DROP looks exactly like a dead host
    # or a mistyped address. Never report that as a pass.
    return Verdict(Outcome.SKIPPED, f"unproven: {check.host.name} ({check.host.address}) answered nothing from this "
                                    f"vantage, so a dropped port cannot be told from a down or mistyped host; "
                                    f"add a rule for a port that answers on this host to prove it is alive")


def _judge_range(check: Check, outcome: CheckOutcome) -> Verdict:
    results = list(outcome.results)
    span = f"{check.host.name}:{check.label} ({len(results)} sampled ports)"
    unresolved = [r for r in results if r.state is PortState.UNRESOLVABLE]
    if unresolved:
        return Verdict(Outcome.FAILED if check.rule.expect is Expect.REQUIRED else Outcome.ERROR,
                       f"{span}: {unresolved[0].detail}; {_FIX[PortState.UNRESOLVABLE]}")
    expect = check.rule.expect
    if expect is Expect.REQUIRED:
        silent = [r for r in results if not r.state.answered]
        if not silent:
            return Verdict(Outcome.PASSED, f"{span}: firewall path open, every sampled port answered (accept or RST)")
        ports = ", ".join(str(r.port) for r in silent[:8]) + (" ..." if len(silent) > 8 else "")
        return Verdict(Outcome.FAILED, f"{span}: {len(silent)} sampled ports did not answer ({silent[0].state.value}, "
                                       f"e.g. {ports}); {_FIX[silent[0].state]}")
    opened = [r for r in results if r.state is PortState.OPEN]
    if expect is Expect.OPTIONAL:
        return Verdict(Outcome.PASSED, f"{span}: {len(opened)} open, {len(results) - len(opened)} closed")
    if opened:
        ports = ", ".join(str(r.port) for r in opened[:8]) + (" ..." if len(opened) > 8 else "")
        return Verdict(Outcome.FAILED, f"{span} must be closed but {len(opened)} sampled ports accepted ({ports}); "
                                       f"block the range in the firewall")
    return _judge_closed(check, results, outcome.host_alive)
