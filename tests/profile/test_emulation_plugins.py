"""The emulation's pytest runs are a user's runs: a developer's test-only plugins add nothing to their output."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from pytest_activate_ports.emulate.pytest_run import run_pytest


def test_emulated_vantage_run_shows_no_pytest_asyncio_warning(tmp_path: Path, refused_port: int) -> None:
    pytest.importorskip("pytest_asyncio", reason="the warning would come from pytest-asyncio (a test extra)")
    spec = tmp_path / "spec.yaml"
    spec.write_text("version: 1\nhosts: {db: {address: 127.0.0.1, roles: [database]}}\n"
                    f"rules: [{{id: hidden, from: internet, to: db, port: {refused_port}, expect: forbidden}}]\n")
    run = asyncio.run(run_pytest(spec, {"internet": "local"}))
    outcomes = {name: (item.outcome, item.role) for name, item in run.items.items()}
    assert (run.exit_code, outcomes) == (0, {f"hidden[db:{refused_port}]": ("passed", "internet")}), run.output
    assert "Warning" not in run.output
