"""A range job summed up where it is dialled: port runs, counts, every offending port, mergeable, plain on the wire."""

from __future__ import annotations

import threading
import tracemalloc

import execnet
import pytest

from pytest_activate_ports.prober.engine import Engine
from pytest_activate_ports.prober.probes import registry
from pytest_activate_ports.prober.transport import attempts_from_wire, attempts_to_wire, job_from_wire, job_to_wire
from pytest_activate_ports.results import (Job, Offence, PortSet, PortState, ProbeResult, RangeSummary, RangeTally,
                                           TlsConfig, summarize)

from .servers import Listener

OPEN, REFUSED, FILTERED = PortState.OPEN, PortState.REFUSED, PortState.FILTERED
FORBIDDEN = frozenset({OPEN, PortState.ERROR, PortState.UNRESOLVABLE})
TCP = registry.build("tcp", {}, TlsConfig())


def attempt(port: int, state: PortState, address: str = "192.0.2.1", elapsed: float = 0.001) -> ProbeResult:
    detail = {OPEN: "accepted the TCP handshake", REFUSED: "connection refused (RST)"}.get(state, "no answer within 1s")
    return ProbeResult(port, port, state, detail, elapsed, 111 if state is REFUSED else None, address, None)


def test_port_set_is_runs_in_port_order() -> None:
    ports = PortSet.of([8302, 8192, 8193, 8194, 60000, 8301, 8300, 8193])
    assert str(ports) == "8192-8194,8300-8302,60000"
    assert len(ports) == 7 and list(ports) == [8192, 8193, 8194, 8300, 8301, 8302, 60000]
    assert [p in ports for p in (8191, 8192, 8194, 8195, 8301, 60000, 60001)] == [False, True, True, False, True, True, False]
    assert PortSet.parse(str(ports)) == ports and PortSet.parse("") == PortSet() and not PortSet()
    assert str(PortSet.parse("1-3") | PortSet.parse("4,9-10")) == "1-4,9-10"


@pytest.mark.parametrize("text", ["5-3", "3,1", "x", "70000", "1-2-3"])
def test_port_set_rejects_what_it_did_not_write(text: str) -> None:
    with pytest.raises(ValueError):
        PortSet.parse(text)


def test_tally_keeps_every_offending_port_and_counts_the_rest() -> None:
    attempts = [attempt(port, (OPEN, REFUSED, FILTERED)[port % 3]) for port in range(1024, 65536)]
    summary = summarize(reversed(attempts), FORBIDDEN)  # attempts finish in any order
    opened = [port for port in range(1024, 65536) if port % 3 == 0]
    assert summary.counts == {OPEN: len(opened), REFUSED: 21504, FILTERED: 21504}
    assert list(summary.offending) == opened
    [offence] = summary
    assert isinstance(offence, Offence) and offence.state is OPEN and offence.detail == "accepted the TCP handshake"
    assert list(summary.ports[REFUSED]) == [port for port in range(1024, 65536) if port % 3 == 1]
    assert summary.answered and summary.attempts == 64512 and summary.addresses == ("192.0.2.1",)


def test_tally_holds_bitmaps_not_attempts() -> None:
    """64k attempts through a tally leave a few kilobytes of bitmaps behind, not 64k results."""
    tally = RangeTally(FORBIDDEN)
    refused = attempt(1024, REFUSED)
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for port in range(1024, 65536):
            tally.add(ProbeResult(port, port, REFUSED, refused.detail, 0.001, 111, refused.address, None))
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert held < 64 * 1024, held
    assert str(tally.summary().ports[REFUSED]) == "1024-65535"


def test_tally_separates_offences_by_state_errno_detail_and_address() -> None:
    attempts = [attempt(1024, FILTERED), attempt(1025, FILTERED, "2001:db8::1"), attempt(1026, FILTERED),
                ProbeResult(1027, 1027, PortState.UNREACHABLE, "No route to host", 0.002, 113, "192.0.2.1", None)]
    summary = summarize(attempts, frozenset({FILTERED, PortState.UNREACHABLE}))
    assert [(o.state, o.address, str(o.ports)) for o in summary] == [
        (FILTERED, "192.0.2.1", "1024,1026"), (FILTERED, "2001:db8::1", "1025"),
        (PortState.UNREACHABLE, "192.0.2.1", "1027")]
    assert not summary.answered


