"""One connection attempt, classified: the only place that turns socket outcomes into port states.

The engine decides *when* and *how many*; this module decides *what happened*
to one (host, port, address): open (then the protocol probe runs on the same
connection), refused, filtered, unreachable, or unresolvable.
"""

from __future__ import annotations

import errno
import os
import socket
import time
from functools import partial
from typing import TYPE_CHECKING, Callable

from .probes.base import Probe
from .reactor import Reactor, Timer
from ..results import Job, PortState, ProbeResult, ProtocolResult, Target

if TYPE_CHECKING:
    from .speaker import Listener, Spoken

UNREACHABLE_ERRNOS = {errno.EHOSTUNREACH, errno.ENETUNREACH, errno.EHOSTDOWN, errno.ENETDOWN, errno.EACCES, errno.EPERM}
RESOURCE_ERRNOS = {errno.EMFILE, errno.ENFILE, errno.EADDRNOTAVAIL, errno.ENOBUFS}
MAX_BACKOFF = 0.5  # seconds between socket() retries while descriptors are exhausted
# Non-blocking from birth where the kernel can (Linux): one system call per attempt less than setblocking().
NONBLOCK = getattr(socket, "SOCK_NONBLOCK", 0)
STREAM = socket.SOCK_STREAM | NONBLOCK
Report = Callable[[ProbeResult], None]
Speak = Callable[[Probe, Target, socket.socket, "Listener"], None]  # hand a connected socket to a talking probe
Step = Callable[[], "ProbeResult | None"]


def unresolvable(name: str, port: int, dialled: int, exc: OSError, started: float) -> ProbeResult:
    """The result for a name that did not resolve: nothing was dialled."""
    return ProbeResult(port, dialled, PortState.UNRESOLVABLE,
                       f"{name} does not resolve: {exc.args[-1] if exc.args else exc!r}", time.monotonic() - started,
                       exc.errno)


