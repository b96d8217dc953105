"""Gateways to prober processes: the only door from the pytest side to a prober outside this process.

A prober is started through execnet (the transport pytest-xdist uses): a
gateway to a Python — this machine's (``popen``), another's (``ssh=host``),
one inside a namespace or a container (``popen//python=ip netns exec NS
python3``) — gets the prober's modules as source (:mod:`.ship`) and runs
:func:`.prober.serve.serve`. Several vantages start side by side: ``start()``
returns at once and jobs wait until their prober is up. Whatever happens to
it (no Python, an old one, a start that never ends, a crash, a kill, a
prober that stops answering), every job it did not finish ends as
``ProbingStopped`` with one line naming the prober and the cause, within a
bound derived from the timeout: never a pass, never a hang.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any, Iterable, Sequence

import execnet

from . import ship
from .outcomes import Sink
from .results import Job
from .prober.transport import Wire, attempts_from_wire, job_to_wire
from .where import check_where, gateway_spec, shown_where, ssh_config

__all__ = ["ProcessProber", "check_where", "shown_where"]  # WHERE's checks live in .where, reached through here

CLOSE_GRACE = 2.0  # seconds a prober gets to stop on its own before its process is killed
HEARTBEAT = 1.0  # seconds between the prober's "alive" messages (see prober/serve.py)
STALL_SLACK = 5.0  # silence past the timeout after which a prober with jobs out has "stopped answering"
START_SLACK = 15.0  # a start (ssh's connect and key exchange, Python's start, the shipped modules) gets this + 4 x timeout


def start_within(timeout: float) -> float:
    """Seconds a vantage gets to come up: ssh's connect timeout is the timeout, the rest is slack for slow hosts."""
    return START_SLACK + 4 * timeout


def stalled_after(timeout: float) -> float:
    """Seconds of silence (no result, no heartbeat) after which a prober with jobs out is given up."""
    return timeout + STALL_SLACK


