"""What ``activate-ports report`` reads: files given twice, one role in two files, multi-vantage files,
hostile text in records, check warnings, and damaged or future evidence."""

from __future__ import annotations

import datetime
import json
import re
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
import trustme

from pytest_activate_ports.emulate.tls import server_context
from pytest_activate_ports.evidence.report import main

from ..hostile.servers import ServerLoop, after_first_bytes
from .conftest import run_vantage
from .test_evidence_mtls import ThreadedTlsListener
from .test_report import SummaryTable

HOSTILE = "<script>alert(1)</script><img src=x onerror=alert(2)> | `code` [link](http://x) \x1b[31mred\x00\u202egnp.exe\r\nnext"


def report(capsys: pytest.CaptureFixture[str], *args: str | Path) -> tuple[int, str, str]:
    capsys.readouterr()  # what pytest runs before printed
    status = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return status, out, err


def rewrite(path: Path, change: Callable[[dict[str, Any]], None], name: str | None = None) -> Path:
    document = json.loads(path.read_text())
    change(document)
    target = path.with_name(name) if name else path
    target.write_text(json.dumps(document))
    return target


def multi_vantage(paths: tuple[Path, ...], target: Path) -> dict[str, Any]:
    """One evidence file of several vantages, as a multi-vantage run writes it: each record names its role."""
    documents = [json.loads(path.read_text()) for path in paths]
    combined = {**documents[0], "role": None,
                "records": [{**record, "role": doc["role"]} for doc in documents for record in doc["records"]]}
    target.write_text(json.dumps(combined))
    return combined


def columns(page: str) -> list[str]:
    """The vantage column heads of the summary table (after the six description columns)."""
    head = page.split('id="port-summary"', 1)[1].split("</thead>", 1)[0]
    return re.findall(r"<th>([^<]*)</th>", head)[6:]


