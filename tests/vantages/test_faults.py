"""Vantage faults with real processes: each ends the vantage's unfinished checks with one line, other vantages go on.

A start that blocks, a start that never ends, a command that is not there, a
prober that stops answering (SIGSTOP), one that is killed (SIGKILL), and the
controlling process interrupted or killed: in every case the prober's
process is gone afterwards.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pytest_activate_ports.outcomes import Outcomes, ProbingStopped
from pytest_activate_ports.results import PortState
from pytest_activate_ports.vantages import ProcessProber

from ..servers import Listener
from ..test_prober_process import jobs_for, one_rule, run, stopped_with
from .processes import children, gone, wait_until

GATE_WAIT = 10  # seconds a gated start waits for its gate before going on anyway (so old code fails, not hangs)


def gated_python(tmp_path: Path, wait: float = GATE_WAIT) -> tuple[str, Path]:
    """A WHERE whose Python starts once ``gate`` exists (after ``wait`` s at most); the script writes its pid first."""
    gate, script = tmp_path / "gate", tmp_path / "gated-python"
    script.write_text(f"#!/bin/sh\necho $$ > {tmp_path / 'pid'}\n"
                      f"for i in $(seq {int(wait * 10)}); do [ -e {gate} ] && break; sleep 0.1; done\n"
                      f'exec {sys.executable} "$@"\n')
    script.chmod(0o755)
    return f"popen//python={script}", gate


def test_vantages_start_side_by_side_and_queue_their_jobs(tmp_path: Path, listener: Listener, refused_port: int) -> None:
    """start() returns before the gateway answers; jobs given meanwhile are sent once it is up."""
    where, gate = gated_python(tmp_path)
    outcomes = Outcomes()
    probers = [ProcessProber(1.0, 8, 8, outcomes, where, name=f"vantage {n}") for n in ("a", "b")]
    jobs = [[dataclasses.replace(job, key=n) for job in jobs_for(tmp_path, one_rule(port, "required"))]
            for n, port in enumerate((listener.port, refused_port))]  # one Outcomes, two probers: keys differ
    try:
        for prober, its_jobs in zip(probers, jobs):
            prober.start()
            prober.submit(its_jobs)
        assert [prober.facts for prober in probers] == [{}, {}]  # neither is up: the gate is shut
        gate.touch()
        open_, refused = (outcomes.wait(its_jobs[0]) for its_jobs in jobs)
    finally:
        for prober in probers:
            prober.close()
    assert [r.state for r in open_.results] == [PortState.OPEN]
    assert [r.state for r in refused.results] == [PortState.REFUSED]
    assert all(prober.facts["python"] for prober in probers)


def test_vantage_that_never_comes_up_is_given_up_within_its_bound(tmp_path: Path, listener: Listener) -> None:
    where, _ = gated_python(tmp_path, wait=600)
    jobs = jobs_for(tmp_path, one_rule(listener.port, "required"))
    prober, outcomes = run(jobs, where, start_bound=1.0, name="vantage agent")
    try:
        assert outcomes.settle(jobs[0].key, time.monotonic() + 30)
        with pytest.raises(ProbingStopped, match=rf"^the vantage agent \({where}\) did not start within 1 s$"):
            outcomes.wait(jobs[0])
        assert gone(int((tmp_path / "pid").read_text()))  # the command it was waiting on was killed
    finally:
        prober.close()
    assert listener.settled(0) == 0


def test_vantage_command_that_does_not_exist(tmp_path: Path, listener: Listener) -> None:
    """Found by the shell-less command (`env` runs, its argument does not exist): no Python answered."""
    jobs = jobs_for(tmp_path, one_rule(listener.port, "required"))
    stopped_with(*run(jobs, "popen//python=env no-such-python3", name="vantage agent"), jobs[0],
                 r"^the vantage agent \(popen//python=env no-such-python3\) did not start: no Python answered \(")


def test_vantage_that_stops_answering_is_given_up(tmp_path: Path, filtered_port: int) -> None:
    """SIGSTOP: the channel stays open but nothing comes back; the heartbeat's silence ends its checks."""
    jobs = jobs_for(tmp_path, one_rule(filtered_port, "forbidden"))
    prober, outcomes = run(jobs, timeout=3.0)
    try:
        wait_until(lambda: "pid" in prober.facts)
        pid = int(prober.facts["pid"])
        os.kill(pid, signal.SIGSTOP)
        assert outcomes.settle(jobs[0].key, time.monotonic() + 60)
        with pytest.raises(ProbingStopped, match=r"^the prober \(popen//python=.*\) stopped answering: nothing heard "
                                                 r"from it for \d+ s$"):
            outcomes.wait(jobs[0])
        assert gone(pid)  # a stopped process is killed all the same
    finally:
        prober.close()


