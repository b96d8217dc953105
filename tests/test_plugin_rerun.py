"""Selecting checks again: ``--lf``, ``--ff``, ``--sw``, ``--deselect`` and ``-k`` find the ids pytest saved or was given."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import pytest

from .servers import Listener

SpecWriter = Callable[[str], Path]


@pytest.fixture
def spec(write_spec: SpecWriter, listener: Listener, refused_port: int) -> Path:
    """Three checks on two hosts: one passes, two fail."""
    return write_spec(f"""\
version: 1
hosts:
  app: {{address: 127.0.0.1}}
  db: {{address: 127.0.0.2}}
rules:
  - {{id: app-http, from: internet, to: app, port: {listener.port}, expect: required}}
  - {{id: app-ssh, from: internet, to: app, port: {refused_port}, expect: required}}
  - {{id: db-needed, from: internet, to: db, port: {refused_port}, expect: required}}
""")


def ran(result: pytest.RunResult) -> list[str]:
    """The node ids a ``-v`` run reported, in order."""
    return [line.split(" ")[0] for line in result.outlines if line.startswith("spec.yaml::")]


def test_plugin_last_failed_reruns_only_the_failed_checks(pytester: pytest.Pytester, spec: Path, refused_port: int) -> None:
    pytester.runpytest("--activate-spec", str(spec)).assert_outcomes(passed=1, failed=2)
    again = pytester.runpytest("--activate-spec", str(spec), "--lf", "-v")
    again.assert_outcomes(failed=2, deselected=1)
    assert ran(again) == [f"spec.yaml::app-ssh[app:{refused_port}]", f"spec.yaml::db-needed[db:{refused_port}]"]
    assert "not in selected tests" not in again.stdout.str()


def test_plugin_failed_first_runs_the_failed_checks_before_the_others(pytester: pytest.Pytester, spec: Path,
                                                                      listener: Listener, refused_port: int) -> None:
    pytester.runpytest("--activate-spec", str(spec)).assert_outcomes(passed=1, failed=2)
    again = pytester.runpytest("--activate-spec", str(spec), "--ff", "-v")
    again.assert_outcomes(passed=1, failed=2)
    assert ran(again)[-1] == f"spec.yaml::app-http[app:{listener.port}]"


def test_plugin_stepwise_resumes_at_the_failed_check(pytester: pytest.Pytester, spec: Path, refused_port: int) -> None:
    first = pytester.runpytest("--activate-spec", str(spec), "--sw", "-v")
    first.assert_outcomes(passed=1, failed=1)
    again = pytester.runpytest("--activate-spec", str(spec), "--sw", "-v")
    assert ran(again)[0] == f"spec.yaml::app-ssh[app:{refused_port}]"
    again.stdout.fnmatch_lines(["stepwise: skipping 1 already passed items*"])


def test_plugin_deselect_by_node_id_drops_exactly_that_check(pytester: pytest.Pytester, spec: Path, refused_port: int) -> None:
    result = pytester.runpytest("--activate-spec", str(spec), "--deselect", f"spec.yaml::db-needed[db:{refused_port}]", "-v")
    result.assert_outcomes(passed=1, failed=1, deselected=1)
    assert f"spec.yaml::db-needed[db:{refused_port}]" not in ran(result)


def test_plugin_node_id_on_the_command_line_runs_exactly_that_check(pytester: pytest.Pytester, spec: Path,
                                                                    listener: Listener) -> None:
    result = pytester.runpytest("--activate-spec", str(spec), f"spec.yaml::app-http[app:{listener.port}]", "-v")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*collected 1 item"])


@pytest.mark.parametrize(("keyword", "outcomes"), [("app", {"passed": 1, "failed": 1}), ("db-needed", {"failed": 1}),
                                                   ("not app-http", {"failed": 2})])
def test_plugin_keyword_selects_by_rule_and_host(pytester: pytest.Pytester, spec: Path, keyword: str,
                                                 outcomes: dict[str, int]) -> None:
    result = pytester.runpytest("--activate-spec", str(spec), "-k", keyword)
    result.assert_outcomes(**outcomes, deselected=3 - sum(outcomes.values()))
