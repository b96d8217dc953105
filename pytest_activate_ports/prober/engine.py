"""The probe engine: every check of the session, concurrently, from one background thread.

The engine's thread runs a reactor (see :mod:`.reactor`) so that (a) items
can start reporting while slow probes are still in flight, and (b) it never
touches the event loop that pytest-asyncio gives a user's own tests. Ports are
dialled host by host, at most ``per_host`` at a time per host (a production
load balancer is not hammered) and at most ``concurrency`` in all, sized to
the file-descriptor limit: memory stays proportional to what is in flight,
not to the number of checks. Nothing raises out of the engine: a broken
probe becomes an ``error`` result for its check only.
"""

from __future__ import annotations

import collections
import resource
import socket
import threading
import time
from functools import partial
from typing import TYPE_CHECKING, Deque, Iterator, Protocol, Sequence

from .dial import Dial, unresolvable
from .probes.base import Probe
from .reactor import Reactor
from .resolve import Address, Answer, Resolver
from ..results import HostKey, Job, ProbeResult, RangeTally, Target

if TYPE_CHECKING:
    from .speaker import Listener, Speaker

FD_RESERVE = 64  # descriptors left for pytest, the JUnit writer, DNS and TLS files


def default_concurrency() -> int:
    """Probes in flight: as many as the descriptor limit safely allows, at most 2048."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return max(4, min(2048, soft - FD_RESERVE))


class Observer(Protocol):
    """Who hears jobs finish (on the engine's thread)."""

    def finished(self, job: Job, results: tuple[ProbeResult, ...], alive: bool | None) -> None:
        """``job`` ended with ``results``; ``alive`` is its host's liveness once this job decided it, else None."""

    def stopped(self, reason: str) -> None:
        """Probing ended: nothing more will be finished."""


STOPPED = "probing was stopped before this check completed"


class _Port:
    """One port of one job, tried on every address of its host in turn."""

    __slots__ = ("job", "port", "started", "addresses", "results")

    def __init__(self, job: Job, port: int) -> None:
        self.job = job
        self.port = port
        self.started = time.monotonic()
        self.addresses: Deque[Address] = collections.deque()
        self.results: list[ProbeResult] = []


class Engine:
    """Runs jobs and hands each finished one to its observer, on the engine's thread."""

    def __init__(self, jobs: Sequence[Job], timeout: float, concurrency: int, per_host: int, observer: Observer) -> None:
        """Run ``jobs`` (and any submitted later) once started, telling ``observer`` as each finishes.

        The observer is :class:`.outcomes.Outcomes` in pytest's process, where
        items wait for their job, or a prober process's stream back to pytest.
        """
        self.jobs = list(jobs)
        self.timeout = timeout
        self.concurrency = concurrency
        self.per_host = per_host
        self._observer = observer
        self._submitted: set[int] = set()
        # The rest belongs to the engine's thread.
        self._alive: set[HostKey] = set()  # hosts whose liveness was decided (and told)
        self._partial: dict[int, list[ProbeResult] | RangeTally] = {}  # a range's attempts are summed up as they come
        self._remaining: dict[int, int] = {}
        self._unfinished: collections.Counter[HostKey] = collections.Counter()
        # Per host, its jobs with the ports not yet started: a range is one entry, not 64k.
        self._queues: dict[HostKey, Deque[tuple[Job, Iterator[int]]]] = {}
        self._busy: collections.Counter[HostKey] = collections.Counter()  # ports in flight per host
        self._in_flight = 0
        self._ready_hosts: dict[HostKey, None] = {}  # hosts with queued ports and room, in the order they became so
        self._filling = False
        self._reactor = Reactor()
        self._resolver = Resolver(self._reactor, timeout)
        self._addresses: dict[str, list[Address]] = {}  # names resolved, kept for the session as the resolver does
        self._speaker: Speaker | None = None  # started when the first probe talks
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start probing in the background; returns at once."""
        self.submit(self.jobs)
        self._thread = threading.Thread(target=self._run, name="activate-probes", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self._reactor.run()
        finally:
            # Stopped or crashed: waiting items must wake up, never hang.
            if self._speaker is not None:
                self._speaker.close()
            self._resolver.close()
            self._reactor.close()
            self._observer.stopped(STOPPED)

    def submit(self, jobs: Sequence[Job]) -> None:
        """Queue more jobs (from any thread); jobs already queued are ignored."""
        fresh = [job for job in jobs if job.key not in self._submitted]
        self._submitted.update(job.key for job in fresh)
        if fresh:
            self._reactor.call_soon_threadsafe(partial(self._enqueue, fresh))

    def close(self) -> None:
        """Stop whatever is still in flight (sockets closed, probes cancelled) and wait for the thread to end."""
        if self._thread is None:
            self._reactor.close()  # never started: only the reactor's own descriptors to release
            return
        self._reactor.stop()
        self._thread.join()

    def _enqueue(self, jobs: Sequence[Job]) -> None:
        """Add jobs' ports to their hosts' queues, then start as many as the limits allow.

        Hosts are served in order of their first job, so probing runs roughly
        in the order items report.
        """
        for job in jobs:
            key = job.host_key
            self._queues.setdefault(key, collections.deque()).append((job, iter(job.ports)))
            self._partial[job.key] = [] if job.offends is None else RangeTally(job.offends)
            self._remaining[job.key] = len(job.ports)
            self._unfinished[key] += 1
            if self._busy[key] < self.per_host:
                self._ready_hosts.setdefault(key)
        self._fill()

    def _fill(self) -> None:
        """Start queued ports while the limits allow.

        Attempts can finish synchronously (a connect refused or unreachable at
        once, an IP literal resolved at once) and call back into here: the
        running loop picks up the freed room, so the stack never deepens with
        the number of ports.
        """
        if self._filling:
            return
        self._filling = True
        try:
            self._start_queued()
        finally:
            self._filling = False

    def _start_queued(self) -> None:
        while self._in_flight < self.concurrency and self._ready_hosts:
            key = next(iter(self._ready_hosts))
            queue = self._queues[key]
            job, ports = queue[0]
            port = next(ports, None)
            if port is None:
                queue.popleft()
                if not queue:
                    del self._ready_hosts[key]
                continue
            self._busy[key] += 1
            self._in_flight += 1
            if not queue or self._busy[key] >= self.per_host:
                del self._ready_hosts[key]
            attempts = _Port(job, port)
            known = self._addresses.get(job.address)
            if known is not None:  # every port after a host's first: no lookup, no callback
                self._resolved(attempts, known)
            else:
                self._resolver.resolve(job.address, partial(self._resolved, attempts))

    def _resolved(self, attempts: _Port, answer: Answer) -> None:
        """Probe the port on every address the host's name resolves to.

        A client may land on any of them (DNS round robin, A and AAAA), so each
        must satisfy the rule: one result per address.
        """
        if isinstance(answer, BaseException):
            job = attempts.job
            self._port_done(attempts, [unresolvable(job.address, attempts.port, job.dial_port(attempts.port), answer,
                                                    attempts.started)])
            return
        self._addresses[attempts.job.address] = answer
        attempts.addresses.extend(answer)
        self._next_address(attempts)

    def _next_address(self, attempts: _Port) -> None:
        if not attempts.addresses:
            self._port_done(attempts, attempts.results)
            return
        family, address = attempts.addresses.popleft()
        Dial(self._reactor, self._speak, attempts.job, attempts.port, family, address, self.timeout,
             partial(self._dialled, attempts)).start()

    def _speak(self, probe: Probe, target: Target, sock: socket.socket, listener: Listener) -> None:
        if self._speaker is None:
            # Imported on first use: asyncio and ssl cost megabytes and milliseconds
            # that a session of forbidden ports and plain tcp checks never needs.
            from .speaker import Speaker

            self._speaker = Speaker()
        self._speaker.speak(probe, target, sock, listener)

    def _dialled(self, attempts: _Port, result: ProbeResult) -> None:
        attempts.results.append(result)
        self._next_address(attempts)

    def _port_done(self, attempts: _Port, results: list[ProbeResult]) -> None:
        key = attempts.job.host_key
        self._busy[key] -= 1
        self._in_flight -= 1
        if self._queues[key] and self._busy[key] < self.per_host:
            self._ready_hosts.setdefault(key)
        self._record(attempts.job, results)
        self._fill()

    def _record(self, job: Job, results: list[ProbeResult]) -> None:
        key = job.key
        gathered = self._partial[key]
        if isinstance(gathered, RangeTally):
            for result in results:
                gathered.add(result)
        else:
            gathered.extend(results)
        self._remaining[key] -= 1
        if self._remaining[key]:
            return
        del self._partial[key], self._remaining[key]
        final: tuple[ProbeResult, ...]
        if isinstance(gathered, RangeTally):
            final = summary = gathered.summary()
            answered = summary.answered
        else:
            final = tuple(sorted(gathered, key=lambda r: r.port))
            answered = any(r.state.answered for r in final)
        host = job.host_key
        self._unfinished[host] -= 1
        decided = host not in self._alive and (answered or not self._unfinished[host])
        if decided:
            self._alive.add(host)
        self._observer.finished(job, final, answered if decided else None)
