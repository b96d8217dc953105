"""The engine thread's event loop: socket readiness, timers and a thread-safe inbox over :mod:`selectors`.

Checking ports is mostly connection attempts: send a SYN, wait until the
socket is writable or a deadline passes, read the kernel's verdict. asyncio
can do that, but at a price paid before anything is dialled: importing it
loads the ssl module and OpenSSL, and every attempt costs a future, a task
step and a timeout context. This loop does only what attempts need;
asyncio starts (see :mod:`.speaker`) when a protocol probe has something
to say.
"""

from __future__ import annotations

import heapq
import itertools
import selectors
import socket
import time
from collections import deque
from typing import Callable, Deque

Callback = Callable[[], None]


class Timer:
    """A callback due at a monotonic time; :meth:`Reactor.cancel` drops it (and what it refers to) at once."""

    __slots__ = ("when", "order", "callback")

    def __init__(self, when: float, order: int, callback: Callback) -> None:
        self.when = when
        self.order = order  # ties run in the order they were scheduled
        self.callback: Callback | None = callback

    def __lt__(self, other: Timer) -> bool:
        return (self.when, self.order) < (other.when, other.order)


class Reactor:
    """Runs callbacks when sockets become writable, when timers are due, or when another thread asks.

    Readiness is handled before timers in each turn, so a connect the kernel
    completed while the thread could not run is seen before its deadline fires.
    """

    def __init__(self) -> None:
        self._selector = selectors.DefaultSelector()
        self._timers: list[Timer] = []
        self._cancelled = 0
        self._order = itertools.count()
        self._inbox: Deque[Callback] = deque()
        self._wake_in, self._wake_out = socket.socketpair()
        self._wake_in.setblocking(False)
        self._wake_out.setblocking(False)
        self._selector.register(self._wake_in, selectors.EVENT_READ)
        self._running = True

    def call_soon_threadsafe(self, callback: Callback) -> None:
        """Run ``callback`` on the reactor's thread at its next turn (callable from any thread)."""
        self._inbox.append(callback)
        try:
            self._wake_out.send(b"\0")
        except OSError:
            pass  # a full wake-up buffer already wakes the loop; a closed one means it has stopped

    def call_later(self, delay: float, callback: Callback) -> Timer:
        """Run ``callback`` after ``delay`` seconds unless the returned timer is cancelled first."""
        timer = Timer(time.monotonic() + delay, next(self._order), callback)
        heapq.heappush(self._timers, timer)
        return timer

    def cancel(self, timer: Timer) -> None:
        """Cancel ``timer``; the heap sheds cancelled timers once they are the majority (memory stays bounded)."""
        if timer.callback is None:
            return
        timer.callback = None
        self._cancelled += 1
        if self._cancelled > 256 and self._cancelled * 2 > len(self._timers):
            self._timers = [t for t in self._timers if t.callback is not None]
            heapq.heapify(self._timers)
            self._cancelled = 0

    def on_writable(self, sock: socket.socket, callback: Callback) -> None:
        """Run ``callback`` once ``sock`` is writable (a connect ended); the reactor owns ``sock`` until :meth:`forget`."""
        self._selector.register(sock, selectors.EVENT_WRITE, callback)

    def forget(self, sock: socket.socket) -> None:
        """Stop watching ``sock``."""
        self._selector.unregister(sock)

    def stop(self) -> None:
        """End :meth:`run` at its next turn (callable from any thread)."""
        self.call_soon_threadsafe(self._halt)

    def _halt(self) -> None:
        self._running = False

    def run(self) -> None:
        """Turn until :meth:`stop`; a callback's exception ends the run (callbacks must not raise)."""
        while self._running:
            self._turn()

    def _turn(self) -> None:
        timeout: float | None = None
        if self._inbox:
            timeout = 0
        elif self._timers:
            timeout = max(0.0, self._timers[0].when - time.monotonic())
        for key, _ in self._selector.select(timeout):
            if key.fileobj is self._wake_in:
                self._drain_wake_ups()
            else:
                key.data()
        while self._inbox:
            self._inbox.popleft()()
        now = time.monotonic()
        while self._timers and self._timers[0].when <= now:
            timer = heapq.heappop(self._timers)
            callback, timer.callback = timer.callback, None  # fired: a late cancel is a no-op
            if callback is None:
                self._cancelled -= 1
            else:
                callback()

    def _drain_wake_ups(self) -> None:
        try:
            while self._wake_in.recv(4096):
                pass
        except BlockingIOError:
            pass

    def close(self) -> None:
        """Close every socket still watched (attempts in flight) and the reactor itself; idempotent."""
        watched = self._selector.get_map()
        if watched is None:
            return  # closed already
        for key in list(watched.values()):
            key.fileobj.close()  # type: ignore[union-attr]
        self._selector.close()
        self._wake_out.close()
