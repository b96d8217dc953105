"""Several probers as one (``--activate-probers N``): a range cut into parts, merged back; liveness decided together.

The probers are real: engines dialling loopback in this process, and prober
processes behind execnet for the pytest runs.
"""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path
from typing import Callable, Iterator

import pytest

from pytest_activate_ports.fanout import SPLIT_FROM, Fanout
from pytest_activate_ports.outcomes import Outcomes, Sink
from pytest_activate_ports.prober.engine import Engine
from pytest_activate_ports.prober.probes import registry
from pytest_activate_ports.prober.probes.base import Probe
from pytest_activate_ports.results import Job, PortState, RangeSummary, TlsConfig

from .servers import FilteredPort, RefusedPort

SpecWriter = Callable[[str], Path]
FREE = "127.0.0.61"  # an address of loopback that no test server binds: its ports refuse


@pytest.fixture
def open_ports() -> Iterator[list[int]]:
    """Three listeners on FREE at the first, middle and last port of a range of 600, every other port bound (so it refuses).

    Binding all 600 keeps any other server out of the range, a wildcard one included (its bind conflicts with ours).
    """
    for _ in range(50):
        first = socket.socket()
        first.bind((FREE, 0))
        base = first.getsockname()[1]
        sockets = [first]
        try:
            if base + 599 > 65535:
                raise OSError("range past 65535")
            for port in range(base + 1, base + 600):
                sock = socket.socket()
                sockets.append(sock)
                sock.bind((FREE, port))
        except OSError:
            for sock in sockets:
                sock.close()
            continue
        break
    else:
        pytest.fail("no 600 free ports in a row on " + FREE)
    listening = [sockets[0], sockets[300], sockets[599]]
    for sock in listening:
        sock.listen(16)
    yield [sock.getsockname()[1] for sock in listening]
    for sock in sockets:
        sock.close()


def tcp() -> Probe:
    return registry.build("tcp", {}, TlsConfig(), Path("."))


def fanout(count: int, outcomes: Outcomes, per_host: int = 8) -> Fanout:
    def make(index: int, parts: Sink) -> Engine:
        return Engine([], 1.0, 256, max(1, per_host // count), parts)

    prober = Fanout(make, count, outcomes)
    prober.start()
    return prober


def range_job(key: int, first: int, count: int) -> Job:
    forbidden = frozenset({PortState.OPEN})
    return Job(key, "h", FREE, tuple(range(first, first + count)), {}, tcp(), forbidden)


@pytest.mark.parametrize("count", [1, 2, 3, 7])  # 7: 600 ports in parts of 86, the last one 84
def test_fanout_range_parts_merge_into_the_summary_one_prober_makes(open_ports: list[int], count: int) -> None:
    outcomes = Outcomes()
    prober = fanout(count, outcomes)
    job = range_job(1, open_ports[0], 600)
    assert len(job.ports) >= SPLIT_FROM  # cut into parts when count > 1
    try:
        prober.submit([job])
        outcome = outcomes.wait(job)
    finally:
        prober.close()
    summary = outcome.results
    assert isinstance(summary, RangeSummary)
    assert sorted(summary.offending) == open_ports  # every open port named, none else, from whichever part
    assert summary.counts == {PortState.OPEN: 3, PortState.REFUSED: 597}
    assert outcome.host_alive


def test_fanout_single_ports_go_round_the_probers_and_all_come_back(open_ports: list[int]) -> None:
    outcomes = Outcomes()
    prober = fanout(2, outcomes)
    jobs = [Job(key, "h", FREE, (port,), {}, tcp()) for key, port in enumerate([*open_ports, open_ports[0] + 1])]
    try:
        prober.submit(jobs)
        states = [[r.state for r in outcomes.wait(job).results] for job in jobs]
    finally:
        prober.close()
    assert states == [[PortState.OPEN]] * 3 + [[PortState.REFUSED]]


@pytest.fixture
def filtered() -> Iterator[list[int]]:
    ports = [FilteredPort(), FilteredPort()]
    yield [port.port for port in ports]
    for port in ports:
        port.close()


def test_fanout_host_is_dead_only_when_every_prober_saw_nothing(filtered: list[int]) -> None:
    outcomes = Outcomes()
    prober = fanout(2, outcomes)
    jobs = [Job(key, "h", "127.0.0.1", (port,), {}, tcp()) for key, port in enumerate(filtered)]
    try:
        prober.submit(jobs)
        seen = [outcomes.wait(job) for job in jobs]
    finally:
        prober.close()
    assert [[r.state for r in o.results] for o in seen] == [[PortState.FILTERED]] * 2
    assert [o.host_alive for o in seen] == [False, False]


def test_fanout_host_is_alive_when_one_prober_saw_it_answer(filtered: list[int]) -> None:
    refused = RefusedPort()
    outcomes = Outcomes()
    prober = fanout(2, outcomes)
    # One filtered port per prober, and the refused port after them: the second prober sees the host answer.
    jobs = [Job(key, "h", "127.0.0.1", (port,), {}, tcp()) for key, port in enumerate([*filtered, refused.port])]
    try:
        prober.submit(jobs)
        seen = [outcomes.wait(job) for job in jobs]
    finally:
        prober.close()
        refused.close()
    assert [o.host_alive for o in seen] == [True, True, True]


def test_plugin_probers_two_processes_give_the_verdicts_of_one(pytester: pytest.Pytester, write_spec: SpecWriter,
                                                                open_ports: list[int]) -> None:
    first = open_ports[0]
    spec = write_spec(f"""\
        version: 1
        hosts: {{h: {{address: {FREE}}}}}
        rules:
          - {{id: sweep, from: internet, to: h, range: {first}-{first + 599}, sample: all, expect: forbidden}}
          - {{id: one, from: internet, to: h, port: {open_ports[1]}, expect: required}}
    """)
    records = {}
    for probers in ("1", "2"):
        result = pytester.runpytest_subprocess("--activate-spec", str(spec), "--activate-probers", probers,
                                               "--activate-prober", "process", "--activate-evidence", f"{probers}.json")
        result.assert_outcomes(passed=1, failed=1)
        assert all(str(port) in result.stdout.str() for port in open_ports)
        document = json.loads((pytester.path / f"{probers}.json").read_text())
        records[probers] = [(r["nodeid"], r["outcome"], r["observed"]) for r in document["records"]]
    assert records["1"] == records["2"]


def test_plugin_probers_must_be_a_whole_number(pytester: pytest.Pytester, write_spec: SpecWriter) -> None:
    spec = write_spec("version: 1\nhosts: {h: {address: 127.0.0.1}}\nrules: [{id: a, from: internet, to: h, port: 1, expect: forbidden}]\n")
    result = pytester.runpytest_subprocess("--activate-spec", str(spec), "--activate-probers", "two")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "--activate-probers must be a whole number, not 'two'" in result.stderr.str()


def test_fanout_more_probers_than_parts_leaves_none_waiting(open_ports: list[int]) -> None:
    outcomes = Outcomes()
    prober = fanout(30, outcomes, per_host=30)  # 256 ports in parts of 9 make 29 parts for 30 probers
    job = range_job(1, open_ports[0] + 1, SPLIT_FROM)  # between the first and the middle listener: all refuse
    try:
        prober.submit([job])
        finished = outcomes.settle(job.key, time.monotonic() + 30)  # an empty 30th part would never finish
        summary = outcomes.wait(job).results if finished else None
    finally:
        prober.close()
    assert finished and isinstance(summary, RangeSummary) and summary.counts == {PortState.REFUSED: SPLIT_FROM}
