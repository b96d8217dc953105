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
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Callable, Deque, Sequence

from .checks import Check
from .dial import Dial, unresolvable
from .probes.base import Probe, ProbeResult, Target
from .reactor import Reactor
from .resolve import Address, Answer, Resolver

if TYPE_CHECKING:
    from .speaker import Listener, Speaker

FD_RESERVE = 64  # descriptors left for pytest, the JUnit writer, DNS and TLS files


def default_concurrency() -> int:
    """Probes in flight: as many as the descriptor limit safely allows, at most 2048."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return max(4, min(2048, soft - FD_RESERVE))


@dataclass(frozen=True, slots=True)
class CheckOutcome:
    """What the engine observed for one check."""

    results: tuple[ProbeResult, ...]
    host_alive: bool  # some port on this host accepted or reset a connection in this run


class ProbingStopped(Exception):
    """The engine stopped (Ctrl-C, SIGTERM, or a crash) before this check was probed."""


HostKey = tuple[str, str]  # (host name, address): the unit of per-host limits and liveness


class _Job:
    """One port of one check, tried on every address of its host in turn."""

    __slots__ = ("check", "port", "host", "started", "addresses", "results")

    def __init__(self, check: Check, port: int, host: HostKey) -> None:
        self.check = check
        self.port = port
        self.host = host
        self.started = time.monotonic()
        self.addresses: Deque[Address] = collections.deque()
        self.results: list[ProbeResult] = []


def host_key(check: Check) -> HostKey:
    """Which host a check loads and proves alive (names may repeat across specs, so the address too)."""
    return check.host.name, check.host.address


class Engine:
    """Runs the probes of the given checks; items read outcomes with :meth:`outcome`."""

    def __init__(self, checks: Sequence[Check], timeout: float, concurrency: int, per_host: int,
                 on_demand: Callable[[Check], Sequence[Check]] | None = None) -> None:
        """Probe ``checks`` once started; ``on_demand`` instead submits work lazily.

        With ``on_demand`` (pytest-xdist workers, which learn their items one by
        one), a check is probed only when its item asks for it, together with
        the checks ``on_demand`` groups with it (its host's), so each worker
        probes only what it runs.
        """
        self.checks = list(checks)
        self.timeout = timeout
        self.concurrency = concurrency
        self.per_host = per_host
        self._on_demand = on_demand
        self._submitted: set[int] = set()
        # One lock for all results: the engine's thread writes, the pytest thread waits.
        self._cond = threading.Condition()
        self._done: dict[int, tuple[ProbeResult, ...]] = {}
        self._alive: dict[HostKey, bool] = {}
        self._stopped = False
        self._awaited: int | HostKey | None = None  # the check id or host the pytest thread is blocked on
        # The rest belongs to the engine's thread.
        self._partial: dict[int, list[ProbeResult]] = {}
        self._remaining: dict[int, int] = {}
        self._unfinished: collections.Counter[HostKey] = collections.Counter()
        self._queues: dict[HostKey, Deque[tuple[Check, int]]] = {}
        self._busy: collections.Counter[HostKey] = collections.Counter()  # ports in flight per host
        self._in_flight = 0
        self._ready_hosts: dict[HostKey, None] = {}  # hosts with queued ports and room, in the order they became so
        self._filling = False
        self._reactor = Reactor()
        self._resolver = Resolver(self._reactor, timeout)
        self._speaker: Speaker | None = None  # started when the first probe talks
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start probing in the background; returns at once."""
        if self._on_demand is None:
            self.submit(self.checks)
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
            with self._cond:
                self._stopped = True
                self._cond.notify_all()

    def finished(self, check: Check) -> bool:
        """True once every probe of ``check`` has ended."""
        with self._cond:
            return id(check) in self._done

    def outcome(self, check: Check) -> CheckOutcome:
        """Block until ``check`` has been probed, then until its host's liveness is known if it matters.

        Raises:
            ProbingStopped: the engine stopped first.
        """
        if self._on_demand is not None and id(check) not in self._submitted:
            self.submit(self._on_demand(check))
        with self._cond:
            self._awaited = id(check)
            self._cond.wait_for(lambda: id(check) in self._done or self._stopped)
            if id(check) not in self._done:
                raise ProbingStopped("probing was stopped before this check completed")
            results = self._done[id(check)]
            if any(r.state.answered for r in results):
                return CheckOutcome(results, True)
            key = host_key(check)
            self._awaited = key
            self._cond.wait_for(lambda: key in self._alive or self._stopped)
            return CheckOutcome(results, self._alive.get(key, False))

    def submit(self, checks: Sequence[Check]) -> None:
        """Queue more checks for probing (from any thread); checks already queued are ignored."""
        fresh = [check for check in checks if id(check) not in self._submitted]
        self._submitted.update(id(check) for check in fresh)
        if fresh:
            self._reactor.call_soon_threadsafe(partial(self._enqueue, fresh))

    def close(self) -> None:
        """Stop whatever is still in flight (sockets closed, probes cancelled) and wait for the thread to end."""
        if self._thread is None:
            self._reactor.close()  # never started: only the reactor's own descriptors to release
            return
        self._reactor.stop()
        self._thread.join()

    def _enqueue(self, checks: Sequence[Check]) -> None:
        """Add checks' ports to their hosts' queues, then start as many as the limits allow.

        Hosts are served in order of their first check, so probing runs roughly
        in the order items report.
        """
        for check in checks:
            key = host_key(check)
            self._queues.setdefault(key, collections.deque()).extend((check, port) for port in check.ports)
            self._partial[id(check)] = []
            self._remaining[id(check)] = len(check.ports)
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
            check, port = queue.popleft()
            self._busy[key] += 1
            self._in_flight += 1
            if not queue or self._busy[key] >= self.per_host:
                del self._ready_hosts[key]
            job = _Job(check, port, key)
            self._resolver.resolve(check.host.address, partial(self._resolved, job))

    def _resolved(self, job: _Job, answer: Answer) -> None:
        """Probe the port on every address the host's name resolves to.

        A client may land on any of them (DNS round robin, A and AAAA), so each
        must satisfy the rule: one result per address.
        """
        if isinstance(answer, BaseException):
            self._job_done(job, [unresolvable(job.check.host.address, job.port, answer, job.started)])
            return
        job.addresses.extend(answer)
        self._next_address(job)

    def _next_address(self, job: _Job) -> None:
        if not job.addresses:
            self._job_done(job, job.results)
            return
        family, address = job.addresses.popleft()
        Dial(self._reactor, self._speak, job.check, job.port, family, address, self.timeout,
             partial(self._dialled, job)).start()

    def _speak(self, probe: Probe, target: Target, sock: socket.socket, listener: Listener) -> None:
        if self._speaker is None:
            # Imported on first use: asyncio and ssl cost megabytes and milliseconds
            # that a session of forbidden ports and plain tcp checks never needs.
            from .speaker import Speaker

            self._speaker = Speaker()
        self._speaker.speak(probe, target, sock, listener)

    def _dialled(self, job: _Job, result: ProbeResult) -> None:
        job.results.append(result)
        self._next_address(job)

    def _job_done(self, job: _Job, results: list[ProbeResult]) -> None:
        key = job.host
        self._busy[key] -= 1
        self._in_flight -= 1
        if self._queues[key] and self._busy[key] < self.per_host:
            self._ready_hosts.setdefault(key)
        self._record(job.check, results)
        self._fill()

    def _record(self, check: Check, results: list[ProbeResult]) -> None:
        key = id(check)
        self._partial[key].extend(results)
        self._remaining[key] -= 1
        if self._remaining[key]:
            return
        final = tuple(sorted(self._partial.pop(key), key=lambda r: r.port))
        del self._remaining[key]
        host = host_key(check)
        self._unfinished[host] -= 1
        with self._cond:
            self._done[key] = final
            if host not in self._alive and any(r.state.answered for r in final):
                self._alive[host] = True
            elif host not in self._alive and not self._unfinished[host]:
                self._alive[host] = False
            # Wake the pytest thread only for what it waits on: every needless wake-up
            # is a GIL hand-over taken from pytest's own per-item work.
            if self._awaited == key or (self._awaited == host and host in self._alive):
                self._cond.notify_all()
