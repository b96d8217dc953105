"""The engine: everything in flight at once, bounded per host, and clean on cancel.

Concurrency is observed in the kernel (connections in SYN-SENT towards a
dropping port, read from /proc/net/tcp), never inferred from timings.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from pytest_activate_ports.checks import plan
from pytest_activate_ports.prober.engine import Engine
from pytest_activate_ports.outcomes import Outcomes, ProbingStopped
from pytest_activate_ports.probing import job_of
from pytest_activate_ports.results import Job
from pytest_activate_ports.spec import load_spec

from .servers import Listener

SYN_SENT = "02"


def syn_sent_to(port: int) -> int:
    """Connections currently in SYN-SENT towards 127.0.0.1:port (including the FilteredPort's own fillers)."""
    return _sockets_to(port, SYN_SENT)


def _sockets_to(port: int, state: str) -> int:
    """Distinct local sockets in ``state`` towards 127.0.0.1:port.

    /proc/net/tcp is not a snapshot: a walk during changes can list a socket
    twice, so sockets are counted by their (unique) local address.
    """
    remote = f"0100007F:{port:04X}"
    with open("/proc/net/tcp") as table:
        rows = [line.split() for line in table.readlines()[1:]]
    return len({row[1] for row in rows if row[2] == remote and row[3] == state})


def jobs_of(path: Path) -> list[Job]:
    """The engine's jobs for every check the spec at ``path`` asks of the internet."""
    return [job_of(check, key) for key, check in enumerate(plan(load_spec(path), ("internet",)).checks)]


def checks_for(tmp_path: Path, hosts: int, rules: int, port: int) -> list[Job]:
    host_lines = "".join(f"  h{i}: {{address: 127.0.0.1, roles: [target]}}\n" for i in range(hosts))
    rule_lines = "".join(f"  - {{id: r{i}, from: internet, to: target, port: {port}, expect: required}}\n" for i in range(rules))
    path = tmp_path / "spec.yaml"
    path.write_text(f"version: 1\nhosts:\n{host_lines}rules:\n{rule_lines}")
    return jobs_of(path)


def engine_for(jobs: list[Job], timeout: float, concurrency: int, per_host: int = 8) -> tuple[Engine, Outcomes]:
    """An engine for ``jobs`` and the outcomes it reports to."""
    outcomes = Outcomes()
    return Engine(jobs, timeout, concurrency, per_host, outcomes), outcomes


def peak_while_running(engine: Engine, outcomes: Outcomes, port: int, expected: int) -> int:
    """Sample the kernel until ``expected`` SYN-SENT sockets are seen or every probe ended."""
    peak = 0
    baseline = syn_sent_to(port)
    engine.start()
    try:
        for job in engine.jobs:
            while not outcomes.done(job.key):
                peak = max(peak, syn_sent_to(port) - baseline)
                if peak >= expected:
                    return peak
                time.sleep(0.01)
        return peak
    finally:
        engine.close()


def test_engine_probes_every_check_at_once(tmp_path: Path, filtered_port: int) -> None:
    """300 dropped ports on 300 hosts are all in flight together: they cost one timeout, not 300."""
    engine, outcomes = engine_for(checks_for(tmp_path, 300, 1, filtered_port), timeout=3, concurrency=1000)
    assert peak_while_running(engine, outcomes, filtered_port, 300) == 300


def test_engine_limits_probes_per_host(tmp_path: Path, filtered_port: int) -> None:
    engine, outcomes = engine_for(checks_for(tmp_path, 1, 40, filtered_port), timeout=0.5, concurrency=1000)
    assert peak_while_running(engine, outcomes, filtered_port, 9) == 8


def test_engine_limits_probes_globally(tmp_path: Path, filtered_port: int) -> None:
    engine, outcomes = engine_for(checks_for(tmp_path, 40, 1, filtered_port), timeout=0.5, concurrency=5)
    assert peak_while_running(engine, outcomes, filtered_port, 6) == 5


def open_descriptors() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_engine_close_mid_flight_leaves_no_thread_or_socket(tmp_path: Path, filtered_port: int) -> None:
    checks = checks_for(tmp_path, 50, 1, filtered_port)
    before = open_descriptors()
    baseline = syn_sent_to(filtered_port)
    engine, outcomes = engine_for(checks, timeout=60, concurrency=100)
    engine.start()
    while syn_sent_to(filtered_port) - baseline < 50:
        time.sleep(0.01)
    engine.close()
    assert [t.name for t in threading.enumerate() if t.name.startswith(("activate-probes", "asyncio_"))] == []
    assert open_descriptors() == before
    assert syn_sent_to(filtered_port) == baseline
    with pytest.raises(ProbingStopped):
        outcomes.wait(checks[0])


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_plugin_interrupt_stops_quickly_without_traceback(tmp_path: Path, filtered_port: int, signum: int) -> None:
    """Ctrl-C, or a CI runner's SIGTERM, cancels the probes and ends the run as interrupted."""
    spec = tmp_path / "spec.yaml"
    spec.write_text(textwrap.dedent(f"""
        version: 1
        hosts: {{lb: {{address: 127.0.0.1, roles: [lb]}}}}
        rules:
          - {{id: slow, from: internet, to: lb, port: {filtered_port}, expect: required}}
    """))
    baseline = syn_sent_to(filtered_port)
    proc = subprocess.Popen(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--activate-spec", str(spec), "--activate-timeout", "60",
         "-o", "asyncio_default_fixture_loop_scope=function"],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        while syn_sent_to(filtered_port) == baseline:
            time.sleep(0.02)
        proc.send_signal(signum)
        output, _ = proc.communicate(timeout=10)
    finally:
        proc.kill()
    assert proc.returncode == pytest.ExitCode.INTERRUPTED
    assert "KeyboardInterrupt" in output
    assert "Traceback" not in output
    if signum == signal.SIGINT:
        assert "pytest_activate_ports" not in output  # no frames of ours in the interrupt report
    else:
        assert "KeyboardInterrupt: terminated by signal 15" in output


def test_plugin_finishes_correctly_with_64_descriptors(tmp_path: Path, listener: Listener, refused_port: int) -> None:
    """Far more probes asked in flight than descriptors exist: slower, never wrong."""
    hosts = "".join(f"  h{i}: {{address: 127.0.0.1, roles: [t]}}\n" for i in range(150))
    spec = tmp_path / "spec.yaml"
    spec.write_text(f"version: 1\nhosts:\n{hosts}rules:\n"
                    f"  - {{id: up, from: internet, to: t, port: {listener.port}, expect: required}}\n"
                    f"  - {{id: shut, from: internet, to: t, port: {refused_port}, expect: forbidden}}\n")

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))

    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--activate-spec", str(spec),
         "--activate-concurrency", "500", "-o", "asyncio_default_fixture_loop_scope=function"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120, preexec_fn=limit)
    assert done.returncode == 0, done.stdout[-2000:]
    assert "300 passed" in done.stdout
    assert listener.settled(150) == 150


