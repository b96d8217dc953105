"""``--activate-evidence``: the JSON file, validated against the published schema, from real runs."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

import pytest

from .conftest import INTERNET_NODES, outcomes, run_vantage

Validate = Callable[[Path], dict[str, Any]]


def test_evidence_file_validates_and_records_every_item(pytester: pytest.Pytester, vantage_spec: Path,
                                                         validate: Validate) -> None:
    result = run_vantage(pytester, vantage_spec, "internet", "--activate-evidence", "out/internet.json")
    result.assert_outcomes(passed=2, failed=2, skipped=1)
    document = validate(pytester.path / "out" / "internet.json")
    assert document["complete"] is True and document["exit_status"] == 1
    assert document["role"] == "internet"
    assert outcomes(document) == dict(zip(INTERNET_NODES, ["passed", "failed", "skipped", "passed", "failed"]))
    [spec] = document["specs"]
    assert spec["path"] == str(vantage_spec) and spec["name"] == "acme-test"
    assert spec["sha256"] == hashlib.sha256(vantage_spec.read_bytes()).hexdigest()
    assert document["tool"]["name"] == "pytest-activate-ports" and document["pytest"] == pytest.__version__
    assert document["runner"]["hostname"] and document["started"] <= document["finished"]
    assert all(document["started"] <= r["finished"] <= document["finished"] and r["finished"].endswith("Z")
               for r in document["records"])
    assert document["options"]["timeout"] == 1.0 and "--activate-role" in document["options"]["args"]
    assert document["summary"] == {"passed": 2, "failed": 2, "skipped": 1, "error": 0,
                                   "required_ok": 1, "optional_ok": 0, "forbidden_ok": 1}
    assert not document["not_run"] and not document["deselected"]
    assert [p.name for p in (pytester.path / "out").iterdir()] == ["internet.json"]  # no temp file left behind


def test_evidence_record_says_what_was_observed(pytester: pytest.Pytester, vantage_spec: Path, validate: Validate,
                                                refused_port: int) -> None:
    run_vantage(pytester, vantage_spec, "internet", "--activate-evidence", "e.json")
    records = {r["rule"]: r for r in validate(pytester.path / "e.json")["records"]}
    failed = records["http-redirect"]
    assert failed["outcome"] == "failed" and failed["expect"] == "required" and failed["port"] == "80"
    assert failed["address"] == "127.0.0.1" and failed["observed"] == "refused: connection refused (RST)"
    assert "must be open (tcp) but is refused" in failed["message"]
    [result] = failed["results"]
    assert (result["port"], result["dialled"], result["state"]) == (80, refused_port, "refused")
    assert result["errno"] is not None and result["elapsed_ms"] >= 0
    assert records["ui-https"]["results"][0]["protocol"]["passed"] is True
    assert records["ui-https"]["results"][0]["source"].startswith("127.0.0.1:")
    skipped = records["cac-mtls"]
    assert skipped["outcome"] == "skipped" and skipped["message"].startswith("not applicable: when 'cac_auth' is false")
    assert skipped["results"] == [] and skipped["observed"] == "not probed"


def test_evidence_redacts_secrets_expanded_from_the_environment(pytester: pytest.Pytester, vantage_spec: Path,
                                                                 validate: Validate, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("API_TOKEN", "tok-5ecret-value")
    vantage_spec.write_text(vantage_spec.read_text().replace("reason: UI, REST API and agent tunnels",
                                                             'reason: "UI (token ${API_TOKEN})"'))
    run_vantage(pytester, vantage_spec, "internet", "--activate-evidence", "e.json", "--junitxml", "j.xml",
                "-o", "junit_family=xunit1")
    text = (pytester.path / "e.json").read_text()
    assert "tok-5ecret-value" not in text and "tok-5ecret-value" not in (pytester.path / "j.xml").read_text()
    records = {r["rule"]: r for r in validate(pytester.path / "e.json")["records"]}
    assert records["ui-https"]["reason"] == "UI (token [redacted])"


def test_evidence_of_an_interrupted_run_is_written_and_marked_incomplete(pytester: pytest.Pytester, vantage_spec: Path,
                                                                          validate: Validate) -> None:
    pytester.makeconftest("""
        import pytest

        @pytest.hookimpl(tryfirst=True)
        def pytest_runtest_setup(item):
            if item.name.startswith("cac-mtls"):
                raise KeyboardInterrupt
    """)
    result = run_vantage(pytester, vantage_spec, "internet", "--activate-evidence", "e.json")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    document = validate(pytester.path / "e.json")
    assert document["complete"] is False and document["exit_status"] == 2
    assert list(outcomes(document)) == ["ui-https[lb:443]", "http-redirect[lb:80]"]
    assert [n.split("::")[1] for n in document["not_run"]] == INTERNET_NODES[2:]


def test_evidence_of_a_run_stopped_by_maxfail_lists_what_never_ran(pytester: pytest.Pytester, vantage_spec: Path,
                                                                    validate: Validate) -> None:
    run_vantage(pytester, vantage_spec, "internet", "--activate-evidence", "e.json", "-x")
    document = validate(pytester.path / "e.json")
    assert document["complete"] is False
    assert len(document["records"]) == 2 and len(document["not_run"]) == 3


def test_evidence_names_deselected_checks(pytester: pytest.Pytester, vantage_spec: Path, validate: Validate) -> None:
    run_vantage(pytester, vantage_spec, "internet", "--activate-evidence", "e.json", "-k", "not mongodb")
    document = validate(pytester.path / "e.json")
    assert document["complete"] is True and len(document["records"]) == 4
    assert [n.split("::")[1] for n in document["deselected"]] == ["mongodb-internal[db:27017]"]


def test_evidence_of_a_broken_spec_is_incomplete_with_the_error(pytester: pytest.Pytester, write_spec: Callable[[str], Path],
                                                                validate: Validate) -> None:
    spec = write_spec("version: 1\nhosts: {lb: {address: 127.0.0.1}}\nrules:\n  - id: x\n    from: internet\n"
                      "    to: lb\n    port: 99999\n    expect: required\n")
    run_vantage(pytester, spec, "internet", "--activate-evidence", "e.json")
    document = validate(pytester.path / "e.json")
    assert document["complete"] is False and document["records"] == []
    [error] = document["collection_errors"]
    assert "spec.yaml:7:" in error


def test_evidence_replaces_an_existing_file_atomically(pytester: pytest.Pytester, vantage_spec: Path, validate: Validate) -> None:
    target = pytester.path / "e.json"
    target.write_text("old")
    target.chmod(0o640)
    run_vantage(pytester, vantage_spec, "internet", "--activate-evidence", str(target))
    assert validate(target)["complete"] is True
    assert target.stat().st_mode & 0o777 == 0o640


def test_evidence_survives_a_real_ctrl_c_while_probes_are_in_flight(pytester: pytest.Pytester, write_spec: Callable[[str], Path],
                                                                     refused_port: int, filtered_port: int, validate: Validate) -> None:
    spec = write_spec(f"""
        version: 1
        hosts:
          lb: {{address: 127.0.0.1, roles: [control-plane], port_map: {{80: {refused_port}, 443: {filtered_port}}}}}
        rules:
          - {{id: redirect, from: internet, to: lb, port: 80, expect: required}}
          - {{id: ui, from: internet, to: lb, port: 443, expect: required}}
    """)
    command = [sys.executable, "-u", "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:hypothesispytest", "--activate-spec", str(spec),
               "--activate-timeout", "30", "--activate-evidence", "e.json"]
    with subprocess.Popen(command, cwd=pytester.path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.startswith("activate: spec"):  # collection is done; the run loop starts the probes next
                break
        time.sleep(0.5)
        started = time.monotonic()
        os.kill(proc.pid, signal.SIGINT)
        output = proc.stdout.read()
        assert proc.wait(timeout=10) == pytest.ExitCode.INTERRUPTED, output
    assert time.monotonic() - started < 5  # did not wait out the 30 s probe timeout
    document = validate(pytester.path / "e.json")
    assert document["complete"] is False
    assert [n.split("::")[1] for n in document["not_run"]][-1] == "ui[lb:443]"


def test_evidence_path_is_named_after_the_run(pytester: pytest.Pytester, vantage_spec: Path) -> None:
    result = run_vantage(pytester, vantage_spec, "internet", "--activate-evidence", "e.json")
    result.stdout.fnmatch_lines([f"*- activate evidence: {pytester.path / 'e.json'} -*"])
    result = run_vantage(pytester, vantage_spec, "internet", "--activate-evidence", "e.json", "-x")
    result.stdout.fnmatch_lines(["*- activate evidence: *e.json (incomplete run) -*"])


def test_evidence_that_cannot_be_written_fails_the_run(pytester: pytest.Pytester, vantage_spec: Path) -> None:
    (pytester.path / "taken").mkdir()
    result = run_vantage(pytester, vantage_spec, "control-plane", "--activate-evidence", "taken", "-k", "mongodb")
    assert result.ret == pytest.ExitCode.INTERNAL_ERROR
    result.stdout.fnmatch_lines(["*activate: could not write the evidence file *taken: Is a directory*"])
    assert [p.name for p in pytester.path.iterdir() if p.name.startswith(".taken")] == []