def test_one_vantage_killed_the_other_finishes(tmp_path: Path, filtered_port: int, listener: Listener) -> None:
    outcomes = Outcomes()
    doomed, healthy = (ProcessProber(30.0, 8, 8, outcomes, name=f"vantage {n}") for n in ("doomed", "healthy"))
    [slow] = jobs_for(tmp_path, one_rule(filtered_port, "forbidden"))
    [fast] = jobs_for(tmp_path, one_rule(listener.port, "required"))
    fast = dataclasses.replace(fast, key=1)  # one Outcomes, two probers: keys differ
    try:
        for prober, job in ((doomed, slow), (healthy, fast)):
            prober.start()
            prober.submit([job])
        wait_until(lambda: "pid" in doomed.facts)
        os.kill(int(doomed.facts["pid"]), signal.SIGKILL)
        with pytest.raises(ProbingStopped, match=r"^the vantage doomed \(.*\) ended before this check was probed$"):
            outcomes.wait(slow)
        assert [r.state for r in outcomes.wait(fast).results] == [PortState.OPEN]
    finally:
        doomed.close()
        healthy.close()


CONTROLLER = """
import sys, time
from pathlib import Path
from pytest_activate_ports.checks import plan
from pytest_activate_ports.outcomes import Outcomes
from pytest_activate_ports.probing import job_of
from pytest_activate_ports.spec import load_spec
from pytest_activate_ports.vantages import ProcessProber

prober = ProcessProber(30.0, 8, 8, Outcomes())
prober.start()
prober.submit([job_of(check, key) for key, check in enumerate(plan(load_spec(Path(sys.argv[1])), "internet").checks)])
try:
    while "pid" not in prober.facts:
        time.sleep(0.01)
    print(prober.facts["pid"], flush=True)
    time.sleep(600)
except KeyboardInterrupt:
    pass
finally:
    prober.close()
"""


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGKILL], ids=["ctrl-c", "sigkill"])
def test_vantage_outlives_no_controller(tmp_path: Path, filtered_port: int, signum: int) -> None:
    """Ctrl-C closes the prober; even a SIGKILL of the controller (no finally runs) ends it: its channel's end does.

    Quietly: the prober's stderr (the controller's, inherited) has no traceback of a channel that went away.
    """
    spec = tmp_path / "spec.yaml"
    spec.write_text(one_rule(filtered_port, "forbidden"))
    with subprocess.Popen([sys.executable, "-c", CONTROLLER, str(spec)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True) as controller:
        try:
            assert controller.stdout is not None and controller.stderr is not None
            pid = int(controller.stdout.readline())
            controller.send_signal(signum)
            controller.wait(30)
            assert gone(pid)
            said = controller.stderr.read()  # every writer (the controller, its prober) has ended
            assert "Traceback" not in said and "Exception" not in said, said
        finally:
            controller.kill()


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_plugin_interrupted_leaves_no_prober_behind(pytester: pytest.Pytester, filtered_port: int, signum: int) -> None:
    spec = pytester.makefile(".yaml", spec=one_rule(filtered_port, "forbidden"))
    with subprocess.Popen([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--activate-spec", str(spec),
                           "--activate-prober", "process", "--activate-timeout", "60"],
                          cwd=pytester.path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) as run:
        try:
            wait_until(lambda: children(run.pid), within=60)
            [pid] = children(run.pid)
            run.send_signal(signum)
            output, _ = run.communicate(timeout=60)
            assert gone(pid), output
            assert "KeyboardInterrupt" in output, output
        finally:
            run.kill()


SUSPENDED = """
import sys, time
from pathlib import Path
from pytest_activate_ports.checks import plan
from pytest_activate_ports.outcomes import Outcomes, ProbingStopped
from pytest_activate_ports.probing import job_of
from pytest_activate_ports.spec import load_spec
from pytest_activate_ports.vantages import ProcessProber

outcomes = Outcomes()
prober = ProcessProber(1.0, 8, 8, outcomes)
prober.start()
jobs = [job_of(check, key) for key, check in enumerate(plan(load_spec(Path(sys.argv[1])), "internet").checks)]
prober.submit(jobs)
while "pid" not in prober.facts:
    time.sleep(0.01)
print("up", flush=True)
try:
    print(outcomes.wait(jobs[0]).results[0].state.value, flush=True)
except ProbingStopped as exc:
    print(exc, flush=True)
prober.close()
"""


def test_vantage_outlives_a_suspended_pytest(tmp_path: Path, filtered_port: int) -> None:
    """Ctrl-Z, then fg: the silence was this side's (every thread stopped), not the prober's; its answers are waiting."""
    spec = tmp_path / "spec.yaml"
    spec.write_text(one_rule(filtered_port, "forbidden"))
    with subprocess.Popen([sys.executable, "-c", SUSPENDED, str(spec)], stdout=subprocess.PIPE, text=True) as controller:
        try:
            assert controller.stdout is not None
            assert controller.stdout.readline() == "up\n"
            controller.send_signal(signal.SIGSTOP)
            time.sleep(8)  # longer than the 6 s of silence that stop a prober with a check out (timeout 1 s)
            controller.send_signal(signal.SIGCONT)
            assert controller.stdout.readline() == "filtered\n"
        finally:
            controller.kill()
