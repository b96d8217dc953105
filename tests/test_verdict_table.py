"""The README's verdict table, row by row and both ways, against the pure ``judge`` (no sockets).

Each row of the table is a case here: what was observed on the port (state,
protocol answer, whether the host answered anything else this run) and what
the check must become. A row that passes has its twin that fails next to it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_activate_ports.checks import Check, plan
from pytest_activate_ports.results import CheckOutcome, PortState, ProbeResult, ProtocolResult, summarize
from pytest_activate_ports.spec import load_spec
from pytest_activate_ports.verdict import Outcome, judge, offending_states

OPEN, REFUSED, FILTERED = PortState.OPEN, PortState.REFUSED, PortState.FILTERED
UNREACHABLE, UNRESOLVABLE, ERROR = PortState.UNREACHABLE, PortState.UNRESOLVABLE, PortState.ERROR
PASSED, FAILED, SKIPPED, ERRORED = Outcome.PASSED, Outcome.FAILED, Outcome.SKIPPED, Outcome.ERROR

SPEC = """\
version: 1
hosts:
  h: {address: 192.0.2.1}
rules:
  - {id: required, from: internet, to: h, port: 443, expect: required, probe: https}
  - {id: optional, from: internet, to: h, port: 8443, expect: optional, probe: https}
  - {id: forbidden, from: internet, to: h, port: 5432, expect: forbidden}
  - {id: forbidden-filtered, from: internet, to: h, port: 5433, expect: forbidden, state: filtered}
  - {id: forbidden-refused, from: internet, to: h, port: 5434, expect: forbidden, state: refused}
  - {id: range-required, from: internet, to: h, range: 8192-8200, sample: all, expect: required}
  - {id: range-forbidden, from: internet, to: h, range: 9000-9002, sample: all, expect: forbidden}
  - {id: range-dropped, from: internet, to: h, range: 9100-9102, sample: all, expect: forbidden, state: filtered}
  - {id: range-optional, from: internet, to: h, range: 9200-9202, sample: all, expect: optional}
