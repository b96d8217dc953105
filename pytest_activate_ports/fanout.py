"""Several prober processes as one: a sweep's ports spread over them, a host's limit held across them.

One prober process is one core's worth of connects. A sweep (``range:
1024-65535`` with ``sample: all``, on 20 hosts) is bound by the prober's CPU,
so the local vantage may run one prober per core. Each job of a host goes to
the next prober in turn and a large range job is cut into one contiguous part
per prober; every prober gets ``per_host // N`` connections per host, so a
host never sees more than ``--activate-host-concurrency`` from all of them.
The parts of a range come back as summaries that merge into one
(:meth:`RangeSummary.merge`); a host is alive as soon as one prober saw it
answer, and dead only once every prober that dialled it says so.
"""

from __future__ import annotations

import itertools
import threading
from typing import TYPE_CHECKING, Callable, Collection, Sequence

from .outcomes import Outcomes, Sink
from .results import HostKey, Job, ProbeResult, RangeSummary

if TYPE_CHECKING:
    from .probing import Runner

SPLIT_FROM = 256  # a job with this many ports is cut into one part per prober

Make = Callable[[int, Sink], "Runner"]  # prober index, what it reports to -> the prober


class Fanout:
    """``count`` probers made by ``make(index, parts)``, fed and heard as one Runner."""

    def __init__(self, make: Make, count: int, outcomes: Outcomes) -> None:
        self._outcomes = outcomes
        self._lock = threading.Lock()
        self._parts_of: dict[int, Job] = {}  # part key -> the job it is a part of
        self._pending: dict[int, list[tuple[ProbeResult, ...]]] = {}  # job key -> results of its parts so far
        self._remaining: dict[int, int] = {}  # job key -> parts not finished
        self._holders: dict[HostKey, set[int]] = {}  # host -> probers given its jobs
        self._dead: dict[HostKey, set[int]] = {}  # host -> probers that saw it answer nothing
        self._turn: dict[HostKey, itertools.cycle[int]] = {}
        self._keys = itertools.count(-1, -1)  # part keys: negative, never a check's
        self._probers = [make(index, Parts(self, index)) for index in range(count)]

    @property
    def facts(self) -> dict[str, str]:
        """The first prober's facts (hostname, Python): they share this machine and this Python."""
        facts: dict[str, str] = getattr(self._probers[0], "facts", {})
        return facts

    def start(self) -> None:
        for prober in self._probers:
            prober.start()

    def close(self) -> None:
        for prober in self._probers:
            prober.close()

    def submit(self, jobs: Sequence[Job]) -> None:
        shares: list[list[Job]] = [[] for _ in self._probers]
        count = len(self._probers)
        with self._lock:
            for job in jobs:
                host = job.host_key
                turn = self._turn.setdefault(host, itertools.cycle(range(count)))
                if len(job.ports) < SPLIT_FROM:
                    index = next(turn)
                    self._holders.setdefault(host, set()).add(index)
                    shares[index].append(job)
                    continue
                ports = tuple(job.ports)
                size = -(-len(ports) // count)
                cuts = range(0, len(ports), size)  # never an empty part: one would never finish
                self._remaining[job.key] = len(cuts)
                self._pending[job.key] = []
                for index, start in enumerate(cuts):
                    part = Job(next(self._keys), job.host, job.address, ports[start:start + size],
                               job.port_map, job.probe, job.offends)
                    self._parts_of[part.key] = job
                    self._holders.setdefault(host, set()).add(index)
                    shares[index].append(part)
        for prober, share in zip(self._probers, shares):
            if share:
                prober.submit(share)

    def finished(self, index: int, job: Job, results: tuple[ProbeResult, ...], alive: bool | None) -> None:
        """Prober ``index`` finished ``job`` (maybe a part); the whole job is told once all its parts are in."""
        host = job.host_key
        done: tuple[Job, tuple[ProbeResult, ...]] | None = (job, results)
        with self._lock:
            told = self._liveness(index, host, alive)
            whole = self._parts_of.pop(job.key, None)
            if whole is not None:
                self._pending[whole.key].append(results)
                self._remaining[whole.key] -= 1
                done = None
                if not self._remaining[whole.key]:
                    del self._remaining[whole.key]
                    done = (whole, _merged(self._pending.pop(whole.key)))
        if done is not None:
            self._outcomes.finished(*done, told)
        elif told is not None:
            self._outcomes.alive(host, told)

    def _liveness(self, index: int, host: HostKey, alive: bool | None) -> bool | None:
        """What the probers together now say of ``host``: True once one saw it answer, False once all saw nothing."""
        if alive is None:
            return None
        if alive:
            return True
        dead = self._dead.setdefault(host, set())
        dead.add(index)
        return False if dead >= self._holders.get(host, set()) else None

    def stopped(self, index: int, reason: str, keys: Collection[int] | None) -> None:
        """Prober ``index`` stopped: its unfinished parts end their whole jobs with ``reason``."""
        if keys is None:
            self._outcomes.stopped(reason)
            return
        with self._lock:
            whole = [self._parts_of[key].key if key in self._parts_of else key for key in keys]
        self._outcomes.stopped(reason, list(dict.fromkeys(whole)))


class Parts:
    """What one prober of a :class:`Fanout` reports to: its observer, forwarding with the prober's index."""

    def __init__(self, fanout: Fanout, index: int) -> None:
        self._fanout, self._index = fanout, index

    def finished(self, job: Job, results: tuple[ProbeResult, ...], alive: bool | None) -> None:
        self._fanout.finished(self._index, job, results, alive)

    def stopped(self, reason: str, keys: Collection[int] | None = None) -> None:
        self._fanout.stopped(self._index, reason, keys)


def _merged(parts: list[tuple[ProbeResult, ...]]) -> tuple[ProbeResult, ...]:
    """One job's results from its parts': summaries merge, plain attempts join in port order."""
    if all(isinstance(part, RangeSummary) for part in parts):
        return RangeSummary.merge(part for part in parts if isinstance(part, RangeSummary))
    return tuple(sorted(itertools.chain.from_iterable(parts), key=lambda result: result.port))
