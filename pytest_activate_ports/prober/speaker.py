"""Protocol probes on connected sockets, on an asyncio loop started when the first probe has something to say.

The reactor (see :mod:`.reactor`) classifies connection attempts; a port
that accepted and whose rule asks for more than a handshake is handed here
with its socket. The loop runs in its own thread so it never touches the
event loop pytest-asyncio gives a user's tests, and runs only in sessions
that need it: a run of forbidden ports and plain ``tcp`` checks never imports
asyncio or ssl.
"""

from __future__ import annotations

import asyncio
import socket
import sys
import threading
from typing import Any, Awaitable, Callable, Coroutine, TypeVar, Union

from .probes.base import MAX_READ, PeerError, Probe, ProtocolResult, Target
from .probes.connection import Connection

T = TypeVar("T")
Spoken = Union[ProtocolResult, BaseException]  # the probe's answer, or the bug that stopped it
Listener = Callable[[Spoken], None]

if sys.version_info >= (3, 11):
    async def within(seconds: float, awaitable: Awaitable[T]) -> T:
        """``await awaitable`` or raise TimeoutError; ``asyncio.timeout`` spares wait_for's extra task per call."""
        async with asyncio.timeout(seconds):  # novermin: the sys.version_info check above guards it
            return await awaitable
else:  # pragma: no cover - exercised on Python 3.10 only
    async def within(seconds: float, awaitable: Awaitable[T]) -> T:
        """``await awaitable`` or raise TimeoutError."""
        return await asyncio.wait_for(awaitable, seconds)


class Speaker:
    """Runs probes' protocol checks; results go to each caller's listener, from the speaker's thread."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stop: asyncio.Event | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._ready = threading.Event()

    def speak(self, probe: Probe, target: Target, sock: socket.socket, listener: Listener) -> None:
        """Run ``probe`` on the connected ``sock`` (which it now owns) within ``target.timeout``."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="activate-probes-speaker", daemon=True)
            self._thread.start()
            self._ready.wait()
        assert self._loop is not None
        self._loop.call_soon_threadsafe(self._begin, probe, target, sock, listener)

    def _run(self) -> None:
        try:
            asyncio.run(self._serve())
        finally:
            self._ready.set()  # a loop that failed to start must not leave speak() waiting

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        self._ready.set()
        try:
            await self._stop.wait()
        finally:
            for task in self._tasks:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)

    def _begin(self, probe: Probe, target: Target, sock: socket.socket, listener: Listener) -> None:
        task = asyncio.ensure_future(_converse(probe, target, sock, listener))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def close(self) -> None:
        """Cancel every check in flight (their sockets close) and end the loop's thread."""
        if self._thread is None:
            return
        if self._loop is not None and self._stop is not None:
            try:
                self._loop.call_soon_threadsafe(self._stop.set)
            except RuntimeError:
                pass  # the loop ended on its own
        self._thread.join()


async def _converse(probe: Probe, target: Target, sock: socket.socket, listener: Listener) -> None:
    """One probe's exchange; cancellation (the engine stopping) reports nothing."""
    try:
        reader, writer = await asyncio.open_connection(sock=sock, limit=MAX_READ)
    except Exception as exc:  # noqa: BLE001 - reported as this check's error, never raised into the loop
        sock.close()
        listener(exc)
        return
    conn = Connection(target, reader, writer)
    try:
        spoken: Spoken = await within(target.timeout, _speak(probe.check(conn)))
    except asyncio.TimeoutError:
        spoken = ProtocolResult(False, f"{probe.kind}: no complete answer within {target.timeout:g}s")
    except asyncio.CancelledError:
        raise
    except BaseException as exc:  # noqa: BLE001 - a probe bug (even SystemExit) is an error for its check only
        spoken = exc
    finally:
        conn.close()
    listener(spoken)


async def _speak(check: Coroutine[Any, Any, ProtocolResult]) -> ProtocolResult:
    """Run a probe's check; network failures it did not handle still mean "protocol not spoken".

    The check runs as its own task so that a CancelledError it raises itself
    (a bug) is told apart from our cancellation (timeout, Ctrl-C): the first is
    an error for this check only, the second must propagate.
    """
    task = asyncio.ensure_future(check)
    try:
        await asyncio.wait({task})
    except asyncio.CancelledError:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        raise
    if task.cancelled():
        raise RuntimeError("the probe raised CancelledError on its own")
    failure = task.exception()
    if failure is None:
        return task.result()
    if isinstance(failure, (OSError, EOFError, asyncio.IncompleteReadError, asyncio.LimitOverrunError)):
        return ProtocolResult(False, f"connection failed during the protocol check: {type(failure).__name__}: {failure}")
    if isinstance(failure, PeerError):  # what a probe did not catch itself: the peer does not speak the protocol
        return ProtocolResult(False, str(failure))
    raise failure
