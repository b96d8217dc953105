"""``--activate-vantage ROLE=WHERE``: one pytest run probes each role's checks from its own vantage.

Without root every vantage here is this machine: ``local`` (a prober in this
process or a local process) and ``popen//python=<this python>`` (a prober
process behind an execnet gateway, the path an ssh or netns vantage takes).
The namespace lab, where two vantages see one target differently, is in
``tests/vantages``.
"""

from __future__ import annotations

import json
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any, Callable

import pytest

from .servers import Listener

SpecWriter = Callable[[str], Path]
GATEWAY = f"popen//python={sys.executable}"


def two_role_spec(write_spec: SpecWriter, open_port: int, refused: int) -> Path:
    """``internet`` must reach the open port; ``agent`` must reach it too and find the refused one closed."""
    return write_spec(f"""\
version: 1
roles: [agent]
hosts:
  lb: {{address: 127.0.0.1, roles: [control-plane]}}
rules:
  - {{id: ui, from: internet, to: lb, port: {open_port}, expect: required}}
  - {{id: tunnel, from: agent, to: lb, port: {open_port}, expect: required}}
  - {{id: no-legacy, from: agent, to: lb, port: {refused}, expect: forbidden}}
  - {{id: both, from: [internet, agent], to: lb, port: {refused}, expect: required}}
""")


