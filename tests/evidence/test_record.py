"""Pieces of the evidence writer: range records, redaction, atomic replacement."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

import pytest

from pytest_activate_ports.evidence.writer import write_atomic, write_json
from pytest_activate_ports.redact import REDACTED, redact
from pytest_activate_ports.results import PortSet

from .conftest import run_vantage


def test_range_check_records_counts_and_runs_not_one_result_per_port(
        pytester: pytest.Pytester, write_spec: Callable[[str], Path], refused_port: int,
        validate: Callable[[Path], dict[str, Any]]) -> None:
    spec = write_spec(f"""
        version: 1
        hosts:
          node: {{address: 127.0.0.1, roles: [compute]}}
        rules:
          - {{id: srun, from: compute, to: node, range: {refused_port}-{refused_port + 3}, expect: required}}
    """)
    run_vantage(pytester, spec, "compute", "--activate-evidence", "e.json").assert_outcomes(passed=1)
    [record] = validate(pytester.path / "e.json")["records"]
    span = f"{refused_port}-{refused_port + 3}"
    assert record["port"] == span and record["ports"] == [] and record["results"] == []
    assert record["range"]["ports"] == span and record["range"]["attempts"] == 4
    assert sum(record["range"]["counts"].values()) == 4 and record["range"]["offending"] == []
    assert record["observed"].startswith("4 sampled ports: ")
    assert record["elapsed_ms"] is not None and record["address"] == "127.0.0.1"


def test_range_check_records_every_offending_port(pytester: pytest.Pytester, write_spec: Callable[[str], Path],
                                                  refused_port: int, validate: Callable[[Path], dict[str, Any]]) -> None:
    """A range that must be dropped but answers: each of its ports is in the evidence and in the failure."""
    spec = write_spec(f"""
        version: 1
        hosts:
          node: {{address: 127.0.0.1, roles: [compute]}}
        rules:
          - {{id: perimeter, from: compute, to: node, range: {refused_port}-{refused_port + 3}, sample: all,
              expect: forbidden, state: filtered}}
    """)
    result = run_vantage(pytester, spec, "compute", "--activate-evidence", "e.json")
    result.assert_outcomes(failed=1)
    [record] = validate(pytester.path / "e.json")["records"]
    offending = record["range"]["offending"]
    assert sum(offence["count"] for offence in offending) == 4
    assert PortSet.union(PortSet.parse(offence["ports"]) for offence in offending) == PortSet.of(
        range(refused_port, refused_port + 4))
    assert f"{refused_port}-{refused_port + 3}" in record["message"]


def test_redact_replaces_secrets_everywhere_longest_first() -> None:
    document = {"a": ["token abc123 and abc", {"abc123-key": ("x", 1, None)}], "n": 2}
    assert redact(document, ["abc", "abc123", ""]) == {
        "a": [f"token {REDACTED} and {REDACTED}", {f"{REDACTED}-key": ["x", 1, None]}], "n": 2}
    assert redact(document, []) is document


def test_write_json_redacts_before_writing(tmp_path: Path) -> None:
    write_json(tmp_path / "e.json", {"reason": "pw hunter2"}, {"hunter2"}, iter([{"detail": "hunter2!"}, {"n": 2}]))
    assert json.loads((tmp_path / "e.json").read_text()) == {
        "reason": f"pw {REDACTED}", "records": [{"detail": f"{REDACTED}!"}, {"n": 2}]}


def test_write_json_streams_an_empty_record_list(tmp_path: Path) -> None:
    write_json(tmp_path / "e.json", {"complete": True}, ())
    assert json.loads((tmp_path / "e.json").read_text()) == {"complete": True, "records": []}


def test_write_atomic_leaves_nothing_behind_when_it_cannot_replace(tmp_path: Path) -> None:
    (tmp_path / "taken").mkdir()
    with pytest.raises(IsADirectoryError):
        write_atomic(tmp_path / "taken", "text")
    assert [p.name for p in tmp_path.iterdir()] == ["taken"]


def test_write_atomic_creates_missing_folders_with_a_readable_mode(tmp_path: Path) -> None:
    target = tmp_path / "ci" / "evidence" / "internet.json"
    write_atomic(target, "{}")
    assert target.read_text() == "{}" and target.stat().st_mode & 0o044  # not mkstemp's private 0600
