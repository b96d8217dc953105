"""JUnit XML evidence within what each ``junit_family`` schema allows.

pytest writes a testcase's ``user_properties`` as ``<properties>`` inside
``<testcase>`` whatever the family, but the xunit2 schema (pytest's default)
has no such element there: CI tools that validate would drop the whole file.
So per-testcase properties are only added under xunit1/legacy; under xunit2
the run gets suite-level properties (valid in both families) and the user one
warning naming the ini line that turns the per-testcase ones on.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterable, Protocol, cast

import pytest

if TYPE_CHECKING:
    from ..run import ActivateRun
    from .recorder import Recorder

ENABLE_LINE = "junit_family = xunit1"


class _SuiteProperties(Protocol):
    def add_global_property(self, name: str, value: object) -> None: ...


def family(config: pytest.Config) -> str | None:
    """The JUnit family of this run (``legacy`` means xunit1), or None without ``--junitxml``."""
    if not config.getoption("xmlpath", None):
        return None
    chosen = str(config.getini("junit_family"))
    return "xunit1" if chosen == "legacy" else chosen


def per_testcase(config: pytest.Config) -> bool:
    """True when testcase properties are valid in the JUnit file being written."""
    return family(config) == "xunit1"


def warning(config: pytest.Config) -> str | None:
    """The one session-start warning when the family forbids testcase properties."""
    chosen = family(config)
    if chosen is None or chosen == "xunit1":
        return None
    return (f"activate: junit_family={chosen} forbids per-testcase <properties>, so the JUnit file gets the "
            f"activate.* evidence (rule, host, address, port, observed...) only as suite-level properties; "
            f"to record it on every testcase add '{ENABLE_LINE}' to the [pytest] section of your ini file "
            f"(junit_family = \"xunit1\" under [tool.pytest.ini_options] in pyproject.toml)")


def suite_properties(config: pytest.Config, run: ActivateRun, recorder: Recorder) -> list[tuple[str, str]]:
    """Run-level evidence for ``<testsuite><properties>``: which spec, from where, with what result."""
    counts = recorder.summary()
    props = [("activate.spec", f"{spec.path} sha256={spec.sha256}") for spec in run.specs.values()]
    props += [
        ("activate.role", run.role or ""),
        *(("activate.vantage", f"{role}={where}") for role, where in run.shown.items()),
        ("activate.summary", f"{counts['passed']} passed, {counts['failed']} failed, {counts['skipped']} skipped, "
                             f"{counts['error']} errors; {counts['required_ok']} required ok, "
                             f"{counts['optional_ok']} optional ok, {counts['forbidden_ok']} forbidden ok"),
        ("activate.testcase_properties", "written" if per_testcase(config) else f"off: set {ENABLE_LINE} to write them"),
    ]
    if run.settings.evidence is not None:
        props.append(("activate.evidence", str(run.settings.evidence)))
    props += [("activate.warning", warning) for warning in recorder.warnings()]
    return props


def add_suite_properties(config: pytest.Config, properties: Iterable[tuple[str, str]]) -> bool:
    """Add properties to the suite of the JUnit file being written; False when there is none.

    pytest offers this only as the ``record_testsuite_property`` fixture, which
    hands out the JUnit writer's ``add_global_property``; hooks have no fixture
    request, so the same method is found on the registered writer plugin.
    """
    for plugin in config.pluginmanager.get_plugins():
        if callable(getattr(plugin, "add_global_property", None)):
            writer = cast(_SuiteProperties, plugin)
            for name, value in properties:
                writer.add_global_property(name, value)
            return True
    return False