def vantage_run(pytester: pytest.Pytester, spec: Path, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess("--activate-spec", str(spec), "-o", "junit_family=xunit1", *args)


def test_plugin_vantages_run_every_role_in_one_run(pytester: pytest.Pytester, write_spec: SpecWriter,
                                                   listener: Listener, refused_port: int) -> None:
    spec = two_role_spec(write_spec, listener.port, refused_port)
    result = vantage_run(pytester, spec, "--activate-vantage", "internet=local", "--activate-vantage", f"agent={GATEWAY}",
                         "--activate-evidence", "all.json", "--junitxml", "all.xml", "-v")
    # `both` must be answered from each vantage: the refused port fails it twice, once per vantage.
    result.assert_outcomes(passed=3, failed=2)
    out = result.stdout.str()
    assert f"vantages internet (local), agent ({GATEWAY})" in out
    assert f"both[lb:{refused_port}@internet] FAILED" in out and f"both[lb:{refused_port}@agent] FAILED" in out
    assert f"ui[lb:{listener.port}] PASSED" in out and f"tunnel[lb:{listener.port}] PASSED" in out
    assert "activate port matrix (vantage internet, local)" in out and f"activate port matrix (vantage agent, {GATEWAY})" in out
    document: dict[str, Any] = json.loads((pytester.path / "all.json").read_text())
    assert document["role"] is None
    assert document["vantages"] == [{"role": "internet", "where": "local"}, {"role": "agent", "where": GATEWAY}]
    roles = {record["nodeid"].split("::")[1]: (record["role"], record["vantage"]["where"]) for record in document["records"]}
    assert roles == {f"ui[lb:{listener.port}]": ("internet", "local"), f"tunnel[lb:{listener.port}]": ("agent", GATEWAY),
                     f"no-legacy[lb:{refused_port}]": ("agent", GATEWAY),
                     f"both[lb:{refused_port}@internet]": ("internet", "local"), f"both[lb:{refused_port}@agent]": ("agent", GATEWAY)}
    agent = next(r for r in document["records"] if r["role"] == "agent")
    assert agent["vantage"]["python"] == ".".join(map(str, sys.version_info[:3])) and agent["vantage"]["hostname"]
    assert agent["results"][0]["source"].startswith("127.")  # the dial's own source address, seen on the vantage
    suite = ET.parse(pytester.path / "all.xml").getroot().find("testsuite")
    assert suite is not None
    props = [(p.get("name"), p.get("value")) for p in suite.iter("property") if p.get("name") == "activate.vantage"]
    assert props[:2] == [("activate.vantage", "internet=local"), ("activate.vantage", f"agent={GATEWAY}")]


def test_plugin_vantages_keyword_selects_one_vantage(pytester: pytest.Pytester, write_spec: SpecWriter,
                                                     listener: Listener, refused_port: int) -> None:
    spec = two_role_spec(write_spec, listener.port, refused_port)
    result = vantage_run(pytester, spec, "--activate-vantage", "internet=local", "--activate-vantage", "agent=local",
                         "-k", "agent", "-v")
    result.assert_outcomes(passed=2, failed=1)
    assert "ui[" not in result.stdout.str() and f"both[lb:{refused_port}@agent] FAILED" in result.stdout.str()


def test_plugin_vantages_from_the_ini_one_per_line(pytester: pytest.Pytester, write_spec: SpecWriter,
                                                   listener: Listener, refused_port: int) -> None:
    spec = two_role_spec(write_spec, listener.port, refused_port)
    pytester.makeini(f"[pytest]\nactivate_vantages =\n    internet=local\n    agent={GATEWAY}\n")
    result = vantage_run(pytester, spec)
    result.assert_outcomes(passed=3, failed=2)


def test_plugin_vantage_that_cannot_start_errors_its_checks_only(pytester: pytest.Pytester, write_spec: SpecWriter,
                                                                 listener: Listener, refused_port: int) -> None:
    spec = two_role_spec(write_spec, listener.port, refused_port)
    missing = "popen//python=/nonexistent/python3"
    result = vantage_run(pytester, spec, "--activate-vantage", "internet=local", "--activate-vantage", f"agent={missing}",
                         "--activate-evidence", "all.json")
    result.assert_outcomes(passed=1, failed=1, errors=3)  # internet: ui passes, both@internet fails; agent: 3 errors
    reason = f"the vantage agent ({missing}) did not start: FileNotFoundError"
    # One line per check in the errors section (the short summary repeats them, cut to the terminal's width).
    assert sum(reason in line for line in result.outlines if not line.startswith("ERROR ")) == 3, result.outlines
    records = json.loads((pytester.path / "all.json").read_text())["records"]
    assert {r["outcome"] for r in records if r["role"] == "agent"} == {"error"}
    # A vantage that never came up has no hostname or Python to show: not this machine's.
    assert [r["vantage"] for r in records if r["role"] == "agent"] == [{"where": missing}] * 3


def test_plugin_vantages_leave_credentials_out_of_output_and_evidence(pytester: pytest.Pytester, write_spec: SpecWriter,
                                                                      listener: Listener, refused_port: int) -> None:
    spec = two_role_spec(write_spec, listener.port, refused_port)
    where = f"{GATEWAY}//env:API_TOKEN=s3cret-value"
    result = vantage_run(pytester, spec, "--activate-vantage", "internet=local", "--activate-vantage", f"agent={where}",
                         "--activate-evidence", "all.json", "--junitxml", "all.xml", "-v")
    result.assert_outcomes(passed=3, failed=2)  # the gateway works: the secret reached the vantage's environment
    for text in (result.stdout.str(), result.stderr.str(), (pytester.path / "all.json").read_text(),
                 (pytester.path / "all.xml").read_text()):
        assert "s3cret-value" not in text
    assert "env:API_TOKEN=" in result.stdout.str()


@pytest.mark.parametrize(("args", "message"), [
    (["--activate-vantage", "agent"], "--activate-vantage expects ROLE=WHERE"),
    (["--activate-vantage", "agent=local", "--activate-vantage", "agent=local"], "role 'agent' is given twice"),
    (["--activate-vantage", "agnet=local"], "--activate-vantage: unknown role 'agnet' (did you mean 'agent'?)"),
    (["--activate-vantage", "control-plane=local"], "no rule runs from 'control-plane' (it is a target, not a vantage)"),
    (["--activate-role", "agent", "--activate-vantage", "agent=local"], "--activate-role agent is also given as --activate-vantage"),
    (["--activate-vantage", "agent=popen//pyhton=python3"], "unknown key 'pyhton'"),
])
def test_plugin_vantage_usage_errors_before_any_traffic(pytester: pytest.Pytester, write_spec: SpecWriter,
                                                        listener: Listener, refused_port: int,
                                                        args: list[str], message: str) -> None:
    spec = two_role_spec(write_spec, listener.port, refused_port)
    result = vantage_run(pytester, spec, *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert message in result.stderr.str() and "Traceback" not in result.stderr.str()
    assert listener.settled(0) == 0  # nothing was dialled


def test_plugin_role_and_vantage_together_probe_the_role_from_here(pytester: pytest.Pytester, write_spec: SpecWriter,
                                                                   listener: Listener, refused_port: int) -> None:
    spec = two_role_spec(write_spec, listener.port, refused_port)
    result = vantage_run(pytester, spec, "--activate-role", "internet", "--activate-vantage", f"agent={GATEWAY}")
    result.assert_outcomes(passed=3, failed=2)
    assert f"vantages internet (local), agent ({GATEWAY})" in result.stdout.str()


def test_plugin_vantages_under_xdist_each_worker_reaches_its_vantages(pytester: pytest.Pytester, write_spec: SpecWriter,
                                                                      listener: Listener, refused_port: int) -> None:
    pytest.importorskip("xdist")
    spec = two_role_spec(write_spec, listener.port, refused_port)
    result = vantage_run(pytester, spec, "--activate-vantage", "internet=local", "--activate-vantage", f"agent={GATEWAY}",
                         "--activate-evidence", "all.json", "-n", "2", "--dist", "loadgroup")
    result.assert_outcomes(passed=3, failed=2)
    records = json.loads((pytester.path / "all.json").read_text())["records"]
    assert sorted((r["role"], r["vantage"]["where"]) for r in records) == sorted(
        [("internet", "local")] * 2 + [("agent", GATEWAY)] * 3)


def test_plugin_host_address_as_seen_from_one_vantage(pytester: pytest.Pytester, write_spec: SpecWriter,
                                                      listener: Listener, refused_port: int) -> None:
    spec = two_role_spec(write_spec, listener.port, refused_port)
    # From the agent, lb is 127.0.0.2, where nothing listens: its tunnel check must fail, the internet's ui still passes.
    result = vantage_run(pytester, spec, "--activate-vantage", "internet=local", "--activate-vantage", "agent=local",
                         "--activate-host", "lb@agent=127.0.0.2", "--activate-evidence", "all.json", "-v")
    result.assert_outcomes(passed=2, failed=3)
    assert f"ui[lb:{listener.port}] PASSED" in result.stdout.str()
    assert f"tunnel[lb:{listener.port}] FAILED" in result.stdout.str()
    addresses = {(r["role"], r["address"]) for r in json.loads((pytester.path / "all.json").read_text())["records"]}
    assert addresses == {("internet", "127.0.0.1"), ("agent", "127.0.0.2")}


def test_plugin_host_address_for_an_unknown_role_is_a_usage_error(pytester: pytest.Pytester, write_spec: SpecWriter,
                                                                  listener: Listener, refused_port: int) -> None:
    spec = two_role_spec(write_spec, listener.port, refused_port)
    result = vantage_run(pytester, spec, "--activate-vantage", "agent=local", "--activate-host", "lb@agnet=127.0.0.2")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "--activate-host lb@agnet: unknown role 'agnet' (did you mean 'agent'?)" in result.stderr.str()
