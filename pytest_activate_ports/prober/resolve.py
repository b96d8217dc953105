"""Host names to addresses: looked up once per session, off the engine's thread, never longer than the timeout."""

from __future__ import annotations

import ipaddress
import socket
from concurrent.futures import Future, ThreadPoolExecutor
from functools import partial
from typing import Any, Callable, Union

from .reactor import Reactor, Timer

Address = tuple[int, str]  # (family, literal address)
Answer = Union[list[Address], OSError]  # a resolver timeout is a TimeoutError, an OSError too
Waiter = Callable[[Answer], None]
LOOKUP_THREADS = 4  # getaddrinfo blocks; names are few (one per spec host), so a small pool suffices


class _Pending:
    __slots__ = ("waiters", "timer")

    def __init__(self, waiter: Waiter, timer: Timer) -> None:
        self.waiters = [waiter]
        self.timer = timer


class Resolver:
    """Every (family, address) of a name, or why there is none; IP literals skip DNS.

    Answers (failures included) are kept for the session: every port of a host
    is checked against the same addresses, and a dead resolver costs one
    timeout, not one per port.
    """

    def __init__(self, reactor: Reactor, timeout: float) -> None:
        self.reactor = reactor
        self.timeout = timeout
        self._names: dict[str, Answer | _Pending] = {}
        self._pool: ThreadPoolExecutor | None = None

    def resolve(self, name: str, waiter: Waiter) -> None:
        """Call ``waiter`` on the reactor's thread with the answer for ``name`` (at once when known)."""
        known = self._names.get(name)
        if known is None:
            try:
                ip = ipaddress.ip_address(name)
            except ValueError:
                pass
            else:
                known = self._names[name] = [(socket.AF_INET6 if ip.version == 6 else socket.AF_INET, str(ip))]
        if isinstance(known, _Pending):
            known.waiters.append(waiter)
        elif known is not None:
            waiter(known)
        else:
            timer = self.reactor.call_later(self.timeout, partial(self._settle, name, TimeoutError("no answer from the resolver")))
            self._names[name] = _Pending(waiter, timer)
            if self._pool is None:
                self._pool = ThreadPoolExecutor(LOOKUP_THREADS, thread_name_prefix="activate-probes-dns")
            lookup = self._pool.submit(socket.getaddrinfo, name, None, type=socket.SOCK_STREAM)
            lookup.add_done_callback(lambda done: self.reactor.call_soon_threadsafe(partial(self._answered, name, done)))

    def _answered(self, name: str, lookup: Future[Any]) -> None:
        failure = lookup.exception()
        if failure is None:
            self._settle(name, list(dict.fromkeys((int(info[0]), str(info[4][0])) for info in lookup.result())))
        else:  # e.g. a name too long for IDNA: it does not resolve either
            self._settle(name, failure if isinstance(failure, OSError) else OSError(f"{type(failure).__name__}: {failure}"))

    def _settle(self, name: str, answer: Answer) -> None:
        pending = self._names.get(name)
        if not isinstance(pending, _Pending):
            return  # answered already (a lookup finishing after its timeout is ignored)
        self._names[name] = answer
        self.reactor.cancel(pending.timer)
        for waiter in pending.waiters:
            waiter(answer)

    def close(self) -> None:
        """Forget lookups still running; their threads end with getaddrinfo."""
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
