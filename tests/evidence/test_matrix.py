"""The terminal summary: host x port matrix and counts, honouring -q, --color and -p no:terminal."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import pytest

from pytest_activate_ports.evidence import matrix

from ..servers import Listener
from .conftest import run_vantage

ANSI_RED = "\x1b[31m"


def plain(lines: list[matrix.Line]) -> list[str]:
    return ["".join(mark.text for mark in line).rstrip() for line in lines]


def test_matrix_cell_shows_the_worst_outcome_of_rules_sharing_it() -> None:
    grid = matrix.cells([("lb", "443", "passed"), ("lb", "443", "failed"), ("lb", "80", "skipped"), ("db", "80", "passed")])
    assert grid == {("lb", "443"): "failed", ("lb", "80"): "skipped", ("db", "80"): "passed"}


def test_matrix_cell_precedence_is_fail_error_ok_skip() -> None:
    grid = matrix.cells([("lb", "443", "passed"), ("lb", "443", "skipped"), ("lb", "80", "skipped"), ("lb", "80", "passed"),
                         ("db", "22", "error"), ("db", "22", "failed"), ("db", "80", "passed"), ("db", "80", "error")])
    assert grid == {("lb", "443"): "passed", ("lb", "80"): "passed", ("db", "22"): "failed", ("db", "80"): "error"}
    assert matrix.LEGEND.startswith("cells: FAIL > ERROR > ok > skip")


def test_plugin_matrix_shows_ok_for_a_port_with_a_passed_and_a_not_applicable_rule(
        pytester: pytest.Pytester, write_spec: Callable[[str], Path], listener: Listener) -> None:
    spec = write_spec(f"""
version: 1
features: {{cac_auth: false}}
hosts:
  lb: {{address: 127.0.0.1, roles: [control-plane], port_map: {{443: {listener.port}}}}}
rules:
  - {{id: ui, from: internet, to: lb, port: 443, expect: required}}
  - {{id: cac-on-443, from: internet, to: lb, port: 443, expect: required, when: cac_auth}}
""")
    result = run_vantage(pytester, spec, "internet", "--color=no")
    result.stdout.fnmatch_lines(["host  443", "lb    ok", "cells: FAIL > ERROR > ok > skip*",
                                 "activate: 1 required ok, 0 forbidden ok, 0 failed, 1 skipped"])


def test_matrix_orders_ports_numerically_and_marks_missing_cells() -> None:
    grid = {("lb", "8443"): "passed", ("lb", "80"): "failed", ("slurm", "8192-60000"): "error", ("lb", "443"): "skipped"}
    assert plain(matrix.render(grid, 200)) == [
        "host   80     443    8192-60000  8443",
        "lb     FAIL   skip   -           ok",
        "slurm  -      -      ERROR       -",
    ]
    colours = {mark.text.strip(): mark.colour for line in matrix.render(grid, 200) for mark in line}
    assert (colours["ok"], colours["FAIL"], colours["skip"], colours["-"]) == ("green", "red", "yellow", None)


def test_matrix_wraps_port_columns_to_the_terminal_width() -> None:
    grid = {("lb", str(port)): "passed" for port in range(1000, 1012)}
    lines = plain(matrix.render(grid, 40))
    assert all(len(line) <= 40 for line in lines)
    assert [line.split()[0] for line in lines] == ["host", "lb"] * 3
    assert sum(len(line.split()) - 1 for line in lines[::2]) == 12


def test_matrix_counts_line_names_required_forbidden_and_failed() -> None:
    counts = {"passed": 3, "failed": 1, "skipped": 1, "error": 0, "required_ok": 2, "optional_ok": 0, "forbidden_ok": 1}
    [prefix, text] = matrix.counts_line(counts)
    assert prefix.text + text.text == "activate: 2 required ok, 1 forbidden ok, 1 failed, 1 skipped"
    assert text.colour == "red"


def test_plugin_prints_matrix_and_counts_after_the_run(pytester: pytest.Pytester, vantage_spec: Path) -> None:
    result = run_vantage(pytester, vantage_spec, "internet", "--color=no")
    result.stdout.fnmatch_lines([
        "*- activate port matrix (role internet) -*",
        "host  80     443    5432   8443   27017",
        "lb    FAIL   ok     -      skip   -",
        "db    -      -      ok     -      FAIL",
        "activate: 1 required ok, 1 forbidden ok, 2 failed, 1 skipped",
    ])
    assert "\x1b[" not in result.stdout.str()


def test_plugin_matrix_is_coloured_with_color_yes(pytester: pytest.Pytester, vantage_spec: Path) -> None:
    output = run_vantage(pytester, vantage_spec, "control-plane", "--color=yes").stdout.str()
    assert f"{ANSI_RED}FAIL" in output and "\x1b[32mok" in output


def test_plugin_quiet_shows_only_the_counts_and_very_quiet_nothing(pytester: pytest.Pytester, vantage_spec: Path) -> None:
    quiet = run_vantage(pytester, vantage_spec, "control-plane", "-q").stdout
    quiet.fnmatch_lines(["activate: 2 required ok, 0 forbidden ok, 1 failed"])
    assert "port matrix" not in quiet.str()
    assert "required ok" not in run_vantage(pytester, vantage_spec, "control-plane", "-qq").stdout.str()


def test_plugin_without_terminal_plugin_still_writes_evidence(pytester: pytest.Pytester, vantage_spec: Path) -> None:
    result = run_vantage(pytester, vantage_spec, "internet", "-p", "no:terminal", "--activate-evidence", "e.json",
                         "--junitxml", "j.xml")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    assert result.stdout.str() == ""
    assert (pytester.path / "e.json").is_file() and (pytester.path / "j.xml").is_file()


def test_plugin_without_port_checks_prints_no_matrix(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_plain(): pass")
    result = pytester.runpytest("-p", "no:hypothesispytest")
    result.assert_outcomes(passed=1)
    assert "activate:" not in result.stdout.str() and "port matrix" not in result.stdout.str()
