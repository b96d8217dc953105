"""pytest-xdist: the same evidence, JUnit names, matrix and counts as a run without ``-n``."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any, Callable

import pytest

from .servers import Listener

pytest.importorskip("xdist")

SpecWriter = Callable[[str], Path]
TIMING = ("finished", "elapsed_ms")  # what differs between two runs of the same checks
RUN_FIELDS = ("started", "finished", "options", "exit_status")


def mixed_spec(write_spec: SpecWriter, open_port: int, refused: int) -> Path:
    """Four hosts, passes and failures on each, so every worker has some of both."""
    hosts = "".join(f"  h{i}: {{address: 127.0.0.{i + 1}, roles: [t]}}\n" for i in range(4))
    return write_spec(f"""\
version: 1
hosts:
{hosts}  up: {{address: 127.0.0.1}}
rules:
  - {{id: must-answer, from: internet, to: t, port: {refused}, expect: required}}
  - {{id: closed, from: internet, to: t, ports: [{refused}, {refused + 1}], expect: forbidden}}
  - {{id: listening, from: internet, to: up, port: {open_port}, expect: required}}
""")


def evidence(path: Path) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(path.read_text())
    for record in document["records"]:
        for key in TIMING:
            record.pop(key)
        for result in record["results"]:
            result.pop("elapsed_ms")
            result.pop("source")  # the ephemeral source port
            result["detail"] = result["detail"].split(" after ")[0]
        record["message"] = record["message"].split(" after ")[0]
    return document


def junit_names(path: Path) -> list[tuple[str | None, str | None, bool]]:
    return [(case.get("classname"), case.get("name"), case.find("failure") is not None)
            for case in ET.parse(path).iter("testcase")]


def failures(result: pytest.RunResult) -> list[str]:
    """The short summary's FAILED lines, elapsed times left out (they differ from run to run)."""
    return sorted(re.sub(r"after \d+ ms", "after N ms", line) for line in result.outlines if line.startswith("FAILED"))


def run_both(pytester: pytest.Pytester, spec: Path, *args: str) -> tuple[pytest.RunResult, pytest.RunResult]:
    plain = pytester.runpytest_subprocess("--activate-spec", str(spec), "--activate-evidence", "plain.json",
                                          "--junitxml=plain.xml", *args)
    dist = pytester.runpytest_subprocess("--activate-spec", str(spec), "--activate-evidence", "dist.json",
                                         "--junitxml=dist.xml", "-n", "2", "--dist", "loadgroup", *args)
    return plain, dist


def test_plugin_xdist_evidence_equals_the_run_without_xdist(pytester: pytest.Pytester, write_spec: SpecWriter,
                                                            listener: Listener, refused_port: int) -> None:
    spec = mixed_spec(write_spec, listener.port, refused_port)
    plain, dist = run_both(pytester, spec)
    plain.assert_outcomes(passed=9, failed=4)
    dist.assert_outcomes(passed=9, failed=4)
    ours, theirs = evidence(pytester.path / "plain.json"), evidence(pytester.path / "dist.json")
    assert len(theirs["records"]) == 13 and theirs["summary"]["failed"] == 4
    assert theirs["records"] == ours["records"]
    assert {k: v for k, v in theirs.items() if k not in RUN_FIELDS} == {k: v for k, v in ours.items() if k not in RUN_FIELDS}
    assert theirs["complete"] is True and theirs["not_run"] == []


def test_plugin_xdist_junit_names_and_node_ids_equal_the_run_without_xdist(
        pytester: pytest.Pytester, write_spec: SpecWriter, listener: Listener, refused_port: int) -> None:
    spec = mixed_spec(write_spec, listener.port, refused_port)
    plain, dist = run_both(pytester, spec, "-rf")
    assert sorted(junit_names(pytester.path / "dist.xml")) == sorted(junit_names(pytester.path / "plain.xml"))
    failed = failures(dist)
    assert failed == failures(plain)
    reason = " - " if pytest.version_tuple >= (9,) else ""  # pytest 8 leaves a text failure's reason out of -rf
    assert any(line.startswith(f"FAILED spec.yaml::must-answer[h0:{refused_port}]{reason}") for line in failed)
    assert not any("@" in line for line in failed)


def test_plugin_xdist_shows_the_matrix_and_counts(pytester: pytest.Pytester, write_spec: SpecWriter,
                                                  listener: Listener, refused_port: int) -> None:
    spec = mixed_spec(write_spec, listener.port, refused_port)
    plain, dist = run_both(pytester, spec)
    for result in (plain, dist):
        result.stdout.fnmatch_lines(["*activate port matrix (role internet)*", "activate: 1 required ok, 8 forbidden ok, 4 failed"])
    matrix = [line for line in plain.outlines if line.startswith(("h", "up", "host"))]
    assert matrix and matrix == [line for line in dist.outlines if line.startswith(("h", "up", "host"))]


def test_plugin_xdist_deselected_and_interrupted_items_are_listed(pytester: pytest.Pytester, write_spec: SpecWriter,
                                                                  listener: Listener, refused_port: int) -> None:
    spec = mixed_spec(write_spec, listener.port, refused_port)
    plain, dist = run_both(pytester, spec, "-k", "not listening", "-x")
    ours, theirs = evidence(pytester.path / "plain.json"), evidence(pytester.path / "dist.json")
    assert theirs["deselected"] == ours["deselected"] == [f"spec.yaml::listening[up:{listener.port}]"]
    assert ours["complete"] is False and theirs["complete"] is False  # -x stopped both before every check ran
    assert len(theirs["records"]) + len(theirs["not_run"]) == 12


def test_plugin_xdist_workers_probe_only_their_hosts(pytester: pytest.Pytester, write_spec: SpecWriter, listener: Listener) -> None:
    """With -n 2 --dist loadgroup each host's checks stay on one worker and every port is dialled once."""
    hosts = "".join(f"  h{i}: {{address: 127.0.0.1, roles: [t]}}\n" for i in range(6))
    rules = "".join(f"  - {{id: up{i}, from: internet, to: t, port: {listener.port}, expect: required}}\n" for i in range(10))
    spec = write_spec(f"version: 1\nhosts:\n{hosts}rules:\n{rules}")
    result = pytester.runpytest_subprocess("--activate-spec", str(spec), "-n", "2", "--dist", "loadgroup", "-v")
    result.assert_outcomes(passed=60)
    result.stdout.fnmatch_lines(["scheduling tests via HostGroupScheduling"])
    assert listener.settled(60) == 60  # each worker probed only its own hosts' checks
