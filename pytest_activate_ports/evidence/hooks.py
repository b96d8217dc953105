"""pytest hooks that record evidence; registered by :mod:`pytest_activate_ports.plugin`.

Only wiring lives here: what a record holds is :mod:`.record`, how a session
is tallied :mod:`.recorder`, the JUnit rules :mod:`.junit`, the matrix
:mod:`.matrix`, and safe writing :mod:`.writer`.
"""

from __future__ import annotations

import shutil
import sys
from typing import Generator

import pytest

from ..distribute import is_worker
from ..items import PortCheckItem
from . import junit, matrix
from .record import Observation
from .recorder import WORKER_DESELECTED, WORKER_RECORD, Recorder
from ..redact import redact
from ..run import RUN, ActivateRun
from .writer import write_json


RECORDER = pytest.StashKey[Recorder]()


def _secrets(run: ActivateRun) -> set[str]:
    return {secret for spec in run.specs.values() for secret in spec.secrets}


@pytest.hookimpl(wrapper=True)
def pytest_sessionstart(session: pytest.Session) -> Generator[None, None, None]:
    """Start recording once the specs are loaded; warn once if JUnit testcase properties are off."""
    yield
    config = session.config
    run = config.stash[RUN]
    recorder = Recorder(config, run)
    config.stash[RECORDER] = recorder
    config.pluginmanager.register(recorder, "activate-evidence-recorder")  # it hears collection reports itself
    message = junit.warning(config) if run.specs or run.errors else None
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if message and reporter is not None:
        reporter.write_line(message, yellow=True, bold=True)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Attach JUnit properties before the teardown report (the one the JUnit writer reads), then record."""
    recorder = item.config.stash.get(RECORDER, None)
    if not isinstance(item, PortCheckItem) or recorder is None:
        return (yield)
    if call.when == "teardown" and junit.per_testcase(item.config):
        run = recorder.run
        item.user_properties.extend(redact(Observation.of(item).properties(), _secrets(run)))
    report = yield
    entry = recorder.observe(item, report)
    if entry.done and is_worker(item.config):
        # The controller writes the evidence: hand it the finished record (redacted, as
        # other plugins may log reports), carried by pytest-xdist with the report.
        setattr(report, WORKER_RECORD, redact(entry.to_json(), _secrets(recorder.run)))
    return report


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int | pytest.ExitCode) -> None:
    """Write the evidence file and the JUnit suite properties (before the JUnit writer closes its file).

    An evidence file that cannot be written fails the run: CI must not keep a
    green job whose compliance record is missing.
    """
    config = session.config
    recorder = config.stash.get(RECORDER, None)
    if recorder is None:
        return
    run = recorder.run
    if is_worker(config):
        config.workeroutput[WORKER_DESELECTED] = recorder.deselected  # type: ignore[attr-defined]
        return
    if junit.family(config) is not None and (run.specs or run.errors):
        junit.add_suite_properties(config, redact(junit.suite_properties(config, run, recorder), _secrets(run)))
    if run.settings.evidence is None:
        return
    path = config.invocation_params.dir / run.settings.evidence
    try:
        write_json(path, recorder.document(exitstatus), _secrets(run), recorder.records())
    except OSError as exc:
        recorder.outcome_line = (f"activate: could not write the evidence file {path}: {exc.strerror or exc}", "red")
        session.exitstatus = pytest.ExitCode.INTERNAL_ERROR
        if config.pluginmanager.get_plugin("terminalreporter") is None:
            print(recorder.outcome_line[0], file=sys.stderr)
    else:
        recorder.outcome_line = (f"activate evidence: {path}" + ("" if recorder.complete else " (incomplete run)"), "")


def pytest_unconfigure(config: pytest.Config) -> None:
    recorder = config.stash.get(RECORDER, None)
    if recorder is not None and config.pluginmanager.is_registered(recorder):
        config.pluginmanager.unregister(recorder)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    """The host x port matrix, the counts line, and where the evidence went."""
    recorder = config.stash.get(RECORDER, None)
    if recorder is None:
        return
    rows = recorder.rows()
    if rows:
        width = shutil.get_terminal_size().columns
        blocks: dict[str | None, list[matrix.Line]] = {}
        for role in dict.fromkeys(row.role for row in rows):  # one block per vantage, in spec order
            grid = matrix.cells((row.host, row.port.removesuffix(f"@{role}"), row.outcome) for row in rows if row.role == role)
            blocks[role] = matrix.render(grid, width)
        shown = recorder.run.shown
        titles = [f"activate port matrix (vantage {role}, {shown[role]})" if role in shown
                  else f"activate port matrix (role {role or '-'})" for role in blocks]
        matrix.write(terminalreporter, list(zip(titles, blocks.values())), matrix.counts_line(recorder.summary()))
    warnings = recorder.warnings()
    if warnings and config.get_verbosity() >= -1:
        # A pass with a warning (a certificate expiring soon) must not hide behind a dot.
        terminalreporter.write_sep("-", f"activate warnings: {len(warnings)}", yellow=True)
        for warning in warnings:
            terminalreporter.write_line(f"WARNING {warning}", yellow=True)
    if recorder.outcome_line is not None:
        text, colour = recorder.outcome_line
        if colour or config.get_verbosity() >= 0:
            terminalreporter.write_sep("-", text, **({colour: True} if colour else {}))