def test_summaries_of_parts_of_a_range_merge_into_the_summary_of_the_whole() -> None:
    attempts = [attempt(port, (OPEN, REFUSED, FILTERED)[port % 3], elapsed=port / 1e6) for port in range(1024, 1100)]
    whole = summarize(attempts, FORBIDDEN)
    merged = RangeSummary.merge([summarize(attempts[::2], FORBIDDEN), summarize(attempts[1::2], FORBIDDEN)])
    assert (merged.counts, merged.ports, merged.elapsed, merged.addresses) == (
        whole.counts, whole.ports, whole.elapsed, whole.addresses)
    assert [(o.state, o.detail, o.ports, o.port) for o in merged] == [(o.state, o.detail, o.ports, o.port) for o in whole]


def test_summary_travels_as_plain_data() -> None:
    summary = summarize([attempt(1024, OPEN), attempt(1025, REFUSED), attempt(1026, OPEN)], FORBIDDEN)
    wire = attempts_to_wire(summary)
    assert wire == {"counts": {"open": 2, "refused": 1}, "ports": {"open": "1024,1026", "refused": "1025"},
                    "offences": [((1024, 1024, "open", "accepted the TCP handshake", 0.001, None, "192.0.2.1", None, None),
                                  "1024,1026")],
                    "elapsed": 0.001, "addresses": ["192.0.2.1"]}
    again = attempts_from_wire(execnet.loads(execnet.dumps(wire)))
    assert isinstance(again, RangeSummary) and tuple(again) == tuple(summary)
    assert (again.counts, again.ports, again.elapsed, again.addresses) == (
        summary.counts, summary.ports, summary.elapsed, summary.addresses)


def test_range_job_travels_as_runs_and_its_offending_states() -> None:
    ports = tuple(p for p in range(1024, 65536) if p not in (8080, 8443))  # a range with exceptions
    job = Job(3, "node", "10.0.0.1", ports, {}, TCP, frozenset({OPEN}))
    wire = job_to_wire(job)
    assert wire[3] == "1024-8079,8081-8442,8444-65535" and wire[6] == ["open"]
    again = job_from_wire(execnet.loads(execnet.dumps(wire)), registry.rebuild)
    assert list(again.ports) == list(ports) and again.offends == frozenset({OPEN})


class Finished:
    """An engine observer that keeps what finished."""

    def __init__(self) -> None:
        self.results: dict[int, tuple[ProbeResult, ...]] = {}
        self.done = threading.Event()

    def finished(self, job: Job, results: tuple[ProbeResult, ...], alive: bool | None) -> None:
        self.results[job.key] = results
        self.done.set()

    def stopped(self, reason: str) -> None:
        self.done.set()


def test_engine_sums_up_a_range_job_where_it_dials(listener: Listener, refused_port: int) -> None:
    job = Job(1, "lo", "127.0.0.1", (listener.port, refused_port), {}, TCP, FORBIDDEN)
    seen = Finished()
    engine = Engine([job], 5, 16, 8, seen)
    engine.start()
    try:
        assert seen.done.wait(10)
    finally:
        engine.close()
    summary = seen.results[1]
    assert isinstance(summary, RangeSummary)
    assert summary.counts == {OPEN: 1, REFUSED: 1}
    assert list(summary.offending) == [listener.port] and list(summary.ports[REFUSED]) == [refused_port]


def test_engine_queues_a_range_as_one_entry_not_one_per_port() -> None:
    """What waits to be dialled is bounded by the jobs, not by their 64k ports."""
    job = Job(1, "lo", "127.0.0.1", PortSet.parse("1024-65535"), {}, TCP, FORBIDDEN)
    engine = Engine([], 5, 1, 1, Finished())
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        engine._enqueue([job])  # on this thread: the reactor is not running, so one port is started and waits
        queued = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
        engine.close()
    assert queued < 256 * 1024, queued
