"""The session's evidence as it happens: one entry per port-check item, built from pytest's reports.

Outcomes follow pytest's own reading of the setup/call/teardown reports, so
the evidence file, the matrix and the terminal summary count the same thing.
What never ran (Ctrl-C, ``-x``, deselection) is listed rather than left out:
an auditor must be able to tell "not checked" from "checked and fine".

Under pytest-xdist the items run in workers: each worker attaches an item's
finished record to its teardown report, and the controller's recorder keeps
those, so the controller's evidence, matrix and counts are the same as a run
without ``-n`` (tested side by side).
"""

from __future__ import annotations

import platform
import socket
import time
from datetime import datetime, timezone
from importlib import metadata
from typing import TYPE_CHECKING, Any, Iterator, Mapping, NamedTuple, Sequence, TypeVar

import pytest

from ..distribute import NodeIndex
from .record import JSON, Observation, spec_json

if TYPE_CHECKING:
    from ..items import PortCheckItem
    from ..run import ActivateRun

T = TypeVar("T")
SCHEMA_VERSION = 1
_DONE = (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED)


def utc_now() -> str:
    """An ISO 8601 UTC timestamp with a ``Z``, as auditors and jq both read it."""
    return utc_iso(time.time())


def utc_iso(timestamp: float) -> str:
    """:func:`utc_now` for a moment taken earlier with :func:`time.time`."""
    return datetime.fromtimestamp(timestamp, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _version(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "unknown"


class Entry:
    """One item's evidence while it runs: the observation plus pytest's outcome so far.

    One lives per item until the session ends, hence the slots and a finishing
    time kept as a number until the record is written.
    """

    __slots__ = ("observation", "spec", "outcome", "message", "finished", "done")

    def __init__(self, observation: Observation, spec: str) -> None:
        self.observation = observation
        self.spec = spec
        self.outcome = "passed"
        self.message = ""
        self.finished: float | None = None  # time.time() of the teardown report
        self.done = False

    def update(self, item: PortCheckItem, report: pytest.TestReport) -> None:
        """Fold in one phase's report the way pytest's terminal counts it."""
        if item.outcome is not self.observation.outcome or item.verdict is not self.observation.verdict:
            self.observation = Observation.of(item)  # only setup sets them: one observation per item, not per phase
        verdict = item.verdict
        if report.skipped:
            self.outcome = "skipped"
            self.message = verdict.message if verdict else item.check.skip_reason or _last_line(report)
        elif report.failed and (report.when == "call" or self.outcome != "failed"):
            self.outcome = "failed" if report.when == "call" else "error"
            self.message = verdict.message if verdict and report.when != "teardown" else _last_line(report)
        elif report.when == "call":
            self.message = verdict.message if verdict else ""
        if report.when == "teardown":
            self.finished = time.time()
            self.done = True

    def to_json(self) -> JSON:
        finished = utc_now() if self.finished is None else utc_iso(self.finished)
        return self.observation.to_json(self.spec, self.outcome, self.message, finished)


class Row(NamedTuple):
    """What the matrix, the counts and the warnings need of one item, from a local entry or a worker's record."""

    nodeid: str
    host: str
    port: str
    expect: str
    outcome: str
    warnings: Sequence[str]
    role: str | None


WORKER_RECORD = "activate_record"  # the teardown report attribute that carries a worker's record
WORKER_DESELECTED = "activate_deselected"  # the workeroutput key of a worker's deselected items


def _last_line(report: pytest.TestReport) -> str:
    if isinstance(report.longrepr, tuple):  # a skip: (path, line, "Skipped: reason")
        return str(report.longrepr[2]).removeprefix("Skipped: ")
    lines = report.longreprtext.strip().splitlines()
    return lines[-1] if lines else report.outcome


class Recorder:
    """Collects entries for the session and turns them into the evidence document.

    Registered as a plugin for the session, so it hears deselection and
    collection errors directly (their reports carry no config to find it by).
    """

    def __init__(self, config: pytest.Config, run: ActivateRun) -> None:
        self.config = config
        self.run = run
        self.started = utc_now()
        self.finished: str | None = None
        self.entries: dict[str, Entry] = {}
        self.remote: dict[str, JSON] = {}  # records that pytest-xdist workers sent, by node id
        self._rows: list[Row] | None = None  # rows() in collection order, until another report arrives
        self.selected: list[str] = []  # the port checks collected, in collection order (under xdist: by the workers)
        self.deselected: list[str] = []
        self.collection_errors: list[str] = []
        self.complete = False
        self.outcome_line: tuple[str, str] | None = None  # what became of the evidence file: (text, colour or "")

    def observe(self, item: PortCheckItem, report: pytest.TestReport) -> Entry:
        """Record one phase report of a port-check item."""
        entry = self.entries.get(item.nodeid)
        if entry is None:
            spec = self.run.specs.get(item.path)
            entry = Entry(Observation.of(item), spec.name if spec else item.path.name)
            self.entries[item.nodeid] = entry
        entry.update(item, report)
        self._rows = None
        return entry

    def pytest_deselected(self, items: Sequence[pytest.Item]) -> None:
        from ..items import PortCheckItem

        self.deselected.extend(item.nodeid for item in items if isinstance(item, PortCheckItem))

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        record = getattr(report, WORKER_RECORD, None)
        if record is not None and not self.entries:  # only a controller hears a worker's record
            self.remote[report.nodeid] = record
            self._rows = None

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        from ..items import PortCheckItem

        self.selected = [item.nodeid for item in session.items if isinstance(item, PortCheckItem)]

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_node_collection_finished(self, node: object, ids: Sequence[str]) -> None:
        if not self.selected:  # every worker collects them all
            index = NodeIndex(self.run, self.config.rootpath)
            self.selected = [nodeid for nodeid in ids if index.check(nodeid) is not None]

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: object) -> None:
        output = getattr(node, "workeroutput", None) or {}
        known = set(self.deselected)
        self.deselected.extend(nodeid for nodeid in output.get(WORKER_DESELECTED, ()) if nodeid not in known)

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            self.collection_errors.append(f"{report.nodeid}: {report.longreprtext.strip()}")

    def document(self, exitstatus: int | pytest.ExitCode) -> JSON:
        """The evidence document but its records (see :meth:`records`); ``complete`` only when every selected check reported."""
        self.finished = self.finished or utc_now()
        not_run = [nodeid for nodeid in self.selected if not self._done(nodeid)]
        settings = self.run.settings
        self.complete = exitstatus in _DONE and not not_run and not self.collection_errors
        return {
            "schema_version": SCHEMA_VERSION,
            "complete": self.complete,
            "exit_status": int(exitstatus),
            "tool": {"name": "pytest-activate-ports", "version": _version("pytest-activate-ports")},
            "python": platform.python_version(),
            "pytest": pytest.__version__,
            "role": self.run.role,
            "vantages": [{"role": role, "where": shown} for role, shown in self.run.shown.items()],
            "runner": {"hostname": socket.gethostname(), "platform": platform.platform()},
            "started": self.started,
            "finished": self.finished,
            "options": {
                "timeout": settings.timeout,
                "concurrency": settings.concurrency,
                "per_host": settings.per_host,
                "hosts": dict(settings.hosts),
                "features": dict(settings.features),
                "args": self._args(),
            },
            "specs": [spec_json(spec) for spec in self.run.specs.values()],
            "summary": self.summary(),
            "not_run": not_run,
            "deselected": self.deselected,
            "collection_errors": self.collection_errors,
        }

    def _args(self) -> list[str]:
        """The command line, each WHERE of a vantage shown without its credentials."""
        args = list(self.config.invocation_params.args)
        for role, shown in self.run.shown.items():
            where = self.run.vantages[role]
            args = [arg.replace(where, shown) for arg in args]
        return args

    def _done(self, nodeid: str) -> bool:
        entry = self.entries.get(nodeid)
        return entry.done if entry is not None else nodeid in self.remote

    def _in_order(self, by_nodeid: Mapping[str, T]) -> list[tuple[str, T]]:
        """``by_nodeid``'s items in collection order: items run in the order their results arrive."""
        order = {nodeid: index for index, nodeid in enumerate(self.selected)}
        return sorted(by_nodeid.items(), key=lambda pair: order.get(pair[0], len(order)))

    def records(self) -> Iterator[JSON]:
        """One evidence record per item that reported, in collection order, produced as the file is written."""
        if not self.remote:
            return (entry.to_json() for _, entry in self._in_order(self.entries))
        return (record for _, record in self._in_order(self.remote))

    def rows(self) -> list[Row]:
        """Host, port, expectation and outcome of every item that reported (collection order), for the matrix and counts.

        The session's end reads them several times (JUnit properties, evidence summary, matrix,
        counts, warnings): they are put in order once, until another report arrives.
        """
        if self._rows is None:
            self._rows = [self._row(nodeid, entry) for nodeid, entry in self._in_order(self.entries)]
            self._rows += [Row(r["nodeid"], r["host"], r["port"], r["expect"], r["outcome"], r["warnings"], r["role"])
                           for _, r in self._in_order(self.remote)]
        return self._rows

    @staticmethod
    def _row(nodeid: str, entry: Entry) -> Row:
        observation = entry.observation
        check = observation.check
        warnings = observation.verdict.warnings if observation.verdict else ()
        return Row(nodeid, check.host.name, check.label, check.rule.expect.value, entry.outcome, warnings, check.role)

    def warnings(self) -> list[str]:
        """Every check's warnings (a certificate about to expire...), one line each, named by node id."""
        return [f"{row.nodeid}: {warning}" for row in self.rows() for warning in row.warnings]

    def summary(self) -> dict[str, int]:
        """Counts by pytest outcome, plus passes by expectation (the terminal's last line)."""
        counts = {"passed": 0, "failed": 0, "skipped": 0, "error": 0, "required_ok": 0, "optional_ok": 0, "forbidden_ok": 0}
        for row in self.rows():
            counts[row.outcome] += 1
            if row.outcome == "passed":
                counts[f"{row.expect}_ok"] += 1
        return counts
