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
import select
import selectors
import socket
import time
from collections import deque
from typing import Callable, Deque

Callback = Callable[[], None]
EPOLL = hasattr(select, "epoll")  # Linux: epoll itself, one-shot, without the selectors layer (see on_writable)


class Timer:
    """A callback due at a monotonic time; :meth:`Reactor.cancel` drops it (and what it refers to) at once."""

    __slots__ = ("callback",)

    def __init__(self, callback: Callback) -> None:
        self.callback: Callback | None = callback


class Reactor:
    """Runs callbacks when sockets become writable, when timers are due, or when another thread asks.

    Readiness is handled before timers in each turn, so a connect the kernel
    completed while the thread could not run is seen before its deadline fires.
    """

    def __init__(self) -> None:
        # Heap entries are (when, order, timer) tuples: compared in C, ties in the order they were scheduled.
        self._timers: list[tuple[float, int, Timer]] = []
        self._cancelled = 0
        self._order = itertools.count()
        self._inbox: Deque[Callback] = deque()
        self._wake_in, self._wake_out = socket.socketpair()
        self._wake_in.setblocking(False)
        self._wake_out.setblocking(False)
        self._watched: dict[int, tuple[socket.socket, Callback]] = {}  # fd -> the socket and what its readiness runs
        self._epoll = select.epoll() if EPOLL else None
        self._selector = None if EPOLL else selectors.DefaultSelector()
        if self._epoll is not None:
            self._epoll.register(self._wake_in.fileno(), select.EPOLLIN)
        else:
            assert self._selector is not None
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
        timer = Timer(callback)
        heapq.heappush(self._timers, (time.monotonic() + delay, next(self._order), timer))
        return timer

    def cancel(self, timer: Timer) -> None:
        """Cancel ``timer``; the heap sheds cancelled timers once they are the majority (memory stays bounded)."""
        if timer.callback is None:
            return
        timer.callback = None
        self._cancelled += 1
        if self._cancelled > 256 and self._cancelled * 2 > len(self._timers):
            self._timers = [entry for entry in self._timers if entry[2].callback is not None]
            heapq.heapify(self._timers)
            self._cancelled = 0

    def on_writable(self, sock: socket.socket, callback: Callback) -> None:
        """Run ``callback`` once ``sock`` is writable (a connect ended); the reactor owns ``sock`` until :meth:`forget`.

        Under epoll the registration is one-shot: once it fired the kernel
        reports the socket no more, and closing it removes it, so forgetting
        costs no system call (a connect attempt's eighth).
        """
        fd = sock.fileno()
        self._watched[fd] = (sock, callback)
        if self._epoll is not None:
            self._epoll.register(fd, select.EPOLLOUT | select.EPOLLONESHOT)
        else:
            assert self._selector is not None
            self._selector.register(fd, selectors.EVENT_WRITE)

    def forget(self, sock: socket.socket) -> None:
        """Stop watching ``sock`` (it is closed next, or handed on; a late one-shot event for it is dropped)."""
        fd = sock.fileno()
        del self._watched[fd]
        if self._selector is not None:
            self._selector.unregister(fd)

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
            timeout = max(0.0, self._timers[0][0] - time.monotonic())
        wake = self._wake_in.fileno()
        for fd in self._ready(timeout):
            if fd == wake:
                self._drain_wake_ups()
                continue
            watched = self._watched.get(fd)
            if watched is not None:
                watched[1]()
            elif self._epoll is not None:
                self._epoll.unregister(fd)  # expired, then handed on still open: its readiness is not ours
        while self._inbox:
            self._inbox.popleft()()
        now = time.monotonic()
        while self._timers and self._timers[0][0] <= now:
            timer = heapq.heappop(self._timers)[2]
            callback, timer.callback = timer.callback, None  # fired: a late cancel is a no-op
            if callback is None:
                self._cancelled -= 1
            else:
                callback()

    def _ready(self, timeout: float | None) -> list[int]:
        if self._epoll is not None:
            return [fd for fd, _ in self._epoll.poll(-1 if timeout is None else timeout)]
        assert self._selector is not None
        return [key.fd for key, _ in self._selector.select(timeout)]

    def _drain_wake_ups(self) -> None:
        try:
            while self._wake_in.recv(4096):
                pass
        except BlockingIOError:
            pass

    def close(self) -> None:
        """Close every socket still watched (attempts in flight) and the reactor itself; idempotent."""
        if self._wake_in.fileno() == -1:
            return  # closed already
        for sock, _ in self._watched.values():
            sock.close()
        self._watched.clear()
        if self._epoll is not None:
            self._epoll.close()
        if self._selector is not None:
            self._selector.close()
        self._wake_in.close()
        self._wake_out.close()
