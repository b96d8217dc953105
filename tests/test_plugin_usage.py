"""Usage errors for roles and spec paths: what went wrong, and what to type instead.

A run that would silently do nothing (a target role given as the vantage, a spec
taken as a plain pytest argument) is a usage error with the way out.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import pytest

SpecWriter = Callable[[str], Path]

SPEC = """
    version: 1
    hosts:
      lb: {address: 127.0.0.1, roles: [control-plane]}
      db: {address: 127.0.0.1, roles: [internal]}
    rules:
      - {id: ui, from: internet, to: lb, port: 1, expect: optional}
      - {id: pg, from: control-plane, to: internal, port: 1, expect: optional}
"""


def usage_error(result: pytest.RunResult) -> str:
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "Traceback" not in result.stderr.str() + result.stdout.str()
    return result.stderr.str()


def test_plugin_target_role_is_not_a_vantage(pytester: pytest.Pytester, write_spec: SpecWriter) -> None:
    result = pytester.runpytest("--activate-spec", str(write_spec(SPEC)), "--activate-role", "internal")
    assert "ERROR: --activate-role: no rule runs from 'internal' (it is a target, not a vantage); " \
           "roles with rules: internet, control-plane" in usage_error(result)


def test_plugin_target_role_from_ini_is_not_a_vantage(pytester: pytest.Pytester, write_spec: SpecWriter) -> None:
    write_spec(SPEC)
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\nactivate_spec = spec.yaml\nactivate_role = internal\n")
    assert "no rule runs from 'internal'" in usage_error(pytester.runpytest())


def test_plugin_repeated_role_is_a_usage_error(pytester: pytest.Pytester, write_spec: SpecWriter) -> None:
    result = pytester.runpytest("--activate-spec", str(write_spec(SPEC)),
                                "--activate-role", "internet", "--activate-role", "control-plane")
    assert "ERROR: --activate-role is given 2 times (internet, control-plane); a run is on one vantage: " \
           "give it once, one run per vantage role (internet, control-plane)" in usage_error(result)


def test_plugin_command_line_role_overrides_the_ini_role(pytester: pytest.Pytester, write_spec: SpecWriter) -> None:
    write_spec(SPEC)
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\nactivate_spec = spec.yaml\nactivate_role = internal\n")
    items, _ = pytester.inline_genitems("--activate-role", "control-plane")
    assert [item.name for item in items] == ["pg[db:1]"]


def test_plugin_spec_directory_says_it_is_a_directory(pytester: pytest.Pytester) -> None:
    (pytester.path / "specs").mkdir()
    result = pytester.runpytest("--activate-spec", "specs")
    assert "ERROR: --activate-spec: specs is a directory, not a spec file; name each spec with --activate-spec, " \
           "or set activate_spec_glob (e.g. ports_*.yaml) and give the folder as an argument" in usage_error(result)


def test_plugin_second_spec_after_one_option_gets_a_hint(pytester: pytest.Pytester, write_spec: SpecWriter) -> None:
    """``--activate-spec a.yaml b.yaml`` leaves b.yaml to pytest, which only says "not found" of a file that exists."""
    write_spec(SPEC, name="a.yaml")
    write_spec(SPEC, name="b.yaml")
    result = pytester.runpytest("--activate-spec", "a.yaml", "b.yaml", "--activate-role", "internet")
    assert "ERROR: b.yaml is a plain pytest argument, not a spec; --activate-spec takes one path: write --activate-spec " \
           "b.yaml (once per spec), or set activate_spec_glob in the ini to collect YAML files given as paths" in usage_error(result)


@pytest.mark.parametrize(("glob", "why"), [("", ""), ("ports_*.yaml", " (activate_spec_glob 'ports_*.yaml' does not match it)")])
def test_plugin_spec_as_plain_argument_gets_a_hint(pytester: pytest.Pytester, write_spec: SpecWriter, glob: str, why: str) -> None:
    write_spec(SPEC)
    result = pytester.runpytest("spec.yaml", "-o", f"activate_spec_glob={glob}")
    assert f"ERROR: spec.yaml is a plain pytest argument, not a spec{why}; run it with --activate-spec spec.yaml, " \
           "or set activate_spec_glob in the ini to collect YAML files given as paths" in usage_error(result)


def test_plugin_missing_python_file_keeps_pytests_message(pytester: pytest.Pytester) -> None:
    assert usage_error(pytester.runpytest("test_nothere.py")).strip() == "ERROR: file or directory not found: test_nothere.py"
