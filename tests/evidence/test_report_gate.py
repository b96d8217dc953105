"""``report --fail-on-failures`` as a CI gate: an interrupted run is not a pass, even when nothing that ran failed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from pytest_activate_ports.evidence.report import main

from ..servers import Listener


def interrupted_evidence(tmp_path: Path, listener: Listener, filtered_port: int) -> Path:
    """Evidence of a real run stopped by Ctrl-C: the open port passed, the dropped one never finished."""
    spec = tmp_path / "spec.yaml"
    spec.write_text(f"""\
version: 1
hosts: {{lb: {{address: 127.0.0.1}}}}
rules:
  - {{id: up, from: internet, to: lb, port: {listener.port}, expect: required}}
  - {{id: slow, from: internet, to: lb, port: {filtered_port}, expect: required}}
""")
    evidence = tmp_path / "run.json"
    proc = subprocess.Popen(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--activate-spec", str(spec), "--activate-timeout", "60",
         "--activate-evidence", str(evidence), "-v", "-o", "asyncio_default_fixture_loop_scope=function"],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"})  # each report line as it is written
    watchdog = threading.Timer(60, proc.kill)  # never hang the suite on a run that does not report
    watchdog.start()
    try:
        assert proc.stdout is not None
        seen = b""
        while b" PASSED" not in seen:  # the passing item reports while the dropped port is still in flight
            chunk = os.read(proc.stdout.fileno(), 4096)  # pytest ends that line only when the next item starts
            assert chunk, seen.decode()
            seen += chunk
        time.sleep(0.5)  # its teardown report (which completes its record) follows the PASSED
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=15)
    finally:
        watchdog.cancel()
        proc.kill()
    return evidence


def test_report_gate_fails_an_interrupted_run_without_failures(tmp_path: Path, listener: Listener, filtered_port: int,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    evidence = interrupted_evidence(tmp_path, listener, filtered_port)
    status = main([str(evidence), "--format", "md", "--fail-on-failures"])
    err = capsys.readouterr().err
    assert status == 1, err
    assert f"failing: {evidence} is incomplete (exit status 2, 1 selected checks never ran): not a pass" in err
    assert "--allow-incomplete" in err


def test_report_gate_passes_an_interrupted_run_only_when_allowed(tmp_path: Path, listener: Listener, filtered_port: int,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    evidence = interrupted_evidence(tmp_path, listener, filtered_port)
    assert main([str(evidence), "--format", "md", "--fail-on-failures", "--allow-incomplete"]) == 0
    assert main([str(evidence), "--format", "md"]) == 0  # without the gate, the report is written and says so
    assert "is incomplete" in capsys.readouterr().err


def test_report_gate_passes_a_complete_run_without_failures(pytester: pytest.Pytester, listener: Listener,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    spec = pytester.makefile(".yaml", spec=f"""\
version: 1
hosts: {{lb: {{address: 127.0.0.1}}}}
rules: [{{id: up, from: internet, to: lb, port: {listener.port}, expect: required}}]
""")
    pytester.runpytest("--activate-spec", str(spec), "--activate-evidence", "ok.json").assert_outcomes(passed=1)
    assert main([str(pytester.path / "ok.json"), "--format", "md", "--fail-on-failures"]) == 0
    assert "failing" not in capsys.readouterr().err
