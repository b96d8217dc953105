"""Run the plugin in a child pytest, from every vantage at once, and read back each item's outcome and role.

A child process keeps the run what a user would type (its own options,
rootdir and plugin set); ``--activate-vantage`` gives each role its prober
(here, behind an execnet gateway, or inside a namespace with ``popen//python=ip
netns exec NS python3``), so one run answers for every vantage. Outcomes and
roles come from the JUnit XML (``activate.role`` on each testcase), the format
CI keeps anyway; the evidence file is written beside it.

The child runs in a session of its own: a Ctrl-C at the terminal reaches only
the caller, which stops the child (see :func:`run_pytest`), so pytest gets one
interrupt and closes its probers itself; what is left after a grace time is
killed with its whole process group.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

OUTCOME_TAGS = {"failure": "failed", "error": "error", "skipped": "skipped"}
OUTCOMES = ("passed", "failed", "skipped", "error")
STOP_GRACE = 10.0
"""Seconds an interrupted child pytest gets to close its probers (a remote one's close is bounded too) before it is killed."""


class Interrupted(Exception):
    """The run was stopped (Ctrl-C or SIGTERM) before the child pytest finished; the child is gone."""


@dataclass(frozen=True)
class ItemResult:
    """One item of the run as its JUnit testcase recorded it."""

    outcome: str  # passed | failed | skipped | error
    role: str  # the vantage it was probed from (``activate.role``)
    observed: str = ""  # the port state the evidence recorded (``activate.observed``), when recorded


@dataclass(frozen=True)
class PytestRun:
    """One child pytest run: its exit code, each item by name (``rule[host:port]``, ``@role`` when a rule runs
    from several vantages), its output and the evidence file it wrote."""

    exit_code: int
    items: Mapping[str, ItemResult]
    output: str
    evidence: Path

    def named(self, outcome: str, role: str | None = None) -> set[str]:
        """Items with ``outcome`` (from ``role``'s vantage only, when given)."""
        return {name for name, item in self.items.items() if item.outcome == outcome and role in (None, item.role)}

    def counts(self, role: str) -> tuple[int, ...]:
        """Passed, failed, skipped and error items of ``role``'s vantage."""
        return tuple(len(self.named(outcome, role)) for outcome in OUTCOMES)


def read_junit(path: Path) -> dict[str, ItemResult]:
    """Item name -> its outcome, role and observed state, from a JUnit XML report (xunit1: testcase properties).

    A setup error and a failure may share a name: error wins.
    """
    items: dict[str, ItemResult] = {}
    for case in ElementTree.parse(path).iter("testcase"):
        tags = [OUTCOME_TAGS[child.tag] for child in case if child.tag in OUTCOME_TAGS]
        props = {prop.get("name"): prop.get("value", "") for prop in case.iter("property")}
        items[case.get("name", "")] = ItemResult("error" if "error" in tags else tags[0] if tags else "passed",
                                                 props.get("activate.role", ""), props.get("activate.observed", ""))
    return items


async def run_pytest(spec: Path, vantages: Mapping[str, str], *, label: str = "run", hosts: Sequence[str] = (),
                     extra: Sequence[str] = (), env: Mapping[str, str] | None = None,
                     stop: asyncio.Event | None = None) -> PytestRun:
    """``pytest --activate-spec SPEC --activate-vantage ROLE=WHERE...`` in ``spec``'s folder.

    ``hosts`` become ``--activate-host`` values (``NAME=ADDR``, ``NAME@ROLE=ADDR``);
    ``extra`` goes to pytest as given. The JUnit and evidence files are written
    next to the spec as ``LABEL.xml`` and ``LABEL.json``.

    Raises:
        Interrupted: ``stop`` was set before the child finished (it is stopped and reaped first).
    """
    junit, evidence = spec.parent / f"{label}.xml", spec.parent / f"{label}.json"
    for path in (junit, evidence):
        path.unlink(missing_ok=True)
    # Test plugins a developer has installed test nothing here: hypothesis' costs seconds per run in its terminal
    # summary, pytest-asyncio's warns in every run that the emulation's folder sets no loop scope in an ini.
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:hypothesispytest", "-p", "no:asyncio",
               "-o", "junit_family=xunit1", "--activate-spec", str(spec), f"--junitxml={junit}",
               f"--activate-evidence={evidence}", *(f"--activate-vantage={role}={where}" for role, where in vantages.items()),
               *(f"--activate-host={host}" for host in hosts), *extra]
    stop = stop or asyncio.Event()
    if stop.is_set():
        raise Interrupted
    process = await asyncio.create_subprocess_exec(
        *command, cwd=spec.parent, env={**os.environ, **(env or {})}, start_new_session=True,
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    reading = asyncio.ensure_future(process.communicate())
    stopping = asyncio.ensure_future(stop.wait())
    await asyncio.wait((reading, stopping), return_when=asyncio.FIRST_COMPLETED)
    stopping.cancel()
    if not reading.done():
        await _interrupt(process, reading)
        raise Interrupted
    output, _ = reading.result()
    assert process.returncode is not None
    items = read_junit(junit) if junit.is_file() else {}
    return PytestRun(process.returncode, items, output.decode(errors="replace"), evidence)


async def _interrupt(process: asyncio.subprocess.Process, reading: asyncio.Future[tuple[bytes, bytes]]) -> None:
    """One Ctrl-C for the child pytest; its whole process group is killed if it has not ended within the grace time.

    Every path waits for the child's exit here, inside the running loop, so no
    exit is left to be reported to a closed loop.
    """
    with contextlib.suppress(ProcessLookupError):
        process.send_signal(signal.SIGINT)
    done, _ = await asyncio.wait((reading,), timeout=STOP_GRACE)
    if not done:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)  # the leader is not reaped yet: its group id cannot be reused
        await reading