class Dial:
    """Connect to ``address`` for one port of ``job`` and, if open, have its probe speak; report one result.

    Runs on the reactor's thread. Never raises for anything the network
    does; a bug or local resource exhaustion becomes an ``error`` result for
    this job only. Descriptor exhaustion is waited out, not reported: it
    says nothing about the port.
    """

    __slots__ = ("reactor", "speak", "job", "spec_port", "dialled", "family", "address", "timeout", "report",
                 "sock", "timer", "started", "source", "backoff")

    def __init__(self, reactor: Reactor, speak: Speak, job: Job, spec_port: int, family: int, address: str,
                 timeout: float, report: Report) -> None:
        self.reactor = reactor
        self.speak = speak
        self.job = job
        self.spec_port = spec_port
        self.dialled = job.dial_port(spec_port)
        self.family = family
        self.address = address
        self.timeout = timeout
        self.report = report
        self.sock: socket.socket | None = None  # None once closed or handed to the speaker
        self.timer: Timer | None = None
        self.started = time.monotonic()
        self.source: str | None = None
        self.backoff = 0.01

    def start(self) -> None:
        """Send the SYN (or wait for a descriptor and then send it)."""
        self._step(self._connect)

    def _step(self, step: Step) -> None:
        try:
            result = step()
        except Exception as exc:  # noqa: BLE001 - the engine must never raise into pytest
            result = self._close(PortState.ERROR, f"probe crashed: {type(exc).__name__}: {exc}")
        if result is not None:
            self.report(result)

    def _connect(self) -> ProbeResult | None:
        try:
            sock = socket.socket(self.family, STREAM)
        except OSError as exc:
            if exc.errno not in RESOURCE_ERRNOS:
                raise
            self.reactor.call_later(self.backoff, self.start)
            self.backoff = min(self.backoff * 2, MAX_BACKOFF)
            return None
        self.sock = sock
        if not NONBLOCK:
            sock.setblocking(False)
        self.started = time.monotonic()
        dialled = self.dialled
        error = sock.connect_ex((self.address, dialled, 0, 0) if self.family == socket.AF_INET6 else (self.address, dialled))
        if error != errno.EINPROGRESS:
            return self._classify(error, sent=False)
        self.reactor.on_writable(sock, self._answered)
        self.timer = self.reactor.call_later(self.timeout, self._expired)
        return None

    def _answered(self) -> None:
        self._step(self._settle)

    def _expired(self) -> None:
        self.timer = None
        self._step(self._settle)

    def _settle(self) -> ProbeResult | None:
        """Read the connect's outcome from the kernel, whichever came first: writable or the deadline.

        The kernel is asked even when the deadline fired: a starved thread (a
        busy CPU, the GIL held by pytest) can reach its timer after a
        handshake completed long ago, and such a port is not filtered.
        """
        assert self.sock is not None
        if self.timer is not None:
            self.reactor.cancel(self.timer)
            self.timer = None
        self.reactor.forget(self.sock)
        return self._classify(_settled(self.sock), sent=True)

    def _classify(self, error: int | None, sent: bool) -> ProbeResult | None:
        """The result for a connect's outcome; ``sent`` says the SYN left (the error came back from the network)."""
        if error is None:
            return self._close(PortState.FILTERED, f"no answer within {self.timeout:g}s")
        if error in RESOURCE_ERRNOS:
            raise OSError(error, os.strerror(error))  # local exhaustion says nothing about the port: a probe error
        if error:
            state, detail = _refusal(error, sent)
            return self._close(state, detail, error)
        return self._opened()

    def _keeps(self, state: PortState) -> bool:
        """Whether an attempt ending in ``state`` is kept in full: a range keeps only its offending ones.

        The others are counted, so they need not ask the kernel for their source address.
        """
        offends = self.job.offends
        return offends is None or state in offends

    def _opened(self) -> ProbeResult | None:
        assert self.sock is not None
        if self._keeps(PortState.OPEN):
            self.source = _sockname(self.sock)
        job = self.job
        probe = job.probe
        if not probe.talks:
            return self._close(PortState.OPEN, "accepted the TCP handshake", protocol=_HANDSHAKE_ONLY)
        target = Target(job.host, job.address, self.address, self.dialled, self.spec_port, self.timeout)
        sock, self.sock = self.sock, None
        self.speak(probe, target, sock, self._heard)
        return None

    def _heard(self, spoken: Spoken) -> None:
        """The speaker's answer (on the speaker's thread): finish on the reactor's."""
        self.reactor.call_soon_threadsafe(partial(self._step, partial(self._spoken, spoken)))

    def _spoken(self, spoken: Spoken) -> ProbeResult:
        if isinstance(spoken, BaseException):
            return self._close(PortState.ERROR, f"probe crashed: {type(spoken).__name__}: {spoken}")
        return self._close(PortState.OPEN, spoken.detail, protocol=spoken)

    def _close(self, state: PortState, detail: str, error: int | None = None,
               protocol: ProtocolResult | None = None) -> ProbeResult:
        """The result, with the socket (if still ours) closed and no longer watched."""
        sock, self.sock = self.sock, None
        if sock is not None:
            if self.source is None and state is not PortState.ERROR and self._keeps(state):
                self.source = _sockname(sock)
            if self.timer is not None:
                self.reactor.forget(sock)
                self.reactor.cancel(self.timer)
                self.timer = None
            sock.close()
        return ProbeResult(self.spec_port, self.dialled, state, detail, time.monotonic() - self.started, error,
                           self.address, self.source, protocol)


_HANDSHAKE_ONLY = ProtocolResult(True, "TCP handshake completed")


def _refusal(error: int, sent: bool) -> tuple[PortState, str]:
    """The port state and detail for a connect that failed with ``error``.

    An unreachable errno raised by ``connect()`` itself is this machine's own
    routing decision; one that arrives after the SYN left is an ICMP
    unreachable someone sent back (Linux also sends itself one when no host
    on the local network answers ARP).
    """
    if error == errno.ECONNREFUSED:
        return PortState.REFUSED, "connection refused (RST)"
    if error == errno.ETIMEDOUT:
        return PortState.FILTERED, "connect timed out in the kernel"
    reason = os.strerror(error)
    if error not in UNREACHABLE_ERRNOS:
        return PortState.UNREACHABLE, f"connect failed: {reason}"
    if sent:
        return PortState.UNREACHABLE, (f"{reason}: an ICMP unreachable answered the SYN, so a firewall's reject rule "
                                       "or a router refused the path (on the local network: no host has that address)")
    return PortState.UNREACHABLE, reason


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
