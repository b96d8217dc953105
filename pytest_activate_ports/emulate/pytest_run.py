"""Run the plugin from one vantage in a child pytest and read back each item's outcome.

A child process per vantage keeps every run what a user would type (its own
options, rootdir and plugin set), lets the namespace lab put it inside a
network namespace with a command prefix, and lets vantages run concurrently.
Outcomes come from the JUnit XML, the format CI keeps anyway.
"""

from __future__ import annotations

import asyncio
import os
import sys
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

OUTCOME_TAGS = {"failure": "failed", "error": "error", "skipped": "skipped"}


@dataclass(frozen=True)
class VantageRun:
    """One pytest run from one vantage."""

    role: str
    exit_code: int
    outcomes: Mapping[str, str]  # item name ("rule[host:port]") -> passed | failed | skipped | error
    output: str
    observed: Mapping[str, str] = field(default_factory=dict)  # item name -> the port state the evidence recorded

    def named(self, outcome: str) -> set[str]:
        """Items with ``outcome``."""
        return {name for name, seen in self.outcomes.items() if seen == outcome}


def read_junit(path: Path) -> tuple[dict[str, str], dict[str, str]]:
    """Item name -> outcome, and item name -> ``activate.observed`` (when recorded), from a JUnit XML report.

    A setup error and a failure may share a name: error wins.
    """
    outcomes: dict[str, str] = {}
    observed: dict[str, str] = {}
    for case in ElementTree.parse(path).iter("testcase"):
        name = case.get("name", "")
        tags = [OUTCOME_TAGS[child.tag] for child in case if child.tag in OUTCOME_TAGS]
        outcomes[name] = "error" if "error" in tags else tags[0] if tags else "passed"
        for prop in case.iter("property"):
            if prop.get("name") == "activate.observed":
                observed[name] = prop.get("value", "")
    return outcomes, observed


async def run_vantage(spec: Path, role: str, *, label: str = "", prefix: Sequence[str] = (),
                      hosts: Mapping[str, str] | None = None, extra: Sequence[str] = (),
                      env: Mapping[str, str] | None = None, python: str = sys.executable) -> VantageRun:
    """``pytest --activate-spec SPEC --activate-role ROLE`` in ``spec``'s folder, optionally behind ``prefix``.

    ``hosts`` become ``--activate-host NAME=ADDR`` overrides; ``extra`` goes to
    pytest as given. The JUnit file is written next to the spec as
    ``LABEL-ROLE.xml``.
    """
    junit = spec.parent / f"{label or 'run'}-{role}.xml"
    junit.unlink(missing_ok=True)
    # Test plugins a developer has installed test nothing here: hypothesis' costs seconds per run in its terminal
    # summary, pytest-asyncio's warns in every run that the emulation's folder sets no loop scope in an ini.
    command = [*prefix, python, "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:hypothesispytest", "-p", "no:asyncio",
               "-o", "junit_family=xunit1",
               "--activate-spec", str(spec), "--activate-role", role, f"--junitxml={junit}",
               *(f"--activate-host={name}={address}" for name, address in (hosts or {}).items()), *extra]
    process = await asyncio.create_subprocess_exec(
        *command, cwd=spec.parent, env={**os.environ, **(env or {})},
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    try:
        output, _ = await process.communicate()
    except BaseException:
        # Cancelled (Ctrl-C): a pytest left running would go on probing a deployment that is being torn down.
        if process.returncode is None:
            process.kill()
            await process.wait()
        raise
    assert process.returncode is not None
    outcomes, observed = read_junit(junit) if junit.is_file() else ({}, {})
    return VantageRun(role, process.returncode, outcomes, output.decode(errors="replace"), observed)