def test_report_reads_a_file_given_twice_once(two_vantages: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    internet, _ = two_vantages
    status, page, err = report(capsys, internet, internet)
    assert status == 0 and columns(page) == ["internet"]
    assert f"warning: {internet} was given more than once; it is read once" in err
    assert "(internet.json) (internet.json)" not in page and "internet.json), internet" not in page


def test_report_says_when_one_role_comes_from_two_files(two_vantages: tuple[Path, Path],
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    internet, _ = two_vantages
    again = rewrite(internet, lambda doc: None, "internet-rerun.json")
    status, page, err = report(capsys, internet, again)
    assert status == 0 and columns(page) == ["internet (internet.json)", "internet (internet-rerun.json)"]
    assert "role internet was checked in 2 different files (internet.json, internet-rerun.json): shown as separate columns" in err


def test_report_splits_a_multi_vantage_file_into_one_column_per_role(two_vantages: tuple[Path, Path], tmp_path: Path,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    multi_vantage(two_vantages, tmp_path / "all.json")
    _, one_file, _ = report(capsys, tmp_path / "all.json")
    _, two_files, _ = report(capsys, *two_vantages)
    assert columns(one_file) == columns(two_files) == ["internet", "control-plane"]
    assert SummaryTable(one_file).rows == SummaryTable(two_files).rows
    assert SummaryTable(one_file).failures == SummaryTable(two_files).failures


def test_report_names_the_vantage_a_record_was_dialled_from(two_vantages: tuple[Path, Path], tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    combined = multi_vantage(two_vantages, tmp_path / "all.json")
    for record in combined["records"]:
        if record["role"] == "control-plane":
            record["vantage"] = {"where": "ssh=ops@hpc-login", "hostname": "hpc-login", "python": "3.11.7"}
    (tmp_path / "all.json").write_text(json.dumps(combined))
    _, markdown, _ = report(capsys, tmp_path / "all.json", "--format", "md")
    runners = [line.split(" | ")[1] for line in markdown.split("## Vantages")[1].splitlines()[4:6]]
    assert runners == [f"local {combined['runner']['hostname']}", "ssh=ops@hpc-login hpc-login"]


def test_report_markdown_makes_hostile_record_text_inert(two_vantages: tuple[Path, Path],
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    def poison(document: dict[str, Any]) -> None:
        document["specs"][0]["name"] = f"acme {HOSTILE}"
        document["specs"][0]["rules"][1]["reason"] = HOSTILE
        for record in document["records"]:
            record["spec"] = f"acme {HOSTILE}"
            record["message"] = record["observed"] = f"HTTP/1.1 200 {HOSTILE}"
            record["warnings"] = [f"Server: <b>evil</b> {HOSTILE}"]

    internet = rewrite(two_vantages[0], poison)
    status, out, _ = report(capsys, internet, "--format", "md")
    assert status == 0
    for raw in ("<script", "<img", "<b>", "\x1b", "\x00", "\u202e", "\r", "`code`"):
        assert raw not in out, raw
    assert "&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=alert(2)&gt; \\| \\`code\\` \\[link\\](http://x)" in out
    table = [line for line in out.split("## Port summary")[1].splitlines() if line.startswith("| ")]
    assert table and all(len(re.findall(r"(?<!\\)\|", line)) == 6 + 1 + 1 for line in table)  # 7 cells: one vantage
    assert "## Check warnings (5)" in out and "Server: &lt;b&gt;evil&lt;/b&gt;" in out


@pytest.fixture
def expiring_tls(ca: trustme.CA) -> Iterator[int]:
    """A TLS listener whose certificate expires in five days (inside the default 14-day warning window)."""
    now = datetime.datetime.now(datetime.timezone.utc)
    leaf = ca.issue_cert("127.0.0.1", not_after=now + datetime.timedelta(days=5))
    listener = ThreadedTlsListener(server_context(leaf))
    yield listener.port
    listener.close()


def test_report_shows_certificate_expiry_warnings(pytester: pytest.Pytester, write_spec: Callable[[str], Path], ca_pem: Path,
                                                  expiring_tls: int, capsys: pytest.CaptureFixture[str]) -> None:
    spec = write_spec(f"""
version: 1
hosts:
  lb: {{address: 127.0.0.1, roles: [control-plane], port_map: {{443: {expiring_tls}}}}}
tls: {{ca: {ca_pem}}}
rules:
  - {{id: ui-https, from: internet, to: lb, port: 443, expect: required, probe: tls}}
""")
    run_vantage(pytester, spec, "internet", "--activate-evidence", "e.json").assert_outcomes(passed=1)
    _, page, _ = report(capsys, pytester.path / "e.json")
    assert '<section id="check-warnings"' in page and "Check warnings (1)" in page
    assert re.search(r"internet · ui-https \[lb:443\]</strong>: 127\.0\.0\.1:443 certificate expires in [45]\.\d days", page)
    assert dict(SummaryTable(page).rows)["ui-https[lb:443]"][-1] == "pass ⚠"
    _, markdown, _ = report(capsys, pytester.path / "e.json", "--format", "md")
    assert re.search(r"- \*\*internet · ui-https \\\[lb:443\\\]:\*\* 127\.0\.0\.1:443 certificate expires in [45]\.\d days", markdown)
    assert "| pass ⚠ |" in markdown


@pytest.mark.parametrize(("change", "problem"), [
    (lambda doc: doc.update(schema_version=2), "evidence schema_version 2 is newer than this activate-ports reads (1): "
                                               "upgrade pytest-activate-ports"),
    (lambda doc: doc.update(schema_version="1"), "evidence schema_version '1' is not one this activate-ports reads (1)"),
    (lambda doc: doc.pop("specs"), "damaged evidence file: specs is missing"),
    (lambda doc: doc["records"][0].pop("outcome"), "damaged evidence file: records[0].outcome is missing"),
    (lambda doc: doc["specs"][0]["rules"].append(3), "damaged evidence file: specs[0].rules[7] is not object"),
    (lambda doc: doc["records"][1].update(results=None, outcome="fine", warnings=[1], port=443),
     "damaged evidence file: records[1].port is not string; records[1].outcome is 'fine'; records[1].warnings[0] is not "
     "string and 1 more"),
    (lambda doc: doc["records"][0]["results"][0].update(protocol={"passed": "yes"}),
     "damaged evidence file: records[0].results[0].protocol.detail is missing; records[0].results[0].protocol.checks "
     "is missing; records[0].results[0].protocol.facts is missing and 2 more"),
    (lambda doc: doc["tool"].update(name="other"), "not an activate-ports evidence file (written by pytest --activate-evidence)"),
])
def test_report_refuses_future_foreign_and_damaged_evidence_in_one_line(
        two_vantages: tuple[Path, Path], capsys: pytest.CaptureFixture[str], change: Callable[[dict[str, Any]], None],
        problem: str) -> None:
    broken = rewrite(two_vantages[0], change, "broken.json")
    status, out, err = report(capsys, broken)
    assert (status, out) == (2, "")
    assert err == f"activate-ports report: {broken}: {problem}\n"


@pytest.fixture
def hostile_http() -> Iterator[int]:
    """A server whose status line and Server header carry markup, a pipe, backticks and an escape sequence."""
    loop = ServerLoop()
    answer = (b"HTTP/1.1 200 <script>alert(1)</script><img src=x onerror=alert(2)> | `x`\r\n"
              b"Server: <b>evil</b>\x1b[2J | [a](http://x)\r\nContent-Length: 0\r\n\r\n")
    yield loop.serve(after_first_bytes(answer))
    loop.close()


def test_report_markdown_of_a_run_against_a_hostile_server_is_inert(
        pytester: pytest.Pytester, write_spec: Callable[[str], Path], hostile_http: int,
        capsys: pytest.CaptureFixture[str]) -> None:
    spec = write_spec(f"""
version: 1
name: "<i>acme</i>"
hosts:
  web: {{address: 127.0.0.1, roles: [control-plane], port_map: {{80: {hostile_http}}}}}
rules:
  - {{id: web, from: internet, to: web, port: 80, expect: required, probe: http}}
  - {{id: web-ssh, from: internet, to: web, port: 80, expect: required, probe: ssh}}
""")
    run_vantage(pytester, spec, "internet", "--activate-evidence", "e.json")
    assert "<script>alert(1)</script>" in (pytester.path / "e.json").read_text()  # evidence keeps what the peer said
    _, markdown, _ = report(capsys, pytester.path / "e.json", "--format", "md")
    for raw in ("<script", "<img", "<b>", "<i>", "\x1b", "](http", "`x`"):
        assert raw not in markdown.replace("\\](http", ""), raw
    assert "&lt;i&gt;acme&lt;/i&gt;" in markdown
    table = [line for line in markdown.split("## Port summary")[1].splitlines() if line.startswith("| ")]
    assert len(table) == 3 and all(len(re.findall(r"(?<!\\)\|", line)) == 8 for line in table)
    _, page, _ = report(capsys, pytester.path / "e.json")
    assert "<script" not in page and "<img" not in page and "<b>" not in page and "\x1b" not in page
    assert "HTTP/1.1 200 &lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=alert(2)&gt;" in page
