"""``activate-ports report``: evidence of several vantages merged into one HTML or Markdown report."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest

from pytest_activate_ports.evidence.report import main

from .conftest import CONTROL_PLANE_NODES, INTERNET_NODES, run_vantage

ALL_ROWS = ["ui-https[lb:443]", "http-redirect[lb:80]", "cac-mtls[lb:8443]", "postgres-internal[db:5432]",
            "mongodb-internal[db:27017]", "postgres[db:5432]", "mongodb[db:27017]"]


class SummaryTable(HTMLParser):
    """The rows of ``table#port-summary``: (rule[host:port], [cell texts])."""

    def __init__(self, page: str) -> None:
        super().__init__()
        self.rows: list[tuple[str, list[str]]] = []
        self.failures: list[str] = []
        self._inside = False
        self._cell: list[str] | None = None
        self.feed(page)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attr = dict(attrs)
        if tag == "table":
            self._inside = attr.get("id") == "port-summary"
        elif tag == "tr" and self._inside and "data-rule" in attr:
            self.rows.append((f"{attr['data-rule']}[{attr['data-host']}:{attr['data-port']}]", []))
        elif tag == "td" and self._inside and self.rows:
            self._cell = []
        elif tag == "article" and attr.get("class") == "failure":
            self.failures.append(str(attr["data-nodeid"]).split("::")[1])

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "td" and self._cell is not None:
            self.rows[-1][1].append("".join(self._cell))
            self._cell = None
        elif tag == "table":
            self._inside = False


def report(capsys: pytest.CaptureFixture[str], *args: str | Path) -> tuple[int, str, str]:
    status = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return status, out, err


def test_report_html_shows_every_item_of_both_vantages(two_vantages: tuple[Path, Path], tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = report(capsys, *two_vantages, "-o", tmp_path / "report.html")
    assert status == 0 and "wrote" in err and "warning" not in err
    page = (tmp_path / "report.html").read_text()
    table = SummaryTable(page)
    assert [name for name, _ in table.rows] == ALL_ROWS
    verdicts = {name: cells[-2:] for name, cells in table.rows}
    assert verdicts["ui-https[lb:443]"] == ["pass", "pass"]
    assert verdicts["http-redirect[lb:80]"] == ["FAIL", "—"]
    assert verdicts["cac-mtls[lb:8443]"] == ["not applicable", "—"]
    assert verdicts["postgres[db:5432]"] == ["—", "FAIL"]
    port, protocol, location, direction, required, purpose = dict(table.rows)["mongodb-internal[db:27017]"][:6]
    assert (port, protocol, location, direction) == ("27017", "tcp", "db (database)127.0.0.1", "internet → database")
    assert required == "No (must be closed)" and purpose.startswith("MongoDB stays inside the cluster")
    assert dict(table.rows)["cac-mtls[lb:8443]"][4] == "Conditional (cac_auth): Optional"
    assert table.failures == ["http-redirect[lb:80]", "mongodb-internal[db:27017]", "postgres[db:5432]"]
    assert page.index('id="failures"') < page.index('id="port-summary"')  # failures first


def test_report_html_is_self_contained(two_vantages: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    report(capsys, *two_vantages, "-o", tmp_path / "report.html")
    page = (tmp_path / "report.html").read_text()
    page = re.sub(r'"url\(#arrow-[a-z-]+\)"', "", page)  # the picture's arrowheads: references inside the page
    for external in ("<script", "<link", "src=", "url(", "@import", "http://", "https://", "href"):
        assert external not in page


def test_report_markdown_mirrors_the_guide_table(two_vantages: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = report(capsys, *two_vantages, "--format", "md")
    assert status == 0
    assert "| Port | Protocol | Location | Direction | Required | Purpose | internet | control-plane |" in out
    rows = [line for line in out.splitlines() if line.startswith("| ") and "·" in line]
    assert len(rows) == len(ALL_ROWS)
    assert "| 80 | tcp | lb (control-plane) 127.0.0.1 | internet → control-plane | Yes | HTTP-to-HTTPS redirect " \
           "(acme-test · http-redirect) | **FAIL** | — |" in out
    assert out.index("## Failures (3)") < out.index("## Port summary")
    assert "### FAILED internet · http-redirect \\[lb:80\\]" in out


def test_report_format_follows_the_output_suffix(two_vantages: tuple[Path, Path], tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    report(capsys, *two_vantages, "-o", tmp_path / "r.md")
    assert (tmp_path / "r.md").read_text().startswith("# ACTIVATE network port report")


def test_report_warns_when_vantages_ran_different_specs(pytester: pytest.Pytester, vantage_spec: Path, tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    run_vantage(pytester, vantage_spec, "internet", "--activate-evidence", "a.json")
    vantage_spec.write_text(vantage_spec.read_text() + "# edited between the runs\n")
    run_vantage(pytester, vantage_spec, "control-plane", "--activate-evidence", "b.json")
    status, out, err = report(capsys, pytester.path / "a.json", pytester.path / "b.json", "--format", "md")
    assert status == 0
    assert "warning: spec 'acme-test' differs between vantages (internet used sha256" in err
    assert "> **Warning:** spec 'acme-test' differs between vantages" in out


def test_report_warns_about_incomplete_evidence(pytester: pytest.Pytester, vantage_spec: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    run_vantage(pytester, vantage_spec, "internet", "--activate-evidence", "a.json", "-x")
    status, out, err = report(capsys, pytester.path / "a.json", "--format", "md")
    assert "internet (a.json) is incomplete (exit status 1): 3 selected checks never ran" in err
    assert out.count("| not run |") == 3


def test_report_fails_on_failures_only_when_asked(two_vantages: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    assert report(capsys, *two_vantages, "--fail-on-failures")[0] == 1
    assert report(capsys, two_vantages[0], "--format", "md")[0] == 0


def test_report_rejects_files_that_are_not_evidence(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "junit.xml").write_text("<testsuites/>")
    (tmp_path / "other.json").write_text(json.dumps({"schema_version": 99}))
    status, _, err = report(capsys, tmp_path / "junit.xml")
    assert status == 2 and err.endswith("junit.xml: not an evidence file: not JSON (Expecting value at line 1 column 1)\n")
    status, _, err = report(capsys, tmp_path / "other.json")
    assert status == 2 and "other.json: not an activate-ports evidence file" in err and err.count("\n") == 1


def test_report_escapes_what_came_from_the_spec(pytester: pytest.Pytester, vantage_spec: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    vantage_spec.write_text(vantage_spec.read_text().replace("reason: HTTP-to-HTTPS redirect",
                                                             'reason: "<script>alert(1)</script> | pipe"'))
    run_vantage(pytester, vantage_spec, "internet", "--activate-evidence", "a.json")
    _, page, _ = report(capsys, pytester.path / "a.json")
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt; | pipe" in page
    _, markdown, _ = report(capsys, pytester.path / "a.json", "--format", "md")
    assert "<script>" not in markdown and "&lt;script&gt;alert(1)&lt;/script&gt; \\| pipe" in markdown


def test_report_command_runs_through_the_console_entry_point(two_vantages: tuple[Path, Path], tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "pytest_activate_ports.cli", "report", *map(str, two_vantages),
                           "-o", str(tmp_path / "r.html")], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "wrote" in done.stderr and "(7 checks, 3 failed, 2 vantages)" in done.stderr
    assert len(SummaryTable((tmp_path / "r.html").read_text()).rows) == len(INTERNET_NODES) + len(CONTROL_PLANE_NODES) - 1