"""


@pytest.fixture(scope="module")
def checks(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Check]:
    path: Path = tmp_path_factory.mktemp("verdicts") / "spec.yaml"
    path.write_text(SPEC)
    return {check.rule.id: check for check in plan(load_spec(path), ("internet",)).checks}


def attempt(port: int, state: PortState, protocol: bool | None = None) -> ProbeResult:
    answer = None if protocol is None else ProtocolResult(protocol, "spoke https" if protocol else "no https here")
    return ProbeResult(port, port, state, "observed", 0.002, protocol=answer)


# (rule, observed state, protocol passed, host answered elsewhere in the run, outcome): the README table.
SINGLE_PORT = [
    # required: passes when open and the protocol check passes ...
    ("required", OPEN, True, True, PASSED),
    # ... fails when refused, filtered, unreachable, unresolvable, or the protocol check fails.
    ("required", OPEN, False, True, FAILED),
    ("required", REFUSED, None, True, FAILED),
    ("required", FILTERED, None, True, FAILED),
    ("required", UNREACHABLE, None, True, FAILED),
    ("required", UNRESOLVABLE, None, False, FAILED),
    # optional: passes when closed/filtered ("not exposed") or open with the probe passing ...
    ("optional", REFUSED, None, True, PASSED),
    ("optional", FILTERED, None, False, PASSED),
    ("optional", UNREACHABLE, None, False, PASSED),
    ("optional", OPEN, True, True, PASSED),
    # ... fails when open but the probe fails; an unresolvable host is an error, never a pass.
    ("optional", OPEN, False, True, FAILED),
    ("optional", UNRESOLVABLE, None, False, ERRORED),
    # forbidden: passes when refused, or filtered/unreachable on a host that answered elsewhere ...
    ("forbidden", REFUSED, None, True, PASSED),
    ("forbidden", REFUSED, None, False, PASSED),  # a RST proves the host is there
    ("forbidden", FILTERED, None, True, PASSED),
    ("forbidden", UNREACHABLE, None, True, PASSED),
    # ... fails when the port accepts; unresolvable is an error; a silent host is unproven, never passed.
    ("forbidden", OPEN, None, True, FAILED),
    ("forbidden", UNRESOLVABLE, None, False, ERRORED),
    ("forbidden", FILTERED, None, False, SKIPPED),
    ("forbidden", UNREACHABLE, None, False, SKIPPED),
    # state: filtered demands a DROP, state: refused a RST; the other closed state fails.
    ("forbidden-filtered", FILTERED, None, True, PASSED),
    ("forbidden-filtered", REFUSED, None, True, FAILED),
    ("forbidden-refused", REFUSED, None, True, PASSED),
    ("forbidden-refused", FILTERED, None, True, FAILED),
    # A probe that broke says nothing about the port: an error whatever the expectation.
    ("required", ERROR, None, True, ERRORED),
    ("optional", ERROR, None, True, ERRORED),
    ("forbidden", ERROR, None, True, ERRORED),
]


@pytest.mark.parametrize(("rule", "state", "protocol", "alive", "expected"), SINGLE_PORT,
                         ids=[f"{r}-{s.value}-{'proto-ok' if p else 'proto-bad' if p is False else 'tcp'}-"
                              f"{'alive' if a else 'silent'}-{e.value}" for r, s, p, a, e in SINGLE_PORT])
def test_verdict_table_single_port(checks: dict[str, Check], rule: str, state: PortState, protocol: bool | None,
                                   alive: bool, expected: Outcome) -> None:
    check = checks[rule]
    verdict = judge(check, CheckOutcome((attempt(check.ports[0], state, protocol),), alive or state.answered))
    assert verdict.outcome is expected, verdict.message
    assert verdict.message and "\n" not in verdict.message


def test_verdict_table_every_address_must_hold(checks: dict[str, Check]) -> None:
    """A name that resolves to two addresses passes only if the rule holds on both."""
    check = checks["required"]
    both = CheckOutcome((attempt(443, OPEN, True), attempt(443, OPEN, True)), True)
    one_bad = CheckOutcome((attempt(443, OPEN, True), attempt(443, REFUSED)), True)
    assert judge(check, both).outcome is PASSED
    verdict = judge(check, one_bad)
    assert verdict.outcome is FAILED and verdict.message.startswith("1 of 2 addresses: ")


RANGES = [
    # required range: the firewall path is open when every sampled port answers (accept or RST) ...
    ("range-required", [OPEN, REFUSED] * 4 + [REFUSED], PASSED),
    # ... and fails when one sampled port times out or is unreachable.
    ("range-required", [OPEN] * 8 + [FILTERED], FAILED),
    ("range-required", [REFUSED] * 8 + [UNREACHABLE], FAILED),
    # forbidden range: passes when nothing accepts, fails when one port accepts.
    ("range-forbidden", [REFUSED, FILTERED, REFUSED], PASSED),
    ("range-forbidden", [REFUSED, OPEN, REFUSED], FAILED),
    # a forbidden range on a host that answered nothing at all is unproven.
    ("range-forbidden", [FILTERED] * 3, SKIPPED),
    # state: filtered on a range: every port must be dropped (proven only by another answer), a RST fails.
    ("range-dropped", [FILTERED] * 3, SKIPPED),
    ("range-dropped", [FILTERED, REFUSED, FILTERED], FAILED),
    # optional range: closed or open, both fine; a broken probe is an error; unresolvable fails a required range only.
    ("range-optional", [OPEN, REFUSED, FILTERED], PASSED),
    ("range-optional", [OPEN, ERROR, REFUSED], ERRORED),
    ("range-required", [UNRESOLVABLE] * 9, FAILED),
    ("range-forbidden", [UNRESOLVABLE] * 3, ERRORED),
]


@pytest.mark.parametrize(("rule", "states", "expected"), RANGES)
def test_verdict_table_range(checks: dict[str, Check], rule: str, states: list[PortState], expected: Outcome) -> None:
    check = checks[rule]
    results = tuple(attempt(port, state) for port, state in zip(check.ports, states, strict=True))
    verdict = judge(check, CheckOutcome(results, any(state.answered for state in states)))
    assert verdict.outcome is expected, verdict.message


@pytest.mark.parametrize(("rule", "states", "expected"), RANGES)
def test_verdict_table_range_summed_up_where_probed(checks: dict[str, Check], rule: str, states: list[PortState],
                                                   expected: Outcome) -> None:
    """The prober sends a range's summary, not its attempts: the verdict is the same."""
    check = checks[rule]
    results = tuple(attempt(port, state) for port, state in zip(check.ports, states, strict=True))
    summary = summarize(results, offending_states(check.rule))
    alive = any(state.answered for state in states)
    assert judge(check, CheckOutcome(summary, alive)) == judge(check, CheckOutcome(results, alive))


@pytest.mark.parametrize(("rule", "states", "named"), [
    ("range-required", [OPEN, FILTERED, REFUSED, FILTERED, FILTERED, OPEN, OPEN, UNREACHABLE, OPEN],
     "(filtered: 8193,8195-8196; unreachable: 8199)"),
    ("range-forbidden", [OPEN, REFUSED, OPEN], "accepted (9000,9002)"),
    ("range-dropped", [REFUSED, FILTERED, UNREACHABLE], "(refused: 9100; unreachable: 9102)"),
    ("range-optional", [OPEN, ERROR, ERROR], "(error: 9201-9202)"),
])
def test_verdict_range_names_every_offending_port(checks: dict[str, Check], rule: str, states: list[PortState],
                                                  named: str) -> None:
    check = checks[rule]
    results = tuple(attempt(port, state) for port, state in zip(check.ports, states, strict=True))
    verdict = judge(check, CheckOutcome(summarize(results, offending_states(check.rule)), True))
    assert verdict.outcome is not PASSED and named in verdict.message, verdict.message


def test_verdict_dropped_range_passes_on_a_host_that_answered_elsewhere(checks: dict[str, Check]) -> None:
    check = checks["range-dropped"]
    summary = summarize((attempt(port, FILTERED) for port in check.ports), offending_states(check.rule))
    assert judge(check, CheckOutcome(summary, True)).outcome is PASSED
    assert judge(check, CheckOutcome(summary, False)).outcome is SKIPPED
