"""The pytest side of probing: each check becomes a job for the engine, each item asks for its check's outcome.

Checks hold the spec's rule and host; the engine sees only jobs (see
:mod:`.results`), so it needs nothing of the spec. Under pytest-xdist a
worker submits its jobs host group by host group, when the first item of a
group asks (see :mod:`.distribute`), so no port is dialled by two workers.
"""

from __future__ import annotations

from typing import Sequence

from .checks import Check
from .distribute import xdist_group
from .engine import Engine
from .options import Settings
from .results import CheckOutcome, Job


def job_of(check: Check, key: int) -> Job:
    """The engine's work for one check."""
    host = check.host
    return Job(key, host.name, host.address, check.ports, host.port_map, check.rule.probe)


class Probing:
    """One session's jobs and the engine running them."""

    def __init__(self, checks: Sequence[Check], settings: Settings, workers: int | None = None) -> None:
        """Probe ``checks``; on a pytest-xdist worker (``workers`` set), a host group at a time, on demand."""
        self._jobs = {id(check): job_of(check, key) for key, check in enumerate(checks)}
        if workers:
            groups: dict[str, list[Job]] = {}
            group_of: dict[int, list[Job]] = {}  # job key -> the jobs of its group
            for check in checks:
                job = self._jobs[id(check)]
                group_of[job.key] = groups.setdefault(xdist_group(check, workers), [])
                group_of[job.key].append(job)
            self._engine = Engine([], settings.timeout, settings.concurrency, settings.per_host,
                                 on_demand=lambda job: group_of[job.key])
        else:
            self._engine = Engine(list(self._jobs.values()), settings.timeout, settings.concurrency, settings.per_host)

    def start(self) -> None:
        self._engine.start()

    def close(self) -> None:
        self._engine.close()

    def probed(self, check: Check) -> bool:
        """True when ``check`` is one of this session's probed checks."""
        return id(check) in self._jobs

    def outcome(self, check: Check) -> CheckOutcome:
        """Wait for ``check``'s outcome (raises ``ProbingStopped`` if probing stopped first)."""
        return self._engine.outcome(self._jobs[id(check)])
