"""A prober process: jobs arrive on a channel, attempts stream back; standard library only.

Started by :mod:`.vantages` through execnet with its modules shipped as
source (:mod:`.ship`), it runs the same engine as pytest's own process, but
here its CPU does not compete with pytest's thread for the GIL. The channel
protocol, all plain data (see :mod:`.transport`):

- in: settings ``{"timeout", "concurrency", "per_host"}``, then any number of
  ``("jobs", [job, ...])``, then ``("close",)``;
- out: ``("ready", {"hostname", "python"})``, then batches ``[(key, attempts,
  alive), ...]`` as jobs finish (``alive`` is the host's liveness once that
  job decided it, else None), then ``("stopped", reason)``.
"""

from __future__ import annotations

import os
import platform
import socket
import threading
from typing import Any

from .engine import Engine
from .probes.registry import rebuild
from ..results import Job, PortState, ProbeResult
from .transport import Wire, attempts_to_wire, job_from_wire


class Stream:
    """The engine's observer in a prober process: finished jobs go back over the channel in batches.

    A sender thread takes whatever finished while it was sending the last
    batch, so the number of messages adapts to the load: one per job when
    results trickle in, few large ones when thousands finish at once.
    """

    def __init__(self, channel: Any) -> None:
        self._channel = channel
        self._cond = threading.Condition()
        self._pending: list[Wire] = []
        self._stopped: str | None = None
        self._sender = threading.Thread(target=self._send, name="activate-prober-stream", daemon=True)
        self._sender.start()

    def finished(self, job: Job, results: tuple[ProbeResult, ...], alive: bool | None) -> None:
        with self._cond:
            self._pending.append((job.key, attempts_to_wire(results), alive))
            self._cond.notify()

    def failed(self, key: int, ports: Wire, message: str) -> None:
        """A job that could not even be built here (a probe option this vantage cannot satisfy)."""
        results = tuple(ProbeResult(int(port), int(port), PortState.ERROR, message, 0.0) for port in ports)
        with self._cond:
            self._pending.append((key, attempts_to_wire(results), None))
            self._cond.notify()

    def stopped(self, reason: str) -> None:
        with self._cond:
            self._stopped = reason
            self._cond.notify()

    def _send(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: bool(self._pending) or self._stopped is not None)
                batch, self._pending = self._pending, []
                stopped = self._stopped
            if batch:
                self._channel.send(batch)
            if stopped is not None and not batch:
                self._channel.send(("stopped", stopped))
                return

    def join(self) -> None:
        self._sender.join()


def serve(channel: Any) -> None:
    """Run jobs from ``channel`` until told to close (or the channel goes away)."""
    settings = channel.receive()
    channel.send(("ready", {"hostname": socket.gethostname(), "python": platform.python_version(), "pid": os.getpid()}))
    stream = Stream(channel)
    engine = Engine([], float(settings["timeout"]), int(settings["concurrency"]), int(settings["per_host"]), stream)
    engine.start()
    try:
        while True:
            message = channel.receive()
            if message[0] != "jobs":
                break
            jobs = []
            for data in message[1]:
                try:
                    jobs.append(job_from_wire(data, rebuild))
                except Exception as exc:  # noqa: BLE001 - one unbuildable job is an error for that job only
                    stream.failed(data[0], data[3], f"the prober could not build this probe: {type(exc).__name__}: {exc}")
            engine.submit(jobs)
    finally:
        engine.close()  # tells the stream it stopped
        stream.join()
