"""A probe that breaks becomes an ``error`` for its own item, in one line; the rest of the run goes on.

The broken probe kinds are registered by a conftest inside the pytester
folder, the way a third-party probe module would be, and the run is a
subprocess so they never enter this process's registry.
"""

from __future__ import annotations

import json
import textwrap

import pytest

from ..servers import Listener

BROKEN_PROBES = textwrap.dedent('''
    import asyncio

    from pytest_activate_ports.prober.probes.base import Probe, ProtocolResult
    from pytest_activate_ports.prober.probes.registry import register
    from pytest_activate_ports.prober.probes.wire import WireError


    class Broken(Probe):
        @classmethod
        def from_options(cls, options, tls):
            return cls()


    @register
    class Divides(Broken):
        kind = "divides-by-zero"

        async def check(self, conn):
            return ProtocolResult(True, str(1 / 0))


    @register
    class Strict(Broken):
        kind = "leaves-a-parse-error-uncaught"

        async def check(self, conn):
            raise WireError("not this protocol: the peer said nothing it knows")


    @register
    class Cancelled(Broken):
        kind = "awaits-a-cancelled-task"

        async def check(self, conn):
            helper = asyncio.ensure_future(asyncio.sleep(10))
            helper.cancel()
            await helper  # a probe bug: awaiting its own cancelled helper raises CancelledError
            return ProtocolResult(True, "unreachable")
''')


def crash_spec(port: int, kind: str) -> str:
    return textwrap.dedent(f"""
        version: 1
        hosts:
          box: {{address: 127.0.0.1, roles: [server]}}
        rules:
          - {{id: before, from: internet, to: box, port: {port}, expect: required, probe: slurmctld}}
          - {{id: crashing, from: internet, to: box, port: {port}, expect: required, probe: {kind}}}
          - {{id: after, from: internet, to: box, port: {port}, expect: required, probe: slurmctld}}
    """)


def run_crash(pytester: pytest.Pytester, kind: str) -> tuple[pytest.RunResult, dict[str, dict[str, object]]]:
    pytester.makeconftest(BROKEN_PROBES)
    with Listener(hold=True) as server:
        spec = pytester.path / "spec.yaml"
        spec.write_text(crash_spec(server.port, kind))
        evidence = pytester.path / "evidence.json"
        result = pytester.runpytest_subprocess("--activate-spec", str(spec), "--activate-role", "internet",
                                               "--activate-timeout", "1", "--activate-evidence", str(evidence),
                                               "-rA", timeout=30)
    records = {r["rule"]: r for r in json.loads(evidence.read_text())["records"]}
    return result, records


def test_probe_raising_an_exception_is_an_error_for_that_item_only(pytester: pytest.Pytester) -> None:
    result, records = run_crash(pytester, "divides-by-zero")
    result.assert_outcomes(passed=2, errors=1)
    assert records["before"]["outcome"] == records["after"]["outcome"] == "passed"
    assert records["crashing"]["outcome"] == "error"
    assert str(records["crashing"]["message"]).endswith("probe crashed: ZeroDivisionError: division by zero")


def test_probe_crash_is_reported_in_one_line_without_a_traceback(pytester: pytest.Pytester) -> None:
    result, _ = run_crash(pytester, "divides-by-zero")
    result.stdout.fnmatch_lines(["required divides-by-zero: box:*: probe crashed: ZeroDivisionError: division by zero"])
    output = result.stdout.str() + result.stderr.str()
    assert "def setup(self)" not in output and "_pytest" not in output


def test_probe_raising_cancelled_error_is_an_error_for_that_item_only(pytester: pytest.Pytester) -> None:
    result, records = run_crash(pytester, "awaits-a-cancelled-task")
    assert records["before"]["outcome"] == records["after"]["outcome"] == "passed"
    assert records["crashing"]["outcome"] == "error"
    result.assert_outcomes(passed=2, errors=1)


def test_probe_leaving_a_peer_error_uncaught_fails_its_check_not_crashes(pytester: pytest.Pytester) -> None:
    """What the peer sent is not the protocol: a failed check (caught once, centrally), never a probe crash."""
    result, records = run_crash(pytester, "leaves-a-parse-error-uncaught")
    result.assert_outcomes(passed=2, failed=1)
    assert records["crashing"]["outcome"] == "failed"
    assert "is open but the leaves-a-parse-error-uncaught check failed" in str(records["crashing"]["message"])
    assert str(records["crashing"]["message"]).endswith(": not this protocol: the peer said nothing it knows")
    assert "probe crashed" not in str(records["crashing"]["message"])
