"""The pytest side of probing: each check becomes a job, each item waits for its check's outcome.

Checks hold the spec's rule and host; the engine sees only jobs (see
:mod:`.results`), so it needs nothing of the spec. Under pytest-xdist a
worker submits its jobs host group by host group, when the first item of a
group asks (see :mod:`.distribute`), so no port is dialled by two workers.
"""

from __future__ import annotations

import os
import platform
import socket
from typing import Mapping, Protocol, Sequence

from .checks import Check
from .distribute import xdist_group
from .prober.engine import Engine
from .options import Settings
from .outcomes import Outcomes, Sink
from .results import CheckOutcome, Job
from .verdict import offending_states


# From this many connection attempts on, a prober process beats a thread of pytest's own: pytest's thread
# no longer shares the GIL with the prober's (bench, 2 cores: 20 checks 1.63 vs 1.43 s, 1,000 checks
# about even, 10,000 checks 11.3-12.6 vs 17.1 s; bench/results/latest.md).
PROCESS_FROM = 1000
# A sweep (a range job this large) is bound by the prober's CPU: `--activate-probers auto` then runs one
# prober process per core (see fanout.py).
SWEEP_FROM = 4096
LOCAL_FACTS = {"hostname": socket.gethostname(), "python": platform.python_version()}  # a thread's vantage: this process


class Runner(Protocol):
    """What runs the jobs: the engine in a thread of this process, or a prober process behind a channel."""

    def start(self) -> None: ...

    def submit(self, jobs: Sequence[Job]) -> None: ...

    def close(self) -> None: ...


def prober_for(choice: str, checks: Sequence[Check]) -> str:
    """Where ``checks`` run for ``--activate-prober choice``: "thread" or "process" (auto: by their attempts)."""
    if choice == "auto":
        return "process" if sum(len(check.ports) for check in checks) >= PROCESS_FROM else "thread"
    return choice


def probers_for(choice: int | None, checks: Sequence[Check]) -> int:
    """How many local prober processes ``checks`` get for ``--activate-probers choice`` (None: auto)."""
    if choice is not None:
        return choice
    return (os.cpu_count() or 1) if any(len(check.ports) >= SWEEP_FROM for check in checks) else 1


def job_of(check: Check, key: int) -> Job:
    """The engine's work for one check."""
    host = check.host
    return Job(key, host.name, host.address, check.ports, host.port_map, check.rule.probe,
               None if check.rule.port_range is None else offending_states(check.rule))  # a range is summed up


class Probing:
    """One session's jobs, the prober of each vantage that runs them, and where their outcomes wait for the items."""

    def __init__(self, checks: Sequence[Check], settings: Settings, workers: int | None = None,
                 vantages: Mapping[str, str] | None = None) -> None:
        """Probe ``checks``, each from its role's vantage (``vantages``: role -> WHERE; a role not named is local).

        On a pytest-xdist worker (``workers`` set) jobs go out a host group at a
        time, on demand, and a vantage's prober starts with its first job.
        """
        self._jobs = {id(check): job_of(check, key) for key, check in enumerate(checks)}
        self._role = {self._jobs[id(check)].key: check.role for check in checks}
        self.timeout = settings.timeout
        self.outcomes = Outcomes()
        self._settings = settings
        self._where = dict(vantages or {})
        by_role: dict[str | None, list[Check]] = {}
        for check in checks:
            by_role.setdefault(check.role, []).append(check)
        self._runners: dict[str | None, Runner] = {role: self._runner(role, share) for role, share in by_role.items()}
        self._started: set[str | None] = set()
        self._vantages: dict[str | None, dict[str, str]] = {}  # role -> its vantage's facts, once known
        self._group_of: dict[int, list[Job]] | None = None  # job key -> the jobs of its group, when on demand
        self._submitted: set[int] = set()
        if workers:
            groups: dict[str, list[Job]] = {}
            self._group_of = {}
            for check in checks:
                job = self._jobs[id(check)]
                self._group_of[job.key] = groups.setdefault(xdist_group(check, workers), [])
                self._group_of[job.key].append(job)

    def _runner(self, role: str | None, checks: Sequence[Check]) -> Runner:
        """The prober for ``role``'s ``checks``: a thread or process(es) here, or a vantage's behind a gateway."""
        settings, where = self._settings, self._where.get(role or "", "local")
        if where != "local":
            return self._process(self.outcomes, settings.per_host, where=where, name=f"vantage {role}")
        count = probers_for(settings.probers, checks)
        if count > 1:
            from .fanout import Fanout

            return Fanout(lambda index, parts: self._process(parts, max(1, settings.per_host // count),
                                                             name=f"prober {index + 1} of {count}"), count, self.outcomes)
        if prober_for(settings.prober, checks) == "process":
            return self._process(self.outcomes, settings.per_host)
        return Engine([], settings.timeout, settings.concurrency, settings.per_host, self.outcomes)

    def _process(self, sink: Sink, per_host: int, where: str | None = None, name: str = "prober") -> Runner:
        """A prober process reporting to ``sink``, behind the gateway ``where`` (default: this Python)."""
        from .vantages import ProcessProber  # execnet costs ~30 ms to import: only when a process is wanted

        return ProcessProber(self._settings.timeout, self._settings.concurrency, per_host, sink, where=where, name=name)

    def start(self) -> None:
        """Start probing: every job now, or (on demand) nothing until an item asks."""
        if self._group_of is None:
            self._submit(list(self._jobs.values()))

    def close(self) -> None:
        for role in self._started:
            self._runners[role].close()

    def _submit(self, jobs: Sequence[Job]) -> None:
        self._submitted.update(job.key for job in jobs)
        by_role: dict[str | None, list[Job]] = {}
        for job in jobs:
            by_role.setdefault(self._role[job.key], []).append(job)
        for role, share in by_role.items():
            runner = self._runners[role]
            if role not in self._started:
                self._started.add(role)
                runner.start()
            runner.submit(share)

    def vantage(self, role: str | None, where: str) -> dict[str, str]:
        """``role``'s vantage as evidence shows it: ``where`` (as shown), and once its prober is up its hostname and Python.

        A thread's vantage is this process. A prober that never came up has
        nothing known. Once known, one dict serves every item of the vantage.
        """
        known = self._vantages.get(role)
        if known is None:
            facts = getattr(self._runners.get(role), "facts", None)
            known = {"where": where, **(LOCAL_FACTS if facts is None else facts)}
            known.pop("pid", None)
            if facts is None or facts:
                self._vantages[role] = known
        return known

    def probed(self, check: Check) -> bool:
        """True when ``check`` is one of this session's probed checks."""
        return id(check) in self._jobs

    def key(self, check: Check) -> int:
        """The key of ``check``'s job (as :attr:`outcomes` reports it finished)."""
        return self._jobs[id(check)].key

    def outcome(self, check: Check) -> CheckOutcome:
        """Wait for ``check``'s outcome (raises ``ProbingStopped`` if probing stopped first)."""
        job = self._jobs[id(check)]
        if self._group_of is not None and job.key not in self._submitted:
            self._submit(self._group_of[job.key])
        return self.outcomes.wait(job)
