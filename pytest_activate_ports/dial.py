"""One connection attempt, classified: the only place that turns socket outcomes into port states.

The engine decides *when* and *how many*; this module decides *what happened*
to one (host, port, address): open (then the protocol probe runs on the same
connection), refused, filtered, unreachable, or unresolvable.
"""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import os
import socket
import sys
import time
from typing import Any, Awaitable, Coroutine, TypeVar

from .checks import Check
from .probes.base import MAX_READ, Connection, PortState, ProbeResult, ProtocolResult, Target

UNREACHABLE_ERRNOS = {errno.EHOSTUNREACH, errno.ENETUNREACH, errno.EHOSTDOWN, errno.ENETDOWN, errno.EACCES, errno.EPERM}
RESOURCE_ERRNOS = {errno.EMFILE, errno.ENFILE, errno.EADDRNOTAVAIL, errno.ENOBUFS}
T = TypeVar("T")
Address = tuple[int, str]  # (family, literal address)

if sys.version_info >= (3, 11):
    async def within(seconds: float, awaitable: Awaitable[T]) -> T:
        """``await awaitable`` or raise TimeoutError; ``asyncio.timeout`` spares wait_for's extra task per call."""
        async with asyncio.timeout(seconds):
            return await awaitable
else:  # pragma: no cover - exercised on Python 3.10 only
    async def within(seconds: float, awaitable: Awaitable[T]) -> T:
        """``await awaitable`` or raise TimeoutError."""
        return await asyncio.wait_for(awaitable, seconds)


