"""The ``activate-ports`` command follows the usual conventions: help on stdout, usage errors on stderr with exit 2."""

from __future__ import annotations

import subprocess
import sys
from importlib import metadata

import pytest

from pytest_activate_ports import cli


def activate_ports(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pytest_activate_ports.cli", *args], capture_output=True, text=True, timeout=60)


def test_cli_help_goes_to_stdout_with_exit_0() -> None:
    result = activate_ports("--help")
    assert result.returncode == 0 and result.stderr == ""
    assert result.stdout.startswith("usage: activate-ports")
    for name in cli.SUBCOMMANDS:
        assert name in result.stdout


def test_cli_without_subcommand_prints_usage_to_stderr_with_exit_2() -> None:
    result = activate_ports()
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.startswith("usage: activate-ports")
    assert "error: the following arguments are required: SUBCOMMAND" in result.stderr


def test_cli_unknown_subcommand_suggests_the_closest() -> None:
    result = activate_ports("repot", "x.json")
    assert result.returncode == 2 and result.stdout == ""
    assert "activate-ports: error: unknown subcommand 'repot' (did you mean 'report'?)" in result.stderr


def test_cli_unknown_option_before_the_subcommand_is_a_usage_error() -> None:
    result = activate_ports("--verbose", "report")
    assert result.returncode == 2 and "unrecognized arguments: --verbose" in result.stderr


def test_cli_version() -> None:
    result = activate_ports("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"activate-ports {metadata.version('pytest-activate-ports')}"


def test_cli_subcommand_parses_its_own_arguments(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit:
        cli.main(["report", "--help"])
    assert exit.value.code == 0
    assert capsys.readouterr().out.startswith("usage: activate-ports report")


def test_cli_every_subcommand_has_a_main() -> None:
    import importlib

    for name, (module, text) in cli.SUBCOMMANDS.items():
        assert callable(importlib.import_module(module).main), name
        assert text
