"""The prober in a process of its own: same verdicts as in pytest's thread, standard library only, and every fault an error.

Real processes throughout: execnet popen gateways to this Python (also with
``-I -S``, so nothing but the standard library and the shipped modules can be
imported), real loopback listeners, and a real SIGKILL.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path
from typing import Callable, Iterator

import pytest

from pytest_activate_ports.checks import Check, plan
from pytest_activate_ports.outcomes import Outcomes, ProbingStopped
from pytest_activate_ports.probing import SWEEP_FROM, job_of, prober_for, probers_for
from pytest_activate_ports.results import Job, PortState
from pytest_activate_ports.spec import load_spec
from pytest_activate_ports.vantages import ProcessProber

from .servers import Listener

SpecWriter = Callable[[str], Path]
STDLIB_ONLY = f"popen//python={sys.executable} -I -S"  # no site-packages, no user site, no PYTHONPATH


@pytest.fixture
def sshd() -> Iterator[Listener]:
    """A port that greets like OpenSSH: enough for the ssh probe to speak (on the prober's asyncio loop)."""
    with Listener(greeting=b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n") as server:
        yield server


def jobs_for(tmp_path: Path, text: str) -> list[Job]:
    path = tmp_path / "spec.yaml"
    path.write_text(text)
    return [job_of(check, key) for key, check in enumerate(plan(load_spec(path), ("internet",)).checks)]


def one_rule(port: int, expect: str) -> str:
    return f"version: 1\nhosts: {{h: {{address: 127.0.0.1}}}}\nrules: [{{id: one, from: internet, to: h, port: {port}, expect: {expect}}}]\n"


def stopped_with(prober: ProcessProber, outcomes: Outcomes, job: Job, pattern: str) -> None:
    """``job`` ends ProbingStopped with a message matching ``pattern``; the prober is closed either way."""
    try:
        with pytest.raises(ProbingStopped, match=pattern):
            outcomes.wait(job)
    finally:
        prober.close()


def mixed(listener: Listener, refused: int, filtered: int) -> str:
    return f"""\
version: 1
hosts:
  app: {{address: 127.0.0.1}}
rules:
  - {{id: sshd, from: internet, to: app, port: {listener.port}, expect: required, probe: ssh}}
  - {{id: ssh, from: internet, to: app, port: {refused}, expect: required}}
  - {{id: db, from: internet, to: app, ports: [{refused}, {filtered}], expect: forbidden}}
"""


def run(jobs: list[Job], where: str | None = None, timeout: float = 1.0, **kwargs: object) -> tuple[ProcessProber, Outcomes]:
    outcomes = Outcomes()
    prober = ProcessProber(timeout, 64, 8, outcomes, where, **kwargs)  # type: ignore[arg-type]
    prober.start()
    prober.submit(jobs)
    return prober, outcomes


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}").exists() and "zombie" not in Path(f"/proc/{pid}/status").read_text().lower()


@pytest.mark.parametrize("where", [None, STDLIB_ONLY], ids=["popen", "stdlib-only"])
def test_prober_process_observes_what_the_thread_does(tmp_path: Path, sshd: Listener, refused_port: int,
                                                      filtered_port: int, where: str | None) -> None:
    jobs = jobs_for(tmp_path, mixed(sshd, refused_port, filtered_port))
    prober, outcomes = run(jobs, where)
    try:
        ssh_banner, refused, db_refused, db_filtered = (outcomes.wait(job) for job in jobs)
    finally:
        prober.close()
    [banner] = ssh_banner.results
    assert banner.state is PortState.OPEN and banner.protocol is not None and banner.protocol.passed, banner.detail
    assert "OpenSSH_9.2p1" in banner.protocol.detail
    assert [r.state for r in refused.results] == [PortState.REFUSED]
    assert [r.state for r in db_refused.results] == [PortState.REFUSED]
    assert [r.state for r in db_filtered.results] == [PortState.FILTERED] and db_filtered.host_alive
    assert prober.facts["python"] == ".".join(map(str, sys.version_info[:3]))


def test_prober_process_leaves_no_process_behind(tmp_path: Path, filtered_port: int) -> None:
    jobs = jobs_for(tmp_path, one_rule(filtered_port, "forbidden"))
    prober, outcomes = run(jobs, timeout=30)
    deadline = time.monotonic() + 10
    while "pid" not in prober.facts and time.monotonic() < deadline:
        time.sleep(0.01)
    pid = int(prober.facts["pid"])
    assert pid_alive(pid)
    prober.close()  # with a probe still in flight
    assert not pid_alive(pid)
    with pytest.raises(ProbingStopped):
        outcomes.wait(jobs[0])


def test_prober_process_killed_mid_run_makes_its_checks_errors(tmp_path: Path, filtered_port: int) -> None:
    jobs = jobs_for(tmp_path, one_rule(filtered_port, "forbidden"))
    prober, outcomes = run(jobs, timeout=30)
    try:
        deadline = time.monotonic() + 10
        while "pid" not in prober.facts and time.monotonic() < deadline:
            time.sleep(0.01)
        os.kill(int(prober.facts["pid"]), signal.SIGKILL)
        with pytest.raises(ProbingStopped, match=r"^the prober \(popen//python=.*\) ended before this check was probed$"):
            outcomes.wait(jobs[0])  # long before the 30 s timeout
    finally:
        prober.close()


@pytest.mark.parametrize(("where", "cause"), [
    ("popen//python=/nonexistent/python3", "did not start: .*No such file or directory"),
    # execnet 2.1 does not wait for a gateway process that exits before its bootstrap was written
    # (an OSError escapes bootstrap_exec): the warning about that Popen is execnet's, not a leak of ours.
    pytest.param("popen//python=false", "did not start: ",
                 marks=pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")),
])
def test_prober_process_that_cannot_start_stops_every_check(tmp_path: Path, listener: Listener, where: str, cause: str) -> None:
    jobs = jobs_for(tmp_path, one_rule(listener.port, "required"))
    stopped_with(*run(jobs, where), jobs[0], rf"^the prober \({where}\) {cause}")
    assert listener.settled(0) == 0


def test_prober_process_refuses_a_python_too_old(tmp_path: Path, listener: Listener) -> None:
    """The version gate runs before anything is imported: a Python older than asked for is reported, not crashed on."""
    jobs = jobs_for(tmp_path, one_rule(listener.port, "required"))
    stopped_with(*run(jobs, min_python=(99, 0)), jobs[0],
                 r"cannot run there: Python 3\.\d+\.\d+ is too old \(the prober needs >= 99\.0\)")
    assert listener.settled(0) == 0


def test_plugin_prober_process_gives_the_same_verdicts(pytester: pytest.Pytester, write_spec: SpecWriter, sshd: Listener,
                                                      refused_port: int, filtered_port: int) -> None:
    spec = write_spec(mixed(sshd, refused_port, filtered_port))
    thread = pytester.runpytest("--activate-spec", str(spec), "--activate-timeout", "1", "-rA")
    process = pytester.runpytest_subprocess("--activate-spec", str(spec), "--activate-timeout", "1", "-rA",
                                            "--activate-prober", "process")
    thread.assert_outcomes(passed=3, failed=1)
    process.assert_outcomes(passed=3, failed=1)
    verdicts = [sorted(line.split(" - ")[0] for line in r.outlines if line.startswith(("PASSED", "FAILED"))) for r in (thread, process)]
    assert verdicts[0] == verdicts[1]


def checks_of(tmp_path: Path, ports: int, ranged: bool) -> list[Check]:
    """``ports`` connection attempts: one check per port, or one range check of them all (``sample: all``)."""
    rule = (f"{{id: r, from: internet, to: h, range: 2000-{1999 + ports}, sample: all, expect: forbidden}}" if ranged
            else f"{{id: r, from: internet, to: h, ports: [{', '.join(str(2000 + i) for i in range(ports))}], expect: forbidden}}")
    path = tmp_path / "spec.yaml"
    path.write_text(f"version: 1\nhosts: {{h: {{address: 127.0.0.1}}}}\nrules: [{rule}]\n")
    return list(plan(load_spec(path), ("internet",)).checks)


@pytest.mark.parametrize(("choice", "ports", "ranged", "where"), [
    ("auto", 999, False, "thread"), ("auto", 1000, False, "process"), ("auto", 999, True, "thread"),
    ("auto", 1000, True, "process"),  # one check, but a thousand attempts
    ("thread", 5000, False, "thread"), ("process", 1, False, "process"),
])
def test_prober_auto_moves_to_a_process_where_the_bench_shows_it_is_faster(tmp_path: Path, choice: str, ports: int,
                                                                            ranged: bool, where: str) -> None:
    assert prober_for(choice, checks_of(tmp_path, ports, ranged)) == where


@pytest.mark.parametrize(("choice", "ports", "count"), [
    (None, SWEEP_FROM - 1, 1), (None, SWEEP_FROM, os.cpu_count() or 1), (3, 10, 3), (1, SWEEP_FROM, 1),
])
def test_prober_auto_runs_one_prober_per_core_for_a_sweep(tmp_path: Path, choice: int | None, ports: int, count: int) -> None:
    assert probers_for(choice, checks_of(tmp_path, ports, True)) == count