class Resolver:
    """Host names to addresses, looked up once per session and concurrently; IP literals skip DNS."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self._names: dict[str, asyncio.Future[list[Address]]] = {}

    async def resolve(self, name: str) -> list[Address]:
        """Every (family, address) of ``name``; raises OSError or TimeoutError when it does not resolve."""
        try:
            ip = ipaddress.ip_address(name)
        except ValueError:
            pass
        else:
            return [(socket.AF_INET6 if ip.version == 6 else socket.AF_INET, str(ip))]
        if name not in self._names:
            self._names[name] = asyncio.ensure_future(self._lookup(name))
        return await asyncio.shield(self._names[name])

    async def _lookup(self, name: str) -> list[Address]:
        infos = await within(self.timeout, asyncio.get_running_loop().getaddrinfo(name, None, type=socket.SOCK_STREAM))
        unique: dict[Address, None] = {}
        for family, _, _, _, sockaddr in infos:
            unique.setdefault((int(family), str(sockaddr[0])), None)
        return list(unique)


def unresolvable(name: str, port: int, exc: BaseException, started: float) -> ProbeResult:
    """The result for a name that did not resolve: nothing was dialled."""
    reason = "no answer from the resolver" if isinstance(exc, asyncio.TimeoutError) else exc.args[-1]
    return ProbeResult(port, PortState.UNRESOLVABLE, f"{name} does not resolve: {reason}",
                       time.monotonic() - started, getattr(exc, "errno", None))


async def _open_socket(family: int) -> socket.socket:
    """A non-blocking socket; waits out descriptor exhaustion instead of failing the check."""
    delay = 0.01
    while True:
        try:
            sock = socket.socket(family, socket.SOCK_STREAM)
        except OSError as exc:
            if exc.errno not in RESOURCE_ERRNOS:
                raise
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.5)
            continue
        sock.setblocking(False)
        return sock


async def dial(check: Check, spec_port: int, family: int, address: str, timeout: float) -> ProbeResult:
    """Connect to ``address`` for ``check``'s ``spec_port`` and, if open, run the check's probe on it.

    Never raises for anything the network does; only a bug (or local resource
    exhaustion) escapes, which the engine records as an ``error`` result.
    """
    dialled = check.host.dial_port(spec_port)
    sockaddr: tuple[object, ...] = (address, dialled, 0, 0) if family == socket.AF_INET6 else (address, dialled)
    sock = await _open_socket(family)
    started = time.monotonic()

    def closed(state: PortState, detail: str, err: int | None = None) -> ProbeResult:
        return ProbeResult(spec_port, state, detail, time.monotonic() - started, err, address, _sockname(sock))

    handed_over = False
    try:
        failure = await _connect(sock, sockaddr, timeout)
        if failure is None:
            return closed(PortState.FILTERED, f"no answer within {timeout:g}s")
        if failure in RESOURCE_ERRNOS:
            raise OSError(failure, os.strerror(failure))  # local exhaustion says nothing about the port: a probe error
        if failure:
            return closed(*_refusal(failure), failure)
        source = _sockname(sock)
        probe = check.rule.probe
        if not probe.talks:
            return ProbeResult(spec_port, PortState.OPEN, "accepted the TCP handshake", time.monotonic() - started,
                               address=address, source=source, protocol=_HANDSHAKE_ONLY)
        reader, writer = await asyncio.open_connection(sock=sock, limit=MAX_READ)
        handed_over = True
        conn = Connection(Target(check.host.name, check.host.address, address, dialled, spec_port, timeout), reader, writer)
        try:
            protocol = await within(timeout, _speak(probe.check(conn)))
        except asyncio.TimeoutError:
            protocol = ProtocolResult(False, f"{probe.kind}: no complete answer within {timeout:g}s")
        finally:
            conn.close()
        return ProbeResult(spec_port, PortState.OPEN, protocol.detail, time.monotonic() - started,
                           address=address, source=source, protocol=protocol)
    finally:
        if not handed_over:
            sock.close()


_HANDSHAKE_ONLY = ProtocolResult(True, "TCP handshake completed")


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
    raise failure


async def _connect(sock: socket.socket, sockaddr: tuple[object, ...], timeout: float) -> int | None:
    """Connect ``sock``: 0 when connected, the errno when it failed, None when nothing answered in time.

    The outcome is read from the kernel even when the timer fired first: a
    starved event loop (a busy CPU, the GIL held by pytest's thread) can run
    its timer before it processes a handshake the kernel completed long ago,
    and such a port must not be reported filtered. asyncio's sock_connect
    cannot be asked afterwards (it consumes the socket error), hence this.
    """
    try:
        sock.connect(sockaddr)
        return 0
    except BlockingIOError:
        pass  # EINPROGRESS: the SYN is out
    except OSError as exc:
        return exc.errno or errno.EIO
    loop = asyncio.get_running_loop()
    writable = loop.create_future()
    fd = sock.fileno()
    loop.add_writer(fd, _wake, writable)
    try:
        await within(timeout, writable)
    except asyncio.TimeoutError:
        pass
    finally:
        loop.remove_writer(fd)
    return _settled(sock)


def _wake(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def _refusal(error: int) -> tuple[PortState, str]:
    """The port state and detail for a connect that failed with ``error``."""
    if error == errno.ECONNREFUSED:
        return PortState.REFUSED, "connection refused (RST)"
    if error == errno.ETIMEDOUT:
        return PortState.FILTERED, "connect timed out in the kernel"
    reason = os.strerror(error)
    return PortState.UNREACHABLE, reason if error in UNREACHABLE_ERRNOS else f"connect failed: {reason}"


def _settled(sock: socket.socket) -> int | None:
    """What the kernel says of a connect: 0 connected, an errno, or None (still waiting for an answer)."""
    error = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
    if error:
        return error
    try:
        sock.getpeername()
    except OSError:
        return None
    return 0


def _sockname(sock: socket.socket) -> str | None:
    """The local address a connection attempt used (audit evidence), if the kernel kept it."""
    try:
        name = sock.getsockname()
    except OSError:
        return None
    if name[1] == 0:
        return None
    return f"[{name[0]}]:{name[1]}" if ":" in str(name[0]) else f"{name[0]}:{name[1]}"