ESTABLISHED = "01"


def established_to(port: int) -> int:
    """Client-side connections currently established towards 127.0.0.1:port."""
    return _sockets_to(port, ESTABLISHED)


def test_engine_holds_500_protocol_probes_at_once(tmp_path: Path) -> None:
    """500 HTTP probes against a server that never answers are all waiting together: one timeout, not 500."""
    with Listener(hold=True) as tarpit:
        hosts = "".join(f"  h{i}: {{address: 127.0.0.1, roles: [t]}}\n" for i in range(500))
        path = tmp_path / "spec.yaml"
        path.write_text(f"version: 1\nhosts:\n{hosts}rules:\n"
                        f"  - {{id: web, from: internet, to: t, port: {tarpit.port}, expect: required, probe: http}}\n")
        engine, outcomes = engine_for(jobs_of(path), timeout=5, concurrency=1000)
        engine.start()
        peak = 0
        try:
            while peak < 500 and not all(outcomes.done(job.key) for job in engine.jobs):
                peak = max(peak, established_to(tarpit.port))
                time.sleep(0.02)
        finally:
            engine.close()
    assert peak == 500


IMPORTS_AT_EXIT = textwrap.dedent("""
    import json, sys

    def pytest_unconfigure(config):
        with open("imports.json", "w") as out:
            json.dump(sorted(m for m in ("asyncio", "ssl") if m in sys.modules), out)
""")


@pytest.mark.parametrize(("rules", "loaded", "summary"), [
    ("  - {{id: up, from: internet, to: lb, port: {open}, expect: required}}\n"
     "  - {{id: shut, from: internet, to: lb, port: {refused}, expect: forbidden}}\n", [], "2 passed"),
    # the listener hangs up at once, so the http probe fails: it spoke all the same
    ("  - {{id: web, from: internet, to: lb, port: {open}, expect: required, probe: http}}\n", ["asyncio", "ssl"], "1 failed"),
], ids=["dial-only", "talking-probe"])
def test_plugin_loads_asyncio_only_when_a_probe_talks(tmp_path: Path, listener: Listener, refused_port: int,
                                                       rules: str, loaded: list[str], summary: str) -> None:
    """A session of tcp and forbidden checks costs no asyncio/ssl import (megabytes of memory); a talking probe does."""
    (tmp_path / "recorder.py").write_text(IMPORTS_AT_EXIT)
    spec = tmp_path / "spec.yaml"
    spec.write_text("version: 1\nhosts: {lb: {address: 127.0.0.1, roles: [lb]}}\nrules:\n"
                    + rules.format(open=listener.port, refused=refused_port))
    env = {**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1", "PYTHONPATH": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "pytest_activate_ports.plugin", "-p", "recorder",
         "--activate-spec", str(spec), "--activate-timeout", "5", "--junitxml", "out.xml"],
        cwd=tmp_path, capture_output=True, text=True, timeout=60, env=env)
    assert summary in done.stdout, done.stdout[-2000:]
    assert json.loads((tmp_path / "imports.json").read_text()) == loaded