class ProcessProber:
    """A prober in a process of its own, behind an execnet channel; reports to ``outcomes`` (a probing Runner)."""

    def __init__(self, timeout: float, concurrency: int, per_host: int, outcomes: Sink,
                 where: str | None = None, min_python: tuple[int, int] = ship.MIN_PYTHON, name: str = "prober",
                 start_bound: float | None = None) -> None:
        """``where`` is an execnet gateway spec (default: this Python in a new process) whose Python must be at least ``min_python``.

        ``name`` ("prober", "vantage agent") opens every message about it, followed by
        ``where`` without its credentials (:attr:`shown`). ``start_bound`` overrides
        :func:`start_within`.
        """
        self.where = where or f"popen//python={sys.executable}"
        self.shown = shown_where(self.where)
        self.name = name
        self._timeout = timeout
        self._min_python = min_python
        self._start_bound = start_within(timeout) if start_bound is None else start_bound
        self._settings = {"timeout": timeout, "concurrency": concurrency, "per_host": per_host, "heartbeat": HEARTBEAT}
        self._outcomes = outcomes
        self._group = execnet.Group()
        self._channel: Any = None
        self._jobs: dict[int, Job] = {}  # given and not finished
        self._queued: list[Job] = []  # given before the channel was up
        self._lock = threading.Lock()
        self._stopped: str | None = None  # why, once this prober has stopped
        self._ended = threading.Event()  # set with _stopped: the watchdog's end
        self._heard = 0.0  # time.monotonic() of the prober's last message
        self._ssh: Path | None = None  # an ssh= gateway's folder: its config file and the log of why ssh gave up
        self._starter = threading.Thread(target=self._connect, name=f"activate-{name}-start", daemon=True)
        self._watchdog = threading.Thread(target=self._watch, name=f"activate-{name}-watchdog", daemon=True)
        self.facts: dict[str, str] = {}  # the prober's hostname, Python and pid, once it is up

    def _say(self, what: str) -> str:
        return f"the {self.name} ({self.shown}) {what}"

    def start(self) -> None:
        """Start the prober process in the background; a prober that cannot start stops every check with the reason."""
        self._started = time.monotonic()
        self._starter.start()
        self._watchdog.start()

    def submit(self, jobs: Sequence[Job]) -> None:
        with self._lock:
            self._jobs.update((job.key, job) for job in jobs)
            stopped, channel = self._stopped, self._channel
            if stopped is None and channel is None:
                self._queued.extend(jobs)  # sent once the prober is up
                return
        if stopped is not None:  # jobs given to a prober that has stopped end at once, with its reason
            self._outcomes.stopped(stopped, [job.key for job in jobs])
            return
        self._send(channel, jobs)

    def close(self) -> None:
        """Stop the prober and end its process (killed if it does not stop within the grace time)."""
        channel = self._channel
        if channel is not None:
            try:
                channel.send(("close",))
                channel.waitclose(CLOSE_GRACE)
            except (OSError, EOFError, ValueError, execnet.TimeoutError, execnet.RemoteError):
                pass  # it is going away either way: the group below ends it
        self._stop(self._say("was closed"))  # a start still under way gives up on seeing this
        starting = self._starter.is_alive()
        if starting:
            self._abort_start()  # not yet a gateway of the group
        self._group.terminate(timeout=CLOSE_GRACE)  # one that became a gateway is ended here, or by the start itself
        if starting:
            self._starter.join(CLOSE_GRACE)
        if self._ssh is not None:
            shutil.rmtree(self._ssh, ignore_errors=True)

    def _send(self, channel: Any, jobs: Sequence[Job]) -> None:
        if not jobs:
            return
        try:
            channel.send(("jobs", [job_to_wire(job) for job in jobs]))
        except (OSError, EOFError, ValueError) as exc:  # ValueError: the channel is closed
            self._stop(self._say(f"stopped: {exc}"))

    def _connect(self) -> None:
        """The start, on a thread of its own: gateway, version gate, shipped modules, settings; then the queued jobs."""
        def remaining() -> float:
            return max(0.01, self._started + self._start_bound - time.monotonic())

        spec = self.where
        if execnet.XSpec(self.where).ssh:
            self._ssh = Path(tempfile.mkdtemp(prefix="activate-ssh-"))
            (self._ssh / "config").write_text(ssh_config(self.where, self._timeout), encoding="utf-8")
            spec = gateway_spec(self.where, self._timeout, str(self._ssh / "log"), str(self._ssh / "config"))
        gateway = None
        try:
            gateway = self._group.makegateway(spec)
            channel = gateway.remote_exec(ship.BOOTSTRAP)
            _, version = channel.receive(remaining())
            if tuple(version) < self._min_python:
                channel.send(None)
                self._stop(self._say(f"cannot run there: Python {'.'.join(map(str, version))} is too old "
                                     f"(the prober needs >= {'.'.join(map(str, self._min_python))})"))
                return
            channel.send(ship.sources())
            channel.send(self._settings)
            _, facts = channel.receive(remaining())
        except Exception as exc:  # noqa: BLE001 - execnet says "no" as OSError, HostNotFound, EOFError, TimeoutError...
            self._stop(self._say(f"did not start: {self._cause(exc, made=gateway is not None)}"))
            end(gateway_io(frames_of(exc.__traceback__)), reap=True)  # execnet forgets a process that failed its start
            self._group.terminate(timeout=CLOSE_GRACE)
            return
        self.facts = {str(k): str(v) for k, v in facts.items()}
        if self._ssh is not None:  # ssh (and a jump's) has read its config; its log is read on a failed start only
            shutil.rmtree(self._ssh, ignore_errors=True)  # so nothing is left in /tmp even if pytest is killed
        with self._lock:
            self._heard = time.monotonic()
            if self._stopped is None:
                self._channel = channel
                queued, self._queued = self._queued, []
        if self._channel is None:  # closed, or given up on, while it started
            self._group.terminate(timeout=CLOSE_GRACE)
            return
        channel.setcallback(self._received, endmarker=None)
        self._send(channel, queued)

    def _cause(self, exc: Exception, made: bool) -> str:
        """Why a start failed, in one line: what ssh said (its -E log) when it was ssh that gave up.

        ``made``: execnet made the gateway, so the command ran; it ended (or
        went silent) before its Python answered: not a Python, one that failed
        (its own message went to stderr), or one older than 3.8 that cannot
        even compile execnet's bootstrap. A broken pipe or a first byte that
        is not execnet's (its AssertionError) say the same, earlier.
        """
        log = self._ssh / "log" if self._ssh is not None else None
        said = log.read_text(errors="replace").splitlines() if log is not None and log.exists() else []
        said = [line.strip() for line in said if line.strip() and not line.startswith("Warning: Permanently added")]
        if said:
            return "; ".join(said)
        if isinstance(exc, execnet.HostNotFound):
            return f"ssh could not reach {exc}"
        error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        if made or isinstance(exc, (BrokenPipeError, EOFError, AssertionError)):
            return (f"no Python answered ({error}): the command must start a Python >= "
                    f"{'.'.join(map(str, self._min_python))}; its own message, if any, went to stderr")
        return error

    def _watch(self) -> None:
        """Gives up on a start that takes longer than its bound, and on a prober that stops answering."""
        stall = stalled_after(self._timeout)
        last = time.monotonic()
        while not self._ended.wait(HEARTBEAT / 2):
            now = time.monotonic()
            with self._lock:
                if now - last > 2 * HEARTBEAT:  # this side was asleep (Ctrl-Z, a starved machine): the silence was ours,
                    self._heard = max(self._heard, now)  # and the prober's answers may still be waiting to be read
                up, outstanding, silent = self._channel is not None, bool(self._jobs), now - self._heard
            last = now
            if not up and now - self._started > self._start_bound:
                self._stop(self._say(f"did not start within {self._start_bound:g} s"))
                self._abort_start()
            elif up and outstanding and silent > stall:
                self._stop(self._say(f"stopped answering: nothing heard from it for {silent:.0f} s"))
                self._group.terminate(timeout=CLOSE_GRACE)

    def _abort_start(self) -> None:
        """Kill the process of a start still waiting for its first byte (see :func:`gateway_io`)."""
        frame = sys._current_frames().get(self._starter.ident or -1)
        frames = []
        while frame is not None:
            frames.append(frame)
            frame = frame.f_back
        end(gateway_io(frames), reap=False)  # the starting thread reaps it as its start fails

    def _received(self, message: Wire) -> None:
        """One message from the prober, on execnet's receiving thread."""
        self._heard = time.monotonic()
        if message is None:  # the channel ended: the prober stopped, or died
            self._stop(self._say("ended before this check was probed"))
        elif isinstance(message, tuple):
            pass  # ("alive", None): a heartbeat; ("stopped", reason): it closed as asked, the channel's end follows
        else:
            for key, attempts, alive in message:
                with self._lock:
                    job = self._jobs.pop(key)
                self._outcomes.finished(job, attempts_from_wire(attempts), alive)

    def _stop(self, reason: str) -> None:
        """Every job given to this prober and not finished ends with ``reason`` (the first reason wins)."""
        with self._lock:
            self._stopped = self._stopped or reason
            keys = list(self._jobs)
        self._ended.set()
        self._outcomes.stopped(self._stopped, keys)


def gateway_io(frames: Iterable[FrameType]) -> Any:
    """The IO (process) of a gateway execnet is still starting, or has given up starting, or None.

    execnet registers a gateway only once it answered: until then, and after
    a failed start, its process is only the ``io`` of ``Group.makegateway``'s
    and ``bootstrap``'s frames (of the starting thread, or of the failure's
    traceback). ``io.kill()`` is what execnet itself ends a gateway with.
    """
    for frame in frames:
        io = frame.f_locals.get("io")
        if callable(getattr(io, "kill", None)):
            return io
    return None


def frames_of(traceback: TracebackType | None) -> list[FrameType]:
    frames = []
    while traceback is not None:
        frames.append(traceback.tb_frame)
        traceback = traceback.tb_next
    return frames


def end(io: Any, reap: bool) -> None:
    """Kill a gateway's process; with ``reap``, also wait for it and close its pipes: nothing else will."""
    if io is not None:
        io.kill()
        if reap:
            io.wait()
            for close in (io.close_write, io.close_read):
                try:
                    close()
                except (OSError, NotImplementedError):  # a via= gateway's IO cannot close its reading end
                    pass
