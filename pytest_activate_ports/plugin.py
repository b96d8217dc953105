"""The pytest plugin: options, collection of specs, the probe engine around the run loop, fixtures."""

from __future__ import annotations

import signal
import threading
from fnmatch import fnmatch
from pathlib import Path
from typing import Callable, Generator

import pytest

from . import options
from .distribute import scheduler, xdist_workers
from .items import CheckError, PortCheckItem, SpecFile
from .prober.probes import registry
from .probing import Probing
from .results import CheckOutcome
from .run import RUN, ActivateRun
from .spec import Host, Spec
from .spec.model import Expect

PREVIOUS_SIGTERM = pytest.StashKey["signal._HANDLER"]()
# Evidence lives in its own module of hooks so output formats never touch collection or the engine;
# the run loop that plays port checks in the order their results arrive has its own too.
pytest_plugins = ["pytest_activate_ports.evidence.hooks", "pytest_activate_ports.runorder"]


def pytest_addoption(parser: pytest.Parser) -> None:
    options.add_options(parser)


def pytest_configure(config: pytest.Config) -> None:
    for expect in Expect:
        config.addinivalue_line("markers", f"activate_{expect.value}: port checks that expect the port {expect.value}")
    for kind in registry.kinds():
        config.addinivalue_line("markers", f"activate_{kind.replace('-', '_')}: port checks using the {kind} probe")
    config.addinivalue_line("markers", "activate_hosts(role=None): parametrize the activate_host fixture over the spec's hosts (of a role)")
    settings = options.read(config)
    run = ActivateRun(settings)
    config.stash[RUN] = run
    if settings.specs and threading.current_thread() is threading.main_thread():
        config.stash[PREVIOUS_SIGTERM] = signal.signal(signal.SIGTERM, _interrupt)
    if settings.specs and config.args_source is not pytest.Config.ArgsSource.ARGS:
        # `pytest --activate-spec x.yaml` means "run the spec", not "also every test under testpaths".
        config.args[:] = [str(p) for p in settings.specs]
    elif settings.specs:
        # A spec named by an argument (`spec.yaml::rule[host:port]`, to run one check) is not added whole.
        named = {(config.invocation_params.dir / arg.partition("::")[0]).resolve() for arg in config.args}
        config.args.extend(str(p) for p in settings.specs if p.resolve() not in named)


def _interrupt(signum: int, frame: object) -> None:
    """A CI runner's SIGTERM ends the run like Ctrl-C: probes cancelled, partial evidence written."""
    raise KeyboardInterrupt(f"terminated by signal {signum}")


def pytest_unconfigure(config: pytest.Config) -> None:
    if PREVIOUS_SIGTERM in config.stash:
        signal.signal(signal.SIGTERM, config.stash[PREVIOUS_SIGTERM])


def pytest_sessionstart(session: pytest.Session) -> None:
    run = session.config.stash[RUN]
    for path in run.settings.specs:
        run.load(path)
    run.prepare()


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> SpecFile | None:
    run = parent.config.stash[RUN]
    glob = run.settings.spec_glob
    if file_path in run.settings.specs or (glob and file_path.suffix in (".yaml", ".yml") and fnmatch(file_path.name, glob)):
        if file_path not in run.specs and file_path not in run.errors:
            run.load(file_path)
            run.prepare()
        collector = SpecFile.from_parent(parent, path=file_path)
        collector.run = run
        return collector
    return None


def pytest_report_collectionfinish(config: pytest.Config) -> str | None:
    if config.get_verbosity() < -1:  # -qq: pytest says almost nothing, and neither do we (the matrix is hidden too)
        return None
    return config.stash[RUN].header()


@pytest.hookimpl(wrapper=True)
def pytest_runtestloop(session: pytest.Session) -> Generator[None, object, object]:
    checks = [item.check for item in session.items if isinstance(item, PortCheckItem) and not item.check.skip_reason]
    run = session.config.stash[RUN]
    if session.config.option.collectonly or not checks:
        return (yield)
    run.probing = Probing(checks, run.settings, xdist_workers(session.config), run.vantages)
    run.probing.start()
    try:
        return (yield)
    finally:
        run.probing.close()
        run.probing = None


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object:
    return scheduler(config, log)


@pytest.hookimpl(wrapper=True)
def pytest_collection(session: pytest.Session) -> Generator[None, object, object]:
    try:
        return (yield)
    except pytest.UsageError as exc:
        raise options.spec_argument_hint(exc, session.config) from None


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    # pytest renders setup errors with its own traceback, not Item.repr_failure: a check
    # that could not be judged gets the same one-line report as a failed one.
    if isinstance(item, PortCheckItem) and call.excinfo is not None and call.excinfo.errisinstance(CheckError):
        report.longrepr = item.repr_failure(call.excinfo)
    # A skip raised while running (skipped: unproven) is placed by pytest at the raising Python
    # line; a check's place is its rule in the spec, as for the skip marks of `when`.
    if isinstance(item, PortCheckItem) and report.skipped and isinstance(report.longrepr, tuple):
        path, line, _ = item.reportinfo()
        report.longrepr = (str(path), line + 1, report.longrepr[2])
    return report


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    marker = metafunc.definition.get_closest_marker("activate_hosts")
    if marker is None or "activate_host" not in metafunc.fixturenames:
        return
    role = marker.kwargs.get("role", marker.args[0] if marker.args else None)
    hosts = [h for spec in metafunc.config.stash[RUN].specs.values() for h in spec.hosts.values()
             if role is None or role in h.roles]
    metafunc.parametrize("activate_host", hosts, ids=[h.name for h in hosts])


@pytest.fixture(scope="session")
def activate_spec(pytestconfig: pytest.Config) -> Spec:
    """The loaded spec of this run (the first one when several are given)."""
    specs = pytestconfig.stash[RUN].specs
    if not specs:
        pytest.skip("no --activate-spec given")
    return next(iter(specs.values()))


@pytest.fixture(scope="session")
def activate_role(pytestconfig: pytest.Config) -> str | None:
    """The vantage role of this run."""
    return pytestconfig.stash[RUN].role


@pytest.fixture
def activate_host(request: pytest.FixtureRequest) -> Host:
    """One host of the spec; parametrize with ``@pytest.mark.activate_hosts(role=...)``."""
    if not hasattr(request, "param"):
        raise pytest.UsageError("activate_host needs @pytest.mark.activate_hosts(role=...) on the test")
    host: Host = request.param
    return host


@pytest.fixture
def activate_result(request: pytest.FixtureRequest) -> Callable[[str, str, int | None], CheckOutcome]:
    """Look up the outcome of a port check of this session: ``activate_result(rule_id, host, port)``.

    The check must be selected in this run; items are probed before any test runs.
    """
    def lookup(rule_id: str, host: str, port: int | None = None) -> CheckOutcome:
        probing = request.config.stash[RUN].probing
        for item in request.session.items:
            check = item.check if isinstance(item, PortCheckItem) else None
            if check is not None and check.rule.id == rule_id \
                    and check.host.name == host and (port is None or port in check.ports) \
                    and probing is not None and probing.probed(check):
                return probing.outcome(check)
        raise LookupError(f"no probed check {rule_id}[{host}:{port if port is not None else '*'}] in this run")
    return lookup
