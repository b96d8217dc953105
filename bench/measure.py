"""Run one command inside the client namespace and measure it: wall clock, peak RSS, exit, verdict.

Every measured command goes through the same wrapper
(``ip netns exec CLIENT /usr/bin/time -v -o FILE ...``), so the small fixed
cost of the wrapper is the same for every tool and cancels out of the ratios.
Each command runs in its own session with a hard timeout and is killed by its
process group, so one hung tool can neither stall the benchmark nor survive it.
"""

from __future__ import annotations

import os
import re
import resource
import signal
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from lab import Lab

TIME = "/usr/bin/time"
SETTLE = 0.2  # let the listener publish its accept counter after a run


@dataclass(frozen=True)
class Verdict:
    """Whether a run produced the answers the lab guarantees, and what it saw."""

    ok: bool
    summary: str


@dataclass(frozen=True)
class Raw:
    """What the wrapper observed about one process tree."""

    wall: float
    rss_kb: int
    exit_code: int | None  # None: killed on timeout
    stdout: Path
    stderr: Path
    tree_rss_kb: int = 0  # the peak of the sum over the whole process tree (a prober process included)


@dataclass(frozen=True)
class Job:
    """A tool invocation: how to build its command line in a fresh output folder and how to check it."""

    name: str
    command: Callable[[Path], list[str]]
    verify: Callable[[Path, Raw], Verdict]
    nofile: int | None = None  # soft RLIMIT_NOFILE for the run (`ulimit -n`)
    expected_accepts: int | None = None  # connections the listener should see (one per open port)


@dataclass(frozen=True)
class Sample:
    """One measured run."""

    wall: float
    rss_kb: int
    exit_code: int | None
    verdict: Verdict
    accepts: int
    expected_accepts: int | None
    tree_rss_kb: int = 0


def bench_env() -> dict[str, str]:
    """The environment of every measured command: plain pytest plus only the plugins a command names.

    Autoloading is off, so dev-only plugins installed here (hypothesis,
    pytest-asyncio, pytest-benchmark) add their fixed costs to neither the
    plugin nor the trivial baseline; commands load what they need with ``-p``.
    Bytecode writing is back on (this machine sets PYTHONDONTWRITEBYTECODE):
    without it pytest re-rewrites every plugin module's asserts on every
    start, a cost no CI with a normal Python has.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_") and k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    return env


def run_in(lab: Lab, argv: list[str], outdir: Path, cwd: Path, timeout: float, nofile: int | None) -> Raw:
    """Run ``argv`` in the client namespace under ``/usr/bin/time -v``; kill its process group on timeout."""
    outdir.mkdir(parents=True, exist_ok=True)
    time_file, stdout, stderr = outdir / "time.txt", outdir / "stdout.txt", outdir / "stderr.txt"
    wrapped = ["ip", "netns", "exec", lab.client, TIME, "-v", "-o", str(time_file), *argv]

    def limit() -> None:
        if nofile is not None:
            _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
            resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, hard))

    with stdout.open("w") as out, stderr.open("w") as err:
        started = time.perf_counter()
        proc = subprocess.Popen(wrapped, cwd=cwd, stdout=out, stderr=err, env=bench_env(),
                                start_new_session=True, preexec_fn=limit)
        tree = TreeRss(proc.pid)
        code: int | None
        try:
            code = proc.wait(timeout)
        except subprocess.TimeoutExpired:
            code = None
        finally:
            wall = time.perf_counter() - started
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)  # the group we started: ip -> time -> tool and its children
                proc.wait()
            tree.stop()
    return Raw(wall, _max_rss(time_file), code, stdout, stderr, tree.peak_kb)


class TreeRss:
    """The peak, sampled every 50 ms, of the summed RSS of a process and all its descendants.

    ``/usr/bin/time`` reports the largest single process; a run whose prober
    is a child process (execnet) needs the whole tree.
    """

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak_kb = 0
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._done.wait(0.05):
            self.peak_kb = max(self.peak_kb, sum(_rss_kb(pid) for pid in _tree(self.pid)))

    def stop(self) -> None:
        self._done.set()
        self._thread.join()


def _tree(pid: int) -> list[int]:
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        try:
            for task in os.listdir(f"/proc/{current}/task"):
                todo += [int(c) for c in Path(f"/proc/{current}/task/{task}/children").read_text().split()]
        except OSError:
            continue  # it ended meanwhile
    return found


def _rss_kb(pid: int) -> int:
    try:
        match = re.search(r"^VmRSS:\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text(), re.MULTILINE)
    except OSError:
        return 0
    return int(match.group(1)) if match else 0


def _max_rss(time_file: Path) -> int:
    """Peak RSS of the tool; for a tree (xdist) it is the largest single process, not the sum."""
    try:
        match = re.search(r"Maximum resident set size \(kbytes\): (\d+)", time_file.read_text())
    except OSError:
        return 0
    return int(match.group(1)) if match else 0


def measure(lab: Lab, job: Job, outdir: Path, cwd: Path, timeout: float) -> Sample:
    """Run ``job`` once and check its verdicts; a timeout is a failed sample, never a fast one."""
    before = lab.accepted()
    raw = run_in(lab, job.command(outdir), outdir, cwd, timeout, job.nofile)
    time.sleep(SETTLE)
    accepts = lab.accepted() - before
    if raw.exit_code is None:
        verdict = Verdict(False, f"killed after the {timeout:g}s timeout")
    else:
        verdict = job.verify(outdir, raw)
    if verdict.ok and job.expected_accepts is not None and accepts != job.expected_accepts:
        verdict = Verdict(True, f"{verdict.summary}; {accepts} connections for {job.expected_accepts} open ports")
    return Sample(raw.wall, raw.rss_kb, raw.exit_code, verdict, accepts, job.expected_accepts, raw.tree_rss_kb)
