"""The plugin's terminal output follows pytest's verbosity: ``-qq`` hides its header as it hides the matrix."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import pytest

SPEC = """
    version: 1
    hosts:
      box: {address: 127.0.0.1, roles: [internal]}
    rules:
      - {id: closed, from: internet, to: box, port: {port}, expect: forbidden}
"""


@pytest.fixture
def spec(write_spec: Callable[[str], Path], refused_port: int) -> Path:
    return write_spec(SPEC.replace("{port}", str(refused_port)))


def run(pytester: pytest.Pytester, spec: Path, *args: str) -> pytest.RunResult:
    result = pytester.runpytest("--activate-spec", str(spec), "--activate-role", "internet", *args)
    assert result.ret == pytest.ExitCode.OK  # -qq prints no outcome line to read
    return result


@pytest.mark.parametrize("args", [(), ("-q",)])
def test_plugin_header_is_shown_by_default_and_with_q(pytester: pytest.Pytester, spec: Path, args: tuple[str, ...]) -> None:
    run(pytester, spec, *args).stdout.fnmatch_lines(["activate: spec spec.yaml, role internet, 1 check, 0 not applicable"])


def test_plugin_very_quiet_shows_no_header_and_no_matrix(pytester: pytest.Pytester, spec: Path) -> None:
    output = run(pytester, spec, "-qq").stdout.str()
    assert "activate:" not in output
    assert "port matrix" not in output
