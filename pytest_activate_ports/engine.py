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
from typing import Deque, Sequence

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


class Engine:
    """Runs the probes of the given checks; items read outcomes with :meth:`outcome`."""

    def __init__(self, checks: Sequence[Check], timeout: float, concurrency: int, per_host: int) -> None:
        self.checks = list(checks)
        self.timeout = timeout
        self.concurrency = concurrency
        self.per_host = per_host
        # One lock for all results: the loop thread writes, the pytest thread waits.
        self._cond = threading.Condition()
        self._done: dict[int, tuple[ProbeResult, ...]] = {}
        self._alive: dict[str, bool] = {}
        self._stopped = False
        self._partial: dict[int, list[ProbeResult]] = {}
        self._remaining: dict[int, int] = {}
        self._unfinished: collections.Counter[str] = collections.Counter(check.host.name for check in self.checks)
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
        with self._cond:
            self._cond.wait_for(lambda: id(check) in self._done or self._stopped)
            if id(check) not in self._done:
                raise ProbingStopped("probing was stopped before this check completed")
            results = self._done[id(check)]
            if any(r.state.answered for r in results):
                return CheckOutcome(results, True)
            self._cond.wait_for(lambda: check.host.name in self._alive or self._stopped)
            return CheckOutcome(results, self._alive.get(check.host.name, False))

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
        self._ready.set()
        self._global = asyncio.Semaphore(self.concurrency)
        self._resolver = Resolver(self.timeout)
        queues: dict[str, Deque[Job]] = {}
        for check in self.checks:
            queues.setdefault(check.host.name, collections.deque()).extend((check, port) for port in check.ports)
            self._partial[id(check)] = []
            self._remaining[id(check)] = len(check.ports)
        # Hosts in order of their first check, so probing runs roughly in the order items report.
        workers = [asyncio.ensure_future(self._work(queue))
                   for queue in queues.values() for _ in range(min(self.per_host, len(queue)))]
        try:
            await asyncio.gather(*workers)
        finally:
            for worker in workers:
                worker.cancel()
            await asyncio.gather(*workers, return_exceptions=True)

    async def _work(self, queue: Deque[Job]) -> None:
        """One of a host's ``per_host`` workers: take that host's next port, probe it, repeat."""
        while queue:
            check, port = queue.popleft()
            async with self._global:
                results = await self._probe_port(check, port)
            self._record(check, results)

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
        host = check.host.name
        self._unfinished[host] -= 1
        with self._cond:
            self._done[key] = final
            if host not in self._alive and any(r.state.answered for r in final):
                self._alive[host] = True
            elif host not in self._alive and not self._unfinished[host]:
                self._alive[host] = False
            self._cond.notify_all()
