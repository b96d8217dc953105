"""pytest collectors and items: a spec file collects one :class:`PortCheckItem` per check."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Iterator

import pytest

from .checks import Check
from .outcomes import ProbingStopped
from .redact import redact
from .results import CheckOutcome
from .run import RUN
from .spec import SpecError
from .verdict import Outcome, Verdict, judge

if TYPE_CHECKING:
    from _pytest._code.code import TerminalRepr

    from .run import ActivateRun


@functools.cache
def shared_mark(name: str, **kwargs: str) -> pytest.MarkDecorator:
    """``pytest.mark.<name>(**kwargs)``, built once and shared by every item that carries it.

    Marks are immutable, and a fresh decorator per item is several objects
    each; with tens of thousands of items the copies add up to megabytes.
    The names and arguments come from the spec (expectations, probe kinds,
    ``when`` reasons), so the cache stays small.
    """
    decorator: pytest.MarkDecorator = getattr(pytest.mark, name)
    return decorator(**kwargs) if kwargs else decorator


class CheckFailed(AssertionError):
    """A port check did not hold; its message is the whole failure report."""


class CheckError(Exception):
    """A check could not be judged (probe crashed, host unresolvable where it must not be)."""


class SpecFile(pytest.File):
    """A spec given with ``--activate-spec`` (or matching ``activate_spec_glob``)."""

    run: ActivateRun

    def collect(self) -> Iterator[PortCheckItem]:
        if self.path in self.run.errors:
            raise self.run.errors[self.path]
        secrets = self.run.specs[self.path].secrets
        for check in self.run.plans[self.path].checks:
            # The id is given as a string so that pytest parses it as it parses ids read back from
            # its cache or the command line: `rule[host:port]` becomes name `rule`, params
            # `host:port` (pytest >= 9.2 compares structured ids; a name holding the brackets
            # would never match, and --lf, --sw and --deselect would select nothing).
            item = PortCheckItem.from_parent(self, name=check.name, nodeid=f"{self.nodeid}::{check.name}",
                                             check=check, secrets=secrets)
            if check.skip_reason:
                item.add_marker(shared_mark("skip", reason=check.skip_reason))
            yield item

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: object = None) -> str | TerminalRepr:
        if isinstance(excinfo.value, SpecError):
            return str(excinfo.value)
        return super().repr_failure(excinfo)


class PortCheckItem(pytest.Item):
    """One port of one host under one rule; reads its result from the session's probing."""

    # pytest's Node keeps a __dict__; slots keep our per-item state out of it (less memory per item).
    __slots__ = ("check", "secrets", "outcome", "verdict", "vantage")

    def __init__(self, *, check: Check, secrets: frozenset[str] = frozenset(), **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.check = check
        self.secrets = secrets  # values from secret-named variables: never shown in any message
        self.outcome: CheckOutcome | None = None
        self.verdict: Verdict | None = None
        self.vantage: dict[str, str] | None = None  # the facts of the vantage it was probed from, once probed
        rule = check.rule
        if check.role:
            self.extra_keyword_matches.add(check.role)  # `-k agent` selects a vantage's checks
        self.add_marker(shared_mark(f"activate_{rule.expect.value}"))
        self.add_marker(shared_mark(f"activate_{rule.probe.kind.replace('-', '_')}"))

    def setup(self) -> None:
        probing = self.config.stash[RUN].probing
        if probing is None:
            raise CheckError("the probe engine is not running (was the run loop replaced by another plugin?)")
        try:
            self.outcome = probing.outcome(self.check)
        except ProbingStopped as exc:
            raise CheckError(str(exc)) from None
        finally:
            run = self.config.stash[RUN]
            self.vantage = probing.vantage(self.check.role, run.shown.get(self.check.role or "", "local"))
        self.verdict = self._redacted(judge(self.check, self.outcome))
        if self.verdict.outcome is Outcome.ERROR:
            raise CheckError(self.verdict.message)

    def _redacted(self, verdict: Verdict) -> Verdict:
        """The verdict with secret values blanked out (never bound unredacted, so --showlocals cannot leak it).

        Without secrets the judged verdict is kept as is rather than copied per item.
        """
        if not self.secrets:
            return verdict
        return Verdict(verdict.outcome, redact(verdict.message, self.secrets),
                       tuple(redact(list(verdict.warnings), self.secrets)))

    def runtest(self) -> None:
        assert self.verdict is not None
        if self.verdict.warnings:
            # As captured output of the call, so that `junit_logging = system-out` puts them in the
            # testcase's <system-out> and -rA shows them, beside the terminal summary's own lines.
            self.add_report_section("call", "stdout", "".join(f"activate warning: {w}\n" for w in self.verdict.warnings))
        if self.verdict.outcome is Outcome.SKIPPED:
            pytest.skip(self.verdict.message)
        if self.verdict.outcome is Outcome.FAILED:
            raise CheckFailed(self.verdict.message)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: object = None) -> str | TerminalRepr:
        if isinstance(excinfo.value, (CheckFailed, CheckError)):
            return f"{self.check.rule.expect.value} {self.check.rule.probe.kind}: {excinfo.value}"
        return super().repr_failure(excinfo)

    def reportinfo(self) -> tuple[str, int, str]:
        location = self.check.rule.location
        return str(location.path), location.line - 1, self.name
