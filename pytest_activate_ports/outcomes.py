"""Where finished jobs wait for the items that ask for them, whichever thread or process produced them.

The in-process engine writes here from its reactor thread; a prober process's
answers are written here by the channel's receiving thread. Items block in
:meth:`Outcomes.wait` for exactly their job, then, when none of its ports
answered, for their host's liveness (a forbidden port needs it).
"""

from __future__ import annotations

import threading
import time
from typing import Collection, Protocol

from .results import CheckOutcome, HostKey, Job, ProbeResult


ANY = -1  # what a waiter blocked on "whichever job finishes next" waits on


class ProbingStopped(Exception):
    """Probing stopped (Ctrl-C, SIGTERM, a crash, a prober that died) before this check was probed."""


class Sink(Protocol):
    """What a prober reports to: finished jobs, and that it stopped (for its jobs ``keys``, or for all)."""

    def finished(self, job: Job, results: tuple[ProbeResult, ...], alive: bool | None) -> None: ...

    def stopped(self, reason: str, keys: Collection[int] | None = None) -> None: ...


class Outcomes:
    """Finished jobs by key and hosts' liveness, behind one condition."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._done: dict[int, tuple[ProbeResult, ...]] = {}
        self._alive: dict[HostKey, bool] = {}
        self._stopped: str | None = None  # why, once all probing ended
        self._lost: dict[int, str] = {}  # job key -> why its prober stopped before finishing it
        self._awaited: int | HostKey | None = None  # the job key or host a waiting item is blocked on, or ANY
        self._arrived: list[int] = []  # keys finished since the last drain(), in the order they finished

    def done(self, key: int) -> bool:
        """True once job ``key`` has finished, or its prober stopped without finishing it."""
        with self._cond:
            return key in self._done or key in self._lost

    def finished(self, job: Job, results: tuple[ProbeResult, ...], alive: bool | None) -> None:
        """Record a finished job and, when this job decided it, its host's liveness (the engine's Observer)."""
        key, host = job.key, job.host_key
        with self._cond:
            self._done[key] = results
            self._arrived.append(key)
            if alive is not None:
                self._alive.setdefault(host, alive)
            # Wake the waiting item only for what it waits on: every needless wake-up
            # is a GIL hand-over taken from pytest's own per-item work.
            if self._awaited in (key, ANY) or (self._awaited == host and host in self._alive):
                self._cond.notify_all()

    def alive(self, host: HostKey, alive: bool) -> None:
        """Record ``host``'s liveness when no job's finish carries it (the probers of a fanout decided it together)."""
        with self._cond:
            self._alive.setdefault(host, alive)
            if self._awaited == host:
                self._cond.notify_all()

    def stopped(self, reason: str, keys: Collection[int] | None = None) -> None:
        """Probing has ended for the jobs ``keys`` (one prober's), or for all: those without a result get ``reason``."""
        with self._cond:
            if keys is None:
                self._stopped = self._stopped or reason
            else:
                lost = [key for key in keys if key not in self._done and key not in self._lost]
                self._lost.update((key, reason) for key in lost)
                self._arrived.extend(lost)
            self._cond.notify_all()

    def drain(self, block: bool = True) -> list[int]:
        """The keys finished since the last call, in the order they finished.

        With ``block``, waits until there is one; the list is empty then only once probing has stopped.
        """
        with self._cond:
            if block:
                self._awaited = ANY
                self._cond.wait_for(lambda: bool(self._arrived) or self._stopped is not None)
            arrived, self._arrived = self._arrived, []
            return arrived

    def settle(self, key: int, until: float) -> bool:
        """Wait until job ``key`` has finished, probing stopped, or ``time.monotonic()`` reaches ``until``; True if finished."""
        with self._cond:
            self._awaited = key
            self._cond.wait_for(lambda: key in self._done or key in self._lost or self._stopped is not None,
                                timeout=max(0.0, until - time.monotonic()))
            return key in self._done or key in self._lost

    def wait(self, job: Job) -> CheckOutcome:
        """Block until ``job`` has finished, then until its host's liveness is known if it matters.

        Raises:
            ProbingStopped: probing ended first.
        """
        key, host = job.key, job.host_key
        with self._cond:
            self._awaited = key
            self._cond.wait_for(lambda: key in self._done or key in self._lost or self._stopped is not None)
            if key not in self._done:
                raise ProbingStopped(self._lost.get(key) or self._stopped or "probing stopped")
            results = self._done[key]
            if any(r.state.answered for r in results):
                return CheckOutcome(results, True)
            self._awaited = host
            self._cond.wait_for(lambda: host in self._alive or self._stopped is not None)
            return CheckOutcome(results, self._alive.get(host, False))
