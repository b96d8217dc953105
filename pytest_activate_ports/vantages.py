"""Gateways to prober processes: the only door from the pytest side to a prober outside this process.

A prober is started through execnet (the transport pytest-xdist uses): a
gateway to a Python — a local process today, any execnet gateway spec such
as ``ssh=host`` or ``popen//python=ip netns exec NS python3`` by design — gets
the prober's modules as source (:mod:`.ship`) and runs :func:`.prober.serve.serve`.
Whatever happens to it (no Python, an old one, a crash, a kill), every job it
did not finish ends as ``ProbingStopped`` with one line naming the prober
and the cause: never a pass, never a hang.
"""

from __future__ import annotations

import sys
import threading
from typing import Any, Sequence

import execnet

from . import ship
from .outcomes import Outcomes
from .results import Job
from .prober.transport import Wire, attempts_from_wire, job_to_wire

CLOSE_GRACE = 2.0  # seconds a prober gets to stop on its own before its process is killed
START_TIMEOUT = 30.0  # seconds for a gateway's Python to say which it is


class ProcessProber:
    """A prober in a process of its own, behind an execnet channel; reports to ``outcomes`` (a probing Runner)."""

    def __init__(self, timeout: float, concurrency: int, per_host: int, outcomes: Outcomes,
                 where: str | None = None, min_python: tuple[int, int] = ship.MIN_PYTHON, name: str = "prober") -> None:
        """``where`` is an execnet gateway spec (default: this Python in a new process) whose Python must be at least ``min_python``.

        ``name`` ("prober", "vantage agent") opens every message about it.
        """
        self.where = where or f"popen//python={sys.executable}"
        self.name = name
        self._min_python = min_python
        self._settings = {"timeout": timeout, "concurrency": concurrency, "per_host": per_host}
        self._outcomes = outcomes
        self._group = execnet.Group()
        self._channel: Any = None
        self._jobs: dict[int, Job] = {}
        self._lock = threading.Lock()
        self._stopped: str | None = None  # why, once this prober has stopped
        self.facts: dict[str, str] = {}  # the prober's hostname and Python, once it is up

    def start(self) -> None:
        """Start the prober process; a prober that cannot start stops every check with the reason."""
        try:
            gateway = self._group.makegateway(self.where)
            channel = gateway.remote_exec(ship.BOOTSTRAP)
            _, version = channel.receive(START_TIMEOUT)
        except Exception as exc:  # noqa: BLE001 - execnet says "no" as OSError, HostNotFound, EOFError, TimeoutError...
            self._stop(f"the {self.name} ({self.where}) did not start: {str(exc) or type(exc).__name__}")
            return
        if tuple(version) < self._min_python:
            channel.send(None)
            self._stop(f"the {self.name} ({self.where}) cannot run there: Python {'.'.join(map(str, version))} is too old "
                       f"(the prober needs >= {'.'.join(map(str, self._min_python))})")
            return
        channel.send(ship.sources())
        channel.send(self._settings)
        self._channel = channel
        channel.setcallback(self._received, endmarker=None)

    def submit(self, jobs: Sequence[Job]) -> None:
        with self._lock:
            self._jobs.update((job.key, job) for job in jobs)
            stopped = self._stopped
        if stopped is not None:  # jobs given to a prober that has stopped end at once, with its reason
            self._outcomes.stopped(stopped, [job.key for job in jobs])
            return
        if self._channel is not None and jobs:
            try:
                self._channel.send(("jobs", [job_to_wire(job) for job in jobs]))
            except (OSError, EOFError, ValueError) as exc:  # ValueError: the channel is closed
                self._stop(f"the {self.name} ({self.where}) stopped: {exc}")

    def close(self) -> None:
        """Stop the prober and end its process (killed if it does not stop within the grace time)."""
        if self._channel is not None:
            try:
                self._channel.send(("close",))
                self._channel.waitclose(CLOSE_GRACE)
            except (OSError, EOFError, ValueError, execnet.TimeoutError, execnet.RemoteError):
                pass  # it is going away either way: the group below ends it
        self._group.terminate(timeout=CLOSE_GRACE)
        self._stop(f"the {self.name} ({self.where}) was closed")

    def _received(self, message: Wire) -> None:
        """One message from the prober, on execnet's receiving thread."""
        if message is None:  # the channel ended: the prober stopped, or died
            self._stop(f"the {self.name} ({self.where}) ended before this check was probed")
        elif isinstance(message, tuple):
            kind, detail = message
            if kind == "ready":
                self.facts = {str(k): str(v) for k, v in detail.items()}
            # "stopped": the prober closed as asked; the channel's end follows
        else:
            for key, attempts, alive in message:
                with self._lock:
                    job = self._jobs.pop(key)
                self._outcomes.finished(job, attempts_from_wire(attempts), alive)

    def _stop(self, reason: str) -> None:
        """Every job given to this prober and not finished ends with ``reason`` (the first reason wins)."""
        with self._lock:
            self._stopped = self._stopped or reason
            keys = list(self._jobs)
        self._outcomes.stopped(self._stopped, keys)
