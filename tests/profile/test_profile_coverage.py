"""Every row of the port guide has a rule that quotes it, and the traceability report is current."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pytest_activate_ports.profiles import trace
from pytest_activate_ports.profiles.guide import TITLES, GuideError, GuideRow, parse_guide

from .conftest import GUIDE_COPY, REPO, SHARED_GUIDE


def test_guide_copy_matches_the_shared_reference() -> None:
    if not SHARED_GUIDE.is_file():
        pytest.skip(f"no shared reference at {SHARED_GUIDE}; the committed copy {GUIDE_COPY.name} is used")
    assert GUIDE_COPY.read_bytes() == SHARED_GUIDE.read_bytes(), "the port guide changed: copy it to docs/ and review the profile"


def test_guide_parser_reads_every_table(guide_text: str) -> None:
    rows = parse_guide(guide_text)
    assert len(rows) == 52
    assert [title for title in dict.fromkeys(row.table for row in rows)] == list(TITLES)
    summary = [row for row in rows if row.table == "Summary"]
    assert len(summary) == 20
    assert summary[-1].ports == (8192, 60000) and summary[-1].purpose == "Slurm srun ports"
    assert summary[0].cell("Location") == "Control plane LB" and summary[0].cell("Required") == "Yes"


def test_guide_parser_rejects_a_row_that_does_not_fit_its_header(guide_text: str) -> None:
    broken = guide_text.replace("| 5432 | TCP | PostgreSQL |", "| 5432 | TCP |", 1)
    with pytest.raises(GuideError, match=r"line 16: a table row that does not fit its header"):
        parse_guide(broken)


def test_guide_parser_asks_for_review_when_a_table_is_added(guide_text: str) -> None:
    with pytest.raises(GuideError, match="17 tables, expected 16; review TITLES"):
        parse_guide(guide_text + "\n| Port | Purpose |\n|---|---|\n| 9999 | Something new |\n")


def test_every_guide_row_has_a_rule(guide_text: str, profile_document: dict[str, Any]) -> None:
    traced = trace.trace(parse_guide(guide_text), trace.profile_rules(profile_document))
    missing = [f"line {row.line} ({row.table}): {row.cell('Port')} {row.purpose}" for row, rules in traced if not rules]
    assert not missing, "guide rows without a rule:\n" + "\n".join(missing)


def test_every_rule_quotes_a_guide_row(guide_text: str, profile_document: dict[str, Any]) -> None:
    rules = trace.profile_rules(profile_document)
    traced = {rule.id for _, found in trace.trace(parse_guide(guide_text), rules) for rule in found}
    assert [rule.id for rule in rules if rule.id not in traced] == []


def test_identical_rows_of_cluster_kinds_trace_to_their_own_rules(guide_text: str, profile_document: dict[str, Any]) -> None:
    traced = trace.trace(parse_guide(guide_text), trace.profile_rules(profile_document))
    by_row = {(row.table, row.cell("Port")): [rule.id for rule in rules] for row, rules in traced}
    assert by_row["Cloud clusters", "22"] == ["cloud-cluster-ssh"]
    assert by_row["Managed clusters", "443"] == ["managed-cluster-agent-443"]
    assert by_row["Existing clusters", "22"] == ["existing-cluster-ssh"]


def test_a_rule_covers_a_row_only_with_its_port_and_quoted_purpose() -> None:
    row = GuideRow("Databases", 16, (("Port", "5432"), ("Service", "PostgreSQL"), ("Notes", "Usage metrics")))
    rule = trace.ProfileRule("pg", ("a",), ("b",), (5432,), None, "required", "postgres", "", "PostgreSQL: usage  Metrics")
    assert trace.covers(rule, row)
    assert not trace.covers(trace.ProfileRule("pg", ("a",), ("b",), (5433,), None, "required", "postgres", "", rule.reason), row)
    assert not trace.covers(trace.ProfileRule("pg", ("a",), ("b",), (5432,), None, "required", "postgres", "", "PostgreSQL"), row)
    assert not trace.covers(rule, row, ambiguous=True)  # the table's title is not quoted


def test_range_rows_need_exactly_the_range() -> None:
    row = GuideRow("Slurm", 64, (("Port", "8192\u201360000"), ("Purpose", "Slurm srun ports")))
    exact = trace.ProfileRule("srun", ("a",), ("b",), (), (8192, 60000), "required", "tcp", "", "Slurm srun ports")
    wider = trace.ProfileRule("srun", ("a",), ("b",), (), (1024, 65535), "required", "tcp", "", "Slurm srun ports")
    assert trace.covers(exact, row) and not trace.covers(wider, row)


def test_traceability_report_is_up_to_date() -> None:
    report = REPO / "docs" / "traceability.md"
    assert trace.main(["--guide", str(GUIDE_COPY), "--output", str(report), "--check"]) == 0, (
        "docs/traceability.md is stale: python -m pytest_activate_ports.profiles.trace --output docs/traceability.md")


def test_traceability_report_lists_every_row_with_its_rules(guide_text: str, profile_document: dict[str, Any]) -> None:
    report = trace.render(guide_text, profile_document)
    assert "**no rule**" not in report
    assert "| 99 | 5432 | PostgreSQL | `internet-no-postgres` | internet | control-plane | 5432 | forbidden | closed | always |" in report
    assert "|  |  |  | `legacy-api-removed` | control-plane-internal | legacy-api | 4006 | forbidden | closed | " \
           "`platform_version >= 8` |" in report
    assert "| `cac_auth` | `False` | `lb-cac-mtls`, `lb-cac-mtls-if-open`, `internet-default-deny` |" in report


def test_traceability_check_reports_a_stale_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    stale = tmp_path / "traceability.md"
    stale.write_text("old\n")
    assert trace.main(["--guide", str(GUIDE_COPY), "--output", str(stale), "--check"]) == 1
    assert "is out of date" in capsys.readouterr().out
