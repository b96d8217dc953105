"""``activate-ports diff``: real runs against loopback ports before and after a change, and every way input goes wrong."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from pytest_activate_ports.evidence.diff import main
from pytest_activate_ports.evidence.report import main as report_main

from ..servers import Listener, RefusedPort
from .conftest import run_vantage
from .test_report_inputs import HOSTILE, multi_vantage, rewrite

SPEC = """
version: 1
name: diff-test
hosts:
  lb: {{address: 127.0.0.1, roles: [control-plane], port_map: {{443: {open}, 5432: {closing}}}}}
rules:
  - {{id: ui-https, from: internet, to: lb, port: 443, expect: required}}
  - {{id: postgres-not-exposed, from: internet, to: lb, port: 5432, expect: forbidden}}
"""


class ClosingPort(RefusedPort):
    """A port that refuses (bound, not listening) until :meth:`open` makes it accept: a firewall rule gone."""

    def open(self) -> None:
        self._sock.listen(16)  # the kernel completes handshakes from the backlog: connect succeeds


@pytest.fixture
def closing_port() -> Iterator[ClosingPort]:
    port = ClosingPort()
    yield port
    port.close()


@pytest.fixture
def diff_spec(write_spec: Callable[[str], Path], listener: Listener, closing_port: ClosingPort) -> Path:
    return write_spec(SPEC.format(open=listener.port, closing=closing_port.port))


def evidence(pytester: pytest.Pytester, spec: Path, name: str, *args: str) -> Path:
    run_vantage(pytester, spec, "internet", "--activate-evidence", name, *args)
    return pytester.path / name


def diff(capsys: pytest.CaptureFixture[str], *args: str | Path) -> tuple[int, str, str]:
    capsys.readouterr()  # what the pytest runs before printed
    status = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return status, out, err


@pytest.fixture
def before_after(pytester: pytest.Pytester, diff_spec: Path, closing_port: ClosingPort) -> tuple[Path, Path, Path]:
    """Evidence of the same spec: twice while 5432 refuses, once after it was opened."""
    before = evidence(pytester, diff_spec, "before.json")
    again = evidence(pytester, diff_spec, "again.json")
    closing_port.open()
    return before, again, evidence(pytester, diff_spec, "after.json")


def test_diff_names_a_port_opened_between_two_runs_and_exits_1(before_after: tuple[Path, Path, Path],
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    before, _, after = before_after
    status, out, err = diff(capsys, before, after)
    assert (status, err) == (1, "")
    lines = out.splitlines()
    assert lines[0].startswith(f"activate-ports diff: {before} (") and lines[0].endswith(f"UTC, internet)")
    assert lines[1] == "1 regressed, 0 fixed, 0 changed, 0 added, 0 removed (2 checks in both runs)"
    assert lines[2:] == ["", "REGRESSED (1)", "  internet · postgres-not-exposed[lb:5432]: passed → failed; state refused → open",
                         "    was passed: refused: connection refused (RST)", "    now failed: open: accepted the TCP handshake"]


def test_diff_of_two_unchanged_runs_and_of_identical_files_is_empty(before_after: tuple[Path, Path, Path],
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    before, again, _ = before_after
    for pair in ((before, again), (before, before)):
        status, out, _ = diff(capsys, *pair)
        assert status == 0
        assert out.splitlines()[1:] == ["0 regressed, 0 fixed, 0 changed, 0 added, 0 removed (2 checks in both runs)"]


def test_diff_lists_a_fix_and_exits_0(before_after: tuple[Path, Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    before, _, after = before_after
    status, out, _ = diff(capsys, after, before)
    assert status == 0
    assert out.splitlines()[2:] == ["", "FIXED (1)", "  internet · postgres-not-exposed[lb:5432]: failed → passed; state open → refused",
                                    "    was failed: open: accepted the TCP handshake", "    now passed: refused: connection refused (RST)"]


def test_diff_lists_added_and_removed_rules_and_the_changed_spec(pytester: pytest.Pytester, diff_spec: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    before = evidence(pytester, diff_spec, "before.json")
    diff_spec.write_text(diff_spec.read_text().replace("id: ui-https", "id: ui"))
    after = evidence(pytester, diff_spec, "after.json")
    status, out, _ = diff(capsys, before, after)
    assert status == 0  # a rule renamed away is a spec change, shown, not a regression of the port
    old, new = (json.loads(p.read_text())["specs"][0]["sha256"][:12] for p in (before, after))
    assert out.splitlines()[1:] == [
        f"note: spec diff-test changed: sha256 {old} → {new}",
        "0 regressed, 0 fixed, 0 changed, 1 added, 1 removed (1 check in both runs)",
        "", "ADDED (1)", "  internet · ui[lb:443]: not in the old run",
        "", "REMOVED (1)", "  internet · ui-https[lb:443]: not in the new run"]


def test_diff_reports_same_outcome_changes_of_state_certificate_banner_and_expiry_warning(
        before_after: tuple[Path, Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    before, again, _ = before_after

    def observed(facts: dict[str, str], warnings: list[str], state: str) -> Callable[[dict[str, Any]], None]:
        def change(document: dict[str, Any]) -> None:
            ui, postgres = document["records"]
            ui["results"][0]["protocol"] = {"passed": True, "detail": "", "checks": [], "facts": facts, "warnings": warnings}
            ui["warnings"] = warnings
            postgres["results"][0]["state"] = state
        return change

    old = rewrite(before, observed({"subject": "CN=lb", "server": "nginx/1.22.1", "days_left": "40"}, [], "refused"))
    new = rewrite(again, observed({"subject": "CN=lb-2026", "server": "nginx/1.25.3", "days_left": "5"},
                                  ["lb:443 certificate expires in 4.9 days (...), inside the 14-day warning window; renew it"],
                                  "filtered"))
    status, out, _ = diff(capsys, old, new)
    assert status == 0
    assert out.splitlines()[2:] == [
        "", "OBSERVATION CHANGED (2)",
        "  internet · ui-https[lb:443]: server 'nginx/1.22.1' → 'nginx/1.25.3'; subject 'CN=lb' → 'CN=lb-2026'; "
        "new warning: lb:443 certificate expires in 4.9 days (...), inside the 14-day warning window; renew it",
        "  internet · postgres-not-exposed[lb:5432]: state refused → filtered"]
    same_warning_a_day_later = rewrite(new, lambda doc: doc["records"][0].update(warnings=[
        doc["records"][0]["warnings"][0].replace("4.9", "3.9")]), "later.json")
    assert diff(capsys, new, same_warning_a_day_later)[1].splitlines()[1:] == [
        "0 regressed, 0 fixed, 0 changed, 0 added, 0 removed (2 checks in both runs)"]


def test_diff_counts_checks_an_incomplete_run_never_reported_as_regressed(before_after: tuple[Path, Path, Path],
                                                                          capsys: pytest.CaptureFixture[str]) -> None:
    before, again, _ = before_after
    cut = rewrite(again, lambda doc: doc.update(complete=False, records=doc["records"][1:]), "cut.json")
    status, out, _ = diff(capsys, before, cut)
    assert status == 1
    assert f"note: the new run {cut} is incomplete (complete: false): only the checks it reported are compared" in out
    assert "  internet · ui-https[lb:443]: not reported by the incomplete new run" in out


def test_diff_matches_a_multi_vantage_file_with_one_file_per_vantage(two_vantages: tuple[Path, Path], tmp_path: Path,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    combined = multi_vantage(two_vantages, tmp_path / "all.json")
    both = tmp_path / "both.json"
    both.write_text(json.dumps({**combined, "records": combined["records"][::-1]}))
    status, out, _ = diff(capsys, tmp_path / "all.json", both)
    assert status == 0 and "0 regressed, 0 fixed, 0 changed, 0 added, 0 removed (8 checks in both runs)" in out
    status, out, _ = diff(capsys, two_vantages[0], tmp_path / "all.json")
    assert status == 0 and "3 added" in out and "control-plane · postgres[db:5432]: not in the old run" in out


def test_diff_markdown_and_json_outputs(before_after: tuple[Path, Path, Path], tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    before, _, after = before_after
    hostile = rewrite(after, lambda doc: doc["records"][1].update(observed=f"open: {HOSTILE}"), "hostile.json")
    status, _, err = diff(capsys, before, hostile, "-o", tmp_path / "d.md")
    assert status == 1 and "wrote" in err
    markdown = (tmp_path / "d.md").read_text()
    for raw in ("<script", "<img", "\x1b", "\x00", "\u202e", "`code`"):
        assert raw not in markdown, raw
    assert "| Change | Check | Before | Now | What changed |" in markdown
    assert "| Regressed | internet · postgres-not-exposed\\[lb:5432\\] | passed: refused: " in markdown
    assert "failed: open: &lt;script&gt;alert(1)&lt;/script&gt;" in markdown
    status, out, _ = diff(capsys, before, hostile, "--format", "json")
    data = json.loads(out)
    assert status == 1 and data["regressed"] is True
    [change] = data["changes"]
    assert (change["kind"], change["rule"], change["port"], change["old"]["outcome"], change["new"]["outcome"]) == \
        ("regressed", "postgres-not-exposed", "5432", "passed", "failed")
    assert change["new"]["observed"] == f"open: {HOSTILE}"  # JSON keeps the text as recorded, escaped by JSON
    status, out, _ = diff(capsys, before, hostile)
    assert "\x1b" not in out and "\x00" not in out and "\u202e" not in out and "\r" not in out
    assert len(out.splitlines()) == 7 and out.splitlines()[-1].startswith("    now failed: open: <script>alert(1)</script>")


@pytest.mark.parametrize(("content", "problem"), [
    ("{not json", "not an evidence file: not JSON (Expecting property name enclosed in double quotes at line 1 column 2)"),
    ("<testsuites/>", "not an evidence file: not JSON (Expecting value at line 1 column 1)"),
    ('{"tests": []}', "not an activate-ports evidence file (written by pytest --activate-evidence)"),
    ("[1, 2]", "not an activate-ports evidence file (written by pytest --activate-evidence)"),
])
def test_diff_refuses_broken_and_foreign_json_in_one_line(before_after: tuple[Path, Path, Path], tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str], content: str,
                                                          problem: str) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(content)
    for args in ((before_after[0], bad), (bad, before_after[0])):
        assert diff(capsys, *args) == (2, "", f"activate-ports diff: {bad}: {problem}\n")


def test_diff_refuses_evidence_from_a_future_schema(before_after: tuple[Path, Path, Path],
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    future = rewrite(before_after[0], lambda doc: doc.update(schema_version=2, shiny_new_field=True), "future.json")
    assert diff(capsys, before_after[0], future) == (
        2, "", f"activate-ports diff: {future}: evidence schema_version 2 is newer than this activate-ports reads (1): "
               "upgrade pytest-activate-ports\n")
    missing = before_after[0].with_name("missing.json")
    assert diff(capsys, missing, future)[2] == f"activate-ports diff: {missing}: cannot read: No such file or directory\n"


def test_diff_runs_as_a_subcommand_of_the_console_command(before_after: tuple[Path, Path, Path]) -> None:
    before, _, after = before_after
    done = subprocess.run([sys.executable, "-m", "pytest_activate_ports.cli", "diff", str(before), str(after)],
                          capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stderr) == (1, "")
    assert "REGRESSED (1)" in done.stdout


def test_report_with_a_baseline_opens_with_the_changes_regressions_first(
        before_after: tuple[Path, Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before, _, after = before_after
    added = rewrite(after, lambda doc: doc["records"].append({**doc["records"][0], "rule": "new-rule"}), "added.json")
    since = json.loads(before.read_text())["started"].replace("T", " ")[:19] + " UTC"
    assert report_main([str(added), "--baseline", str(before), "-o", str(tmp_path / "r.html")]) == 0
    page = (tmp_path / "r.html").read_text()
    section = page.split('<section id="changes">', 1)[1].split("</section>", 1)[0]
    assert f"<h2>Changes since {since}</h2>" in section
    assert section.index('<tr class="change-regressed"><td>Regressed</td><td>internet · postgres-not-exposed[lb:5432]</td>'
                         '<td>passed: refused: ') < section.index('<tr class="change-added"><td>Added</td>')
    assert page.index('id="changes"') < page.index('id="vantages"') < page.index('id="failures"')
    capsys.readouterr()
    assert report_main([str(added), "--baseline", str(before), "--format", "md"]) == 0
    markdown = capsys.readouterr().out
    assert f"## Changes since {since}" in markdown
    assert markdown.index("| Regressed | internet · postgres-not-exposed") < markdown.index("| Added | internet · new-rule")
    assert markdown.index("## Changes since") < markdown.index("## Vantages")
    assert "Changes since" not in report(capsys, added)


def report(capsys: pytest.CaptureFixture[str], *paths: Path) -> str:
    capsys.readouterr()
    report_main([*map(str, paths), "--format", "md"])
    return capsys.readouterr().out


def test_diff_notes_a_new_tool_version_and_a_spec_only_one_run_has(before_after: tuple[Path, Path, Path],
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    before, again, _ = before_after

    def upgrade(document: dict[str, Any]) -> None:
        document["tool"]["version"] = "9.9.9"
        document["specs"].append({**document["specs"][0], "name": "second-spec"})

    status, out, _ = diff(capsys, before, rewrite(again, upgrade, "upgraded.json"))
    old_version = json.loads(before.read_text())["tool"]["version"]
    assert status == 0
    assert out.splitlines()[1:3] == ["note: spec second-spec only in the new run",
                                     f"note: tool version changed: {old_version} → 9.9.9"]


def test_diff_names_the_range_ports_that_opened(pytester: pytest.Pytester, write_spec: Callable[[str], Path],
                                                 closing_port: ClosingPort, capsys: pytest.CaptureFixture[str]) -> None:
    """A range is summed up in the evidence: the diff still says which of its ports changed, not only how many."""
    spec = write_spec(f"""
        version: 1
        hosts: {{lb: {{address: 127.0.0.1, roles: [control-plane]}}}}
        rules:
          - {{id: perimeter, from: internet, to: lb, range: {closing_port.port}-{closing_port.port + 1}, sample: all,
              expect: forbidden}}
    """)
    before = evidence(pytester, spec, "before.json")
    closing_port.open()
    status, out, _ = diff(capsys, before, evidence(pytester, spec, "after.json"))
    assert status == 1, out
    assert f"open ports (none) → {closing_port.port}" in out, out
