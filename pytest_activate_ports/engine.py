"""The probe engine: every check of the session, concurrently, on one private asyncio loop.

The loop runs in its own thread so that (a) items can start reporting while
slow probes are still in flight, and (b) it never touches the event loop that
pytest-asyncio gives a user's own tests. Items block on a
:class:`concurrent.futures.Future` per check. Concurrency is bounded globally
(sized to the file-descriptor limit) and per host, so a production load
balancer is not hammered. Nothing raises out of the engine: a broken probe
becomes an ``error`` result for its check only.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import errno
import ipaddress
import resource
import socket
import threading
import time
from dataclasses import dataclass
from typing import Awaitable, Sequence

from .checks import Check
from .probes.base import MAX_READ, Connection, PortState, ProbeResult, ProtocolResult, Target

UNREACHABLE_ERRNOS = {errno.EHOSTUNREACH, errno.ENETUNREACH, errno.EHOSTDOWN, errno.ENETDOWN, errno.EACCES, errno.EPERM}
RESOURCE_ERRNOS = {errno.EMFILE, errno.ENFILE, errno.EADDRNOTAVAIL, errno.ENOBUFS}
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


class Engine:
    """Runs the probes of the given checks; items read outcomes with :meth:`outcome`."""

    def __init__(self, checks: Sequence[Check], timeout: float, concurrency: int, per_host: int) -> None:
        self.checks = list(checks)
        self.timeout = timeout
        self.concurrency = concurrency
        self.per_host = per_host
        self._futures = {id(check): concurrent.futures.Future[CheckOutcome]() for check in self.checks}
        self._alive: dict[str, concurrent.futures.Future[bool]] = {}
        self._pending: dict[str, int] = {}
        for check in self.checks:
            self._alive.setdefault(check.host.name, concurrent.futures.Future())
            self._pending[check.host.name] = self._pending.get(check.host.name, 0) + 1
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._main: asyncio.Task[None] | None = None
        self._ready = threading.Event()

    def start(self) -> None:
        """Start probing in the background; returns at once."""
        self._thread = threading.Thread(target=self._run, name="activate-probes", daemon=True)
        self._thread.start()
        self._ready.wait()

    def outcome(self, check: Check) -> CheckOutcome:
        """Block until ``check`` has been probed, then wait for its host's liveness only if needed."""
        results = self._futures[id(check)].result().results
        alive = any(r.state.answered for r in results) or self._alive[check.host.name].result()
        return CheckOutcome(results, alive)

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
            for future in self._futures.values():
                future.cancel()
            for alive in self._alive.values():
                alive.cancel()

    async def _probe_all(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._main = asyncio.current_task()
        self._ready.set()
        self._global = asyncio.Semaphore(self.concurrency)
        self._hosts: dict[str, asyncio.Semaphore] = {}
        self._names: dict[str, asyncio.Future[list[tuple[int, str]]]] = {}
        tasks = [asyncio.ensure_future(self._probe_check(check)) for check in self.checks]
        try:
            await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _probe_check(self, check: Check) -> None:
        per_port = await asyncio.gather(*(self._probe_port(check, port) for port in check.ports))
        results = tuple(result for port_results in per_port for result in port_results)
        self._futures[id(check)].set_result(CheckOutcome(results, False))
        alive = self._alive[check.host.name]
        self._pending[check.host.name] -= 1
        if not alive.done() and any(r.state.answered for r in results):
            alive.set_result(True)
        elif not alive.done() and self._pending[check.host.name] == 0:
            alive.set_result(False)

    async def _probe_port(self, check: Check, spec_port: int) -> list[ProbeResult]:
        """Probe one port on every address the host's name resolves to.

        A client may land on any of them (DNS round robin, A and AAAA), so each
        must satisfy the rule; one result per address.
        """
        host = check.host
        started = time.monotonic()
        try:
            addresses = await self._resolve(host.address)
        except (OSError, asyncio.TimeoutError) as exc:
            reason = "no answer from the resolver" if isinstance(exc, asyncio.TimeoutError) else exc.args[-1]
            return [ProbeResult(spec_port, PortState.UNRESOLVABLE, f"{host.address} does not resolve: {reason}",
                                time.monotonic() - started, getattr(exc, "errno", None))]
        semaphore = self._hosts.setdefault(host.name, asyncio.Semaphore(self.per_host))
        dial = host.dial_port(spec_port)

        async def one(family: int, address: str) -> ProbeResult:
            sockaddr: tuple[object, ...] = (address, dial, 0, 0) if family == socket.AF_INET6 else (address, dial)
            async with semaphore, self._global:
                try:
                    return await self._connect_and_check(check, spec_port, family, sockaddr)
                except Exception as exc:  # noqa: BLE001 - the engine must never raise into pytest
                    return ProbeResult(spec_port, PortState.ERROR, f"probe crashed: {type(exc).__name__}: {exc}",
                                       time.monotonic() - started, address=address)

        return list(await asyncio.gather(*(one(family, address) for family, address in addresses)))

    async def _resolve(self, name: str) -> list[tuple[int, str]]:
        """All addresses of ``name`` (family, address), once per name per session; IP literals skip DNS."""
        try:
            ip = ipaddress.ip_address(name)
        except ValueError:
            pass
        else:
            return [(socket.AF_INET6 if ip.version == 6 else socket.AF_INET, str(ip))]
        if name not in self._names:
            self._names[name] = asyncio.ensure_future(self._lookup(name))
        return await asyncio.shield(self._names[name])

    async def _lookup(self, name: str) -> list[tuple[int, str]]:
        loop = asyncio.get_running_loop()
        infos = await asyncio.wait_for(loop.getaddrinfo(name, None, type=socket.SOCK_STREAM), self.timeout)
        unique: dict[tuple[int, str], None] = {}
        for family, _, _, _, sockaddr in infos:
            unique.setdefault((int(family), str(sockaddr[0])), None)
        return list(unique)

    async def _open_socket(self, family: int) -> socket.socket:
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

    async def _connect_and_check(
        self, check: Check, spec_port: int, family: int, sockaddr: tuple[object, ...]
    ) -> ProbeResult:
        loop = asyncio.get_running_loop()
        host = check.host
        address = str(sockaddr[0])
        sock = await self._open_socket(family)
        started = time.monotonic()
        handed_over = False
        try:
            try:
                await asyncio.wait_for(loop.sock_connect(sock, sockaddr), self.timeout)
            except asyncio.TimeoutError:
                return self._closed(spec_port, PortState.FILTERED, f"no answer within {self.timeout:g}s", started, address, sock)
            except ConnectionRefusedError as exc:
                return self._closed(spec_port, PortState.REFUSED, "connection refused (RST)", started, address, sock, exc.errno)
            except OSError as exc:
                if exc.errno == errno.ETIMEDOUT:
                    return self._closed(spec_port, PortState.FILTERED, "connect timed out in the kernel", started, address, sock, exc.errno)
                if exc.errno in RESOURCE_ERRNOS:
                    raise  # local exhaustion says nothing about the port: surface it as a probe error
                detail = str(exc.strerror or exc) if exc.errno in UNREACHABLE_ERRNOS else f"connect failed: {exc.strerror or exc}"
                return self._closed(spec_port, PortState.UNREACHABLE, detail, started, address, sock, exc.errno)
            source = _sockname(sock)
            connected = time.monotonic()
            probe = check.rule.probe
            if not probe.talks:
                return ProbeResult(spec_port, PortState.OPEN, "accepted the TCP handshake", connected - started,
                                   address=address, source=source, protocol=ProtocolResult(True, "TCP handshake completed"))
            reader, writer = await asyncio.open_connection(sock=sock, limit=MAX_READ)
            handed_over = True
            target = Target(host.name, host.address, address, int(sockaddr[1]), spec_port, self.timeout)  # type: ignore[call-overload]
            conn = Connection(target, reader, writer)
            try:
                protocol = await asyncio.wait_for(self._protocol(probe.check(conn)), self.timeout)
            except asyncio.TimeoutError:
                protocol = ProtocolResult(False, f"{probe.kind}: no complete answer within {self.timeout:g}s")
            finally:
                conn.close()
            return ProbeResult(spec_port, PortState.OPEN, protocol.detail, time.monotonic() - started,
                               address=address, source=source, protocol=protocol)
        finally:
            if not handed_over:
                sock.close()

    @staticmethod
    async def _protocol(check: Awaitable[ProtocolResult]) -> ProtocolResult:
        """Run a probe's check; network failures it did not handle still mean "protocol not spoken"."""
        try:
            return await check
        except (OSError, EOFError, asyncio.IncompleteReadError, asyncio.LimitOverrunError) as exc:
            return ProtocolResult(False, f"connection failed during the protocol check: {type(exc).__name__}: {exc}")

    @staticmethod
    def _closed(port: int, state: PortState, detail: str, started: float, address: str,
                sock: socket.socket, err: int | None = None) -> ProbeResult:
        return ProbeResult(port, state, detail, time.monotonic() - started, err, address, _sockname(sock))


def _sockname(sock: socket.socket) -> str | None:
    """The local address a connection attempt used (audit evidence), if the kernel kept it."""
    try:
        name = sock.getsockname()
    except OSError:
        return None
    if name[1] == 0:
        return None
    return f"[{name[0]}]:{name[1]}" if ":" in str(name[0]) else f"{name[0]}:{name[1]}"
