"""A prober process: jobs arrive on a channel, attempts stream back; standard library only.

Started by :mod:`.vantages` through execnet with its modules shipped as
source (:mod:`.ship`), it runs the same engine as pytest's own process, but
here its CPU does not compete with pytest's thread for the GIL. The channel
protocol, all plain data (see :mod:`.transport`):

- in: settings ``{"timeout", "concurrency", "per_host", "heartbeat"}``, then
  any number of ``("jobs", [job, ...])``, then ``("close",)``;
- out: ``("ready", {"hostname", "python", "pid"})``, then batches ``[(key,
  attempts, alive), ...]`` as jobs finish (``alive`` is the host's liveness
  once that job decided it, else None), with ``("alive", None)`` every
  ``heartbeat`` seconds in between, then ``("stopped", reason)``.
"""

from __future__ import annotations

import os
import platform
import socket
import threading
from typing import Any

from .engine import Engine
from .probes.registry import rebuild
from ..results import Job, Offence, PortSet, PortState, ProbeResult, RangeSummary
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

    def failed(self, job: Wire, message: str) -> None:
        """A job that could not even be built here (a probe option this vantage cannot satisfy): every port an error."""
        ports = PortSet.parse(job[3])
        results: tuple[ProbeResult, ...]
        if job[6] is None:
            results = tuple(ProbeResult(port, port, PortState.ERROR, message, 0.0) for port in ports)
        else:  # a range: one offence standing for all its ports
            first = ProbeResult(next(iter(ports), 0), next(iter(ports), 0), PortState.ERROR, message, 0.0)
            results = RangeSummary([Offence.of(first, ports, 0.0)], {PortState.ERROR: len(ports)},
                                   {PortState.ERROR: ports}, 0.0)
        with self._cond:
            self._pending.append((job[0], attempts_to_wire(results), None))
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
            try:
                if batch:
                    self._channel.send(batch)
                if stopped is not None and not batch:
                    self._channel.send(("stopped", stopped))
                    return
            except (OSError, EOFError):  # the pytest side is gone (killed, or it gave up on us): no one to tell
                return

    def join(self) -> None:
        self._sender.join()


def heartbeat(channel: Any, every: float, done: threading.Event) -> None:
    """Say "alive" every ``every`` seconds until ``done``: the pytest side knows a stalled vantage by its silence."""
    while not done.wait(every):
        try:
            channel.send(("alive", None))
        except (OSError, EOFError, ValueError):  # the channel is gone: serve() is ending too
            return


def serve(channel: Any) -> None:
    """Run jobs from ``channel`` until told to close (or the channel goes away)."""
    settings = channel.receive()
    channel.send(("ready", {"hostname": socket.gethostname(), "python": platform.python_version(), "pid": os.getpid()}))
    stream = Stream(channel)
    beating = threading.Event()
    threading.Thread(target=heartbeat, args=(channel, float(settings["heartbeat"]), beating),
                     name="activate-prober-heartbeat", daemon=True).start()
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
                    stream.failed(data, f"the prober could not build this probe: {type(exc).__name__}: {exc}")
            engine.submit(jobs)
    finally:
        beating.set()
        engine.close()  # tells the stream it stopped
        stream.join()
