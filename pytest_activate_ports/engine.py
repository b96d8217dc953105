"""The probe engine: every check of the session, concurrently, on one private asyncio loop.

The loop runs in its own thread so that (a) items can start reporting while
slow probes are still in flight, and (b) it never touches the event loop that
pytest-asyncio gives a user's own tests. Work is done by a bounded pool of
workers per host (the per-host limit) drawing from that host's queue, under a
global limit sized to the file-descriptor limit: memory stays proportional to
what is in flight, not to the number of checks, and a production load
balancer is not hammered. Nothing raises out of the engine: a broken probe
becomes an ``error`` result for its check only.
"""

from __future__ import annotations

import asyncio
import collections
import resource
import threading
import time
from dataclasses import dataclass
from typing import Callable, Deque, Sequence

from .checks import Check
from .dial import Resolver, dial, unresolvable
from .probes.base import PortState, ProbeResult

FD_RESERVE = 64  # descriptors left for pytest, the JUnit writer, DNS and TLS files


def default_concurrency() -> int:
    """Probes in flight: as many as the descriptor limit safely allows, at most 2048."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return max(4, min(2048, soft - FD_RESERVE))


@dataclass(frozen=True)
class CheckOutcome:
    """What the engine observed for one check."""

    results: tuple[ProbeResult, ...]
    host_alive: bool  # some port on this host accepted or reset a connection in this run


class ProbingStopped(Exception):
    """The engine stopped (Ctrl-C, SIGTERM, or a crash) before this check was probed."""


Job = tuple[Check, int]
HostKey = tuple[str, str]  # (host name, address): the unit of per-host limits and liveness


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
        # One lock for all results: the loop thread writes, the pytest thread waits.
        self._cond = threading.Condition()
        self._done: dict[int, tuple[ProbeResult, ...]] = {}
        self._alive: dict[HostKey, bool] = {}
        self._stopped = False
        self._awaited: int | HostKey | None = None  # the check id or host the pytest thread is blocked on
        self._partial: dict[int, list[ProbeResult]] = {}
        self._remaining: dict[int, int] = {}
        self._unfinished: collections.Counter[HostKey] = collections.Counter()
        self._queues: dict[HostKey, Deque[Job]] = {}
        self._workers: collections.Counter[HostKey] = collections.Counter()
        self._tasks: set[asyncio.Task[None]] = set()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._main: asyncio.Task[None] | None = None
        self._ready = threading.Event()

    def start(self) -> None:
        """Start probing in the background; returns at once."""
        self._thread = threading.Thread(target=self._run, name="activate-probes", daemon=True)
        self._thread.start()
        self._ready.wait()

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
        if fresh and self._loop is not None:
            self._loop.call_soon_threadsafe(self._enqueue, fresh)

    def close(self) -> None:
        """Cancel whatever is still in flight and wait for the loop thread to end."""
        if self._loop is not None and self._main is not None and not self._loop.is_closed():
            try:
                self._loop.call_soon_threadsafe(self._main.cancel)
            except RuntimeError:
                pass  # the loop finished between the check and the call
        if self._thread is not None:
            self._thread.join()

    def _run(self) -> None:
        try:
            asyncio.run(self._probe_all())
        except asyncio.CancelledError:
            pass  # close() cancelled the run: the normal way to stop early
        finally:
            # Interrupted or crashed: waiting items must wake up, never hang.
            self._ready.set()
            with self._cond:
                self._stopped = True
                self._cond.notify_all()

    async def _probe_all(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._main = asyncio.current_task()
        self._global = asyncio.Semaphore(self.concurrency)
        self._resolver = Resolver(self.timeout)
        if self._on_demand is None:
            self._submitted.update(id(check) for check in self.checks)
            self._enqueue(self.checks)
        self._ready.set()
        try:
            await asyncio.Event().wait()  # probe until close(): more work may be submitted
        finally:
            for task in self._tasks:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)

    def _enqueue(self, checks: Sequence[Check]) -> None:
        """Add jobs to their hosts' queues and top up each host's workers to the per-host limit.

        Hosts are served in order of their first check, so probing runs roughly
        in the order items report.
        """
        for check in checks:
            key = host_key(check)
            self._queues.setdefault(key, collections.deque()).extend((check, port) for port in check.ports)
            self._partial[id(check)] = []
            self._remaining[id(check)] = len(check.ports)
            self._unfinished[key] += 1
        for key in dict.fromkeys(host_key(check) for check in checks):
            queue = self._queues[key]
            while self._workers[key] < min(self.per_host, len(queue)):
                self._workers[key] += 1
                task = asyncio.ensure_future(self._work(key, queue))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

    async def _work(self, key: HostKey, queue: Deque[Job]) -> None:
        """One of a host's ``per_host`` workers: take that host's next port, probe it, repeat."""
        try:
            while queue:
                check, port = queue.popleft()
                async with self._global:
                    results = await self._probe_port(check, port)
                self._record(check, results)
        finally:
            self._workers[key] -= 1

    async def _probe_port(self, check: Check, spec_port: int) -> list[ProbeResult]:
        """Probe one port on every address the host's name resolves to.

        A client may land on any of them (DNS round robin, A and AAAA), so each
        must satisfy the rule: one result per address.
        """
        started = time.monotonic()
        try:
            addresses = await self._resolver.resolve(check.host.address)
        except (OSError, asyncio.TimeoutError) as exc:
            return [unresolvable(check.host.address, spec_port, exc, started)]
        results = []
        for family, address in addresses:
            try:
                results.append(await dial(check, spec_port, family, address, self.timeout))
            except Exception as exc:  # noqa: BLE001 - the engine must never raise into pytest
                results.append(ProbeResult(spec_port, PortState.ERROR, f"probe crashed: {type(exc).__name__}: {exc}",
                                           time.monotonic() - started, address=address))
        return results

    def _record(self, check: Check, results: list[ProbeResult]) -> None:
        key = id(check)
        self._partial[key].extend(results)
        self._remaining[key] -= 1
        if self._remaining[key]:
            return
        final = tuple(sorted(self._partial.pop(key), key=lambda r: r.port))
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
