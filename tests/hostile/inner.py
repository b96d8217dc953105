"""The real plugin on a spec, in a child pytest: bounded in time, measured in memory, read from its evidence.

A hostile server must never hang the run, so every inner run is a separate
process killed after a guard timeout (a hang is then a test failure, not a
stuck CI job). The child writes its own peak RSS when it ends, which is how
"memory bounded" is asserted against servers that offer 50 MB.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping

INI = "[pytest]\nasyncio_default_fixture_loop_scope = function\naddopts = -p no:hypothesispytest -p no:cacheprovider\n"
PEAK_RSS_HOOK = '''\
import pathlib


def pytest_unconfigure(config):
    status = pathlib.Path("/proc/self/status").read_text()
    peak = next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:"))
    pathlib.Path(__file__).with_name("peak_rss_kb").write_text(peak)
'''
"""Writes the child's peak RSS in KiB. ``VmHWM``, not ``ru_maxrss``: Linux carries the parent's RSS at
fork into the child's ``ru_maxrss`` across exec, so a large parent would hide (or fake) the child's growth."""
GUARD_SECONDS = 30.0
"""Wall time after which an inner run counts as hung and is killed."""


@dataclass(frozen=True)
class TlsFiles:
    """The spec's ``tls:`` files: the CA servers are trusted against and a client identity it issued."""

    ca: Path
    client_cert: Path
    client_key: Path


@dataclass(frozen=True)
class Cell:
    """One item of an inner run: pytest's outcome, the one-line message and the probe's wall time."""

    outcome: str
    message: str
    elapsed_ms: float | None


@dataclass(frozen=True)
class InnerRun:
    """A finished child pytest: its items by rule id, how long it took, its peak memory and its output."""

    cells: Mapping[str, Cell]
    seconds: float
    peak_rss_kb: int
    output: str


def spec_text(kinds: Iterable[str], port: int, tls: TlsFiles, mtls_port: int | None = None,
              expects: Iterable[str] = ("required",)) -> str:
    """One rule per probe kind and expectation (id ``kind.expect``), all against one loopback host.

    Rules say 443 (8443 for ``mtls``); the host's ``port_map`` sends 443 to
    ``port`` and 8443 to ``mtls_port`` (default ``port``), so TLS cases can
    put a client-certificate-enforcing listener behind the mtls rule only.
    """
    rules = "".join(
        f"  - {{id: {kind}.{expect}, from: internet, to: target, port: {8443 if kind == 'mtls' else 443}, "
        f"expect: {expect}, probe: {kind}}}\n" for kind in kinds for expect in expects)
    return (
        "version: 1\n"
        f"tls: {{ca: {tls.ca}, client_cert: {tls.client_cert}, client_key: {tls.client_key}}}\n"
        "hosts:\n"
        f"  target: {{address: 127.0.0.1, roles: [server], port_map: {{443: {port}, 8443: {mtls_port or port}}}}}\n"
        f"rules:\n{rules}"
    )


def run_inner(folder: Path, spec: str, *args: str, timeout: float = 1.0, env: Mapping[str, str] | None = None) -> InnerRun:
    """Run ``spec`` through the plugin in a child pytest in ``folder``; raises ``TimeoutExpired`` on a hang."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "pytest.ini").write_text(INI)
    (folder / "conftest.py").write_text(PEAK_RSS_HOOK)
    (folder / "spec.yaml").write_text(spec)
    evidence = folder / "evidence.json"
    command = [sys.executable, "-m", "pytest", "--activate-spec", "spec.yaml", "--activate-role", "internet",
               "--activate-timeout", f"{timeout:g}", "--activate-evidence", str(evidence), "-rA", *args]
    started = time.monotonic()
    done = subprocess.run(command, cwd=folder, capture_output=True, text=True, timeout=GUARD_SECONDS, check=False,
                          env={**os.environ, **(env or {})})
    seconds = time.monotonic() - started
    output = done.stdout + done.stderr
    if not evidence.exists():
        raise AssertionError(f"the inner run wrote no evidence (exit {done.returncode}):\n{output}")
    records = json.loads(evidence.read_text())["records"]
    cells = {r["rule"]: Cell(r["outcome"], r["message"], r["elapsed_ms"]) for r in records}
    return InnerRun(cells, seconds, int((folder / "peak_rss_kb").read_text()), output)
