"""Port checks run in the order their results arrive; everything a reader keeps stays in spec order."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

import pytest

from .servers import Listener

SpecWriter = Callable[[str], Path]


@pytest.fixture
def slow_first(write_spec: SpecWriter, filtered_port: int, refused_port: int, listener: Listener) -> Path:
    """The first check waits out its timeout (a dropped port); the ten behind it are answered at once."""
    return write_spec(f"""\
version: 1
hosts:
  lb: {{address: 127.0.0.1}}
rules:
  - {{id: dropped, from: internet, to: lb, port: {filtered_port}, expect: forbidden}}
  - {{id: refused, from: internet, to: lb, ports: [{refused_port}], expect: forbidden}}
  - {{id: up, from: internet, to: lb, port: {listener.port}, expect: required}}
  - {{id: later, from: internet, to: lb, port: {listener.port}, expect: required, when: never_on}}
features: {{never_on: false}}
""")


def reported(result: pytest.RunResult) -> list[str]:
    return [line.split(" ")[0].split("::")[1].split("[")[0] for line in result.outlines if line.startswith("spec.yaml::")]


def test_plugin_items_report_as_their_results_arrive(pytester: pytest.Pytester, slow_first: Path) -> None:
    result = pytester.runpytest("--activate-spec", str(slow_first), "--activate-timeout", "1", "-v",
                                "--activate-evidence", "e.json", "--junitxml=j.xml")
    result.assert_outcomes(passed=3, skipped=1)
    order = reported(result)
    assert order[-1] == "dropped" and sorted(order) == ["dropped", "later", "refused", "up"]
    records = json.loads((pytester.path / "e.json").read_text())["records"]
    assert [r["rule"] for r in records] == ["dropped", "refused", "up", "later"]  # evidence in spec order
    junit = (pytester.path / "j.xml").read_text()
    assert all(f'name="{rule}[lb:' in junit for rule in ("dropped", "refused", "up", "later"))


def test_plugin_run_order_keeps_user_tests_in_place(pytester: pytest.Pytester, slow_first: Path) -> None:
    """A user's own tests run where pytest puts them; only port checks are reordered."""
    pytester.makepyfile(test_first="def test_before(): pass\n", test_zlast="def test_after(): pass\n")
    result = pytester.runpytest("--activate-spec", str(slow_first), "test_first.py", str(slow_first), "test_zlast.py",
                                "--activate-timeout", "1", "-v")
    result.assert_outcomes(passed=5, skipped=1)
    names = [line.split(" ")[0] for line in result.outlines if " PASSED" in line or " SKIPPED" in line]
    assert names[0] == "test_first.py::test_before" and names[-1] == "test_zlast.py::test_after"


def test_plugin_run_order_stops_at_the_first_failure_with_x(pytester: pytest.Pytester, write_spec: SpecWriter,
                                                           refused_port: int, filtered_port: int) -> None:
    spec = write_spec(f"""\
version: 1
hosts: {{lb: {{address: 127.0.0.1}}}}
rules:
  - {{id: slow, from: internet, to: lb, port: {filtered_port}, expect: required}}
  - {{id: bad, from: internet, to: lb, port: {refused_port}, expect: required}}
""")
    result = pytester.runpytest("--activate-spec", str(spec), "--activate-timeout", "5", "-x", "-v")
    result.assert_outcomes(failed=1)
    assert reported(result) == ["bad"]  # the refused port's failure arrived first and stopped the run
