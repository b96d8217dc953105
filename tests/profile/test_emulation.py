"""The emulated ACTIVATE deployment: one command, correct run passes, every deliberate mistake is caught exactly."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from pytest_activate_ports.emulate import deployment
from pytest_activate_ports.emulate.demo import SPEC_HEADER, VANTAGES, _explain
from pytest_activate_ports.emulate.pytest_run import Interrupted, ItemResult, PytestRun, read_junit, run_pytest

from .conftest import EXAMPLES, NO_HYPOTHESIS


def test_emulated_spec_example_is_current() -> None:
    expected = SPEC_HEADER + deployment.render_spec(deployment.LOOPBACK, port_map=True)
    assert (EXAMPLES / "emulated.yaml").read_text(encoding="utf-8") == expected, (
        "regenerate: python -c 'from pathlib import Path; from pytest_activate_ports.emulate.demo import write_spec; "
        "write_spec(Path(\"examples\"))'")


def test_loopback_ports_are_unprivileged_and_distinct() -> None:
    ports = [22, 80, 443, 587, 2049, 3000, 5432, 8443, 15672, 27017]
    mapped = [deployment.high_port(port) for port in ports]
    assert min(mapped) > 1024 and max(mapped) <= 65535 and len(set(mapped)) == len(ports)


def test_misconfigurations_replace_the_right_services() -> None:
    correct = set(deployment.services())
    wrong = set(deployment.services(["mtls-not-enforced", "ssh-closed"]))
    assert correct - wrong == {deployment.Service("lb", 8443, "cac-mtls"), deployment.Service("slurm-controller", 22, "ssh")}
    assert wrong - correct == {deployment.Service("lb", 8443, "tls-any-client")}


def _run(failed: set[str]) -> PytestRun:
    items = {"lb-https[lb:443]": ItemResult("passed", "internet")} | {name: ItemResult("failed", "internet") for name in failed}
    return PytestRun(1 if failed else 0, items, "", Path("run.json"))


def test_misconfigured_run_must_fail_exactly_the_expected_items(capsys: pytest.CaptureFixture[str]) -> None:
    names = ["http-200", "postgres-on-lb"]
    assert _explain(_run({"lb-http-redirect[lb:80]", "internet-no-postgres[lb:5432]"}), names)
    assert not _explain(_run({"lb-http-redirect[lb:80]"}), names)
    assert not _explain(_run({"lb-http-redirect[lb:80]", "internet-no-postgres[lb:5432]", "lb-https[lb:443]"}), names)
    output = capsys.readouterr().out
    assert "MISSED: internet-no-postgres[lb:5432]" in output and "unexpected failures: lb-https[lb:443]" in output


def test_junit_outcomes_and_roles_are_read_per_item(tmp_path: Path) -> None:
    report = tmp_path / "run.xml"
    report.write_text('<testsuites><testsuite><testcase name="a[h:1@agent]"><properties><property name="activate.role" '
                      'value="agent"/><property name="activate.observed" value="filtered"/></properties></testcase>'
                      '<testcase name="a[h:1@internet]"><properties><property name="activate.role" value="internet"/>'
                      '</properties><failure message="x"/></testcase><testcase name="c[h:3]"><skipped/></testcase>'
                      '<testcase name="d[h:4]"><failure message="x"/><error/></testcase></testsuite></testsuites>')
    assert read_junit(report) == {"a[h:1@agent]": ItemResult("passed", "agent", "filtered"),
                                  "a[h:1@internet]": ItemResult("failed", "internet"),
                                  "c[h:3]": ItemResult("skipped", ""), "d[h:4]": ItemResult("error", "")}


def test_run_stopped_before_it_starts_starts_no_pytest(tmp_path: Path) -> None:
    stop = asyncio.Event()
    stop.set()
    with pytest.raises(Interrupted):
        asyncio.run(run_pytest(tmp_path / "spec.yaml", {"internet": "local"}, stop=stop))
    assert list(tmp_path.iterdir()) == []


def test_one_command_runs_the_emulated_deployment_and_catches_every_mistake() -> None:
    result = subprocess.run([sys.executable, "-m", "pytest_activate_ports.emulate", "--", "-q", "--activate-timeout", "3"],
                            capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    # One pytest run per deployment, every vantage in it, each vantage's items counted from their role.
    assert result.stdout.count("one pytest run from 6 vantages") == 2, result.stdout[:3000]
    rows = {tuple(row[:2]): [int(n) for n in row[2:]] for row in re.findall(
        r"^(correct|misconfigured) +(\S+) +(\d+) +(\d+) +(\d+) +(\d+)$", result.stdout, re.MULTILINE)}
    assert sorted(rows) == sorted((label, role) for label in ("correct", "misconfigured") for role in VANTAGES)
    assert all(counts[1] == counts[3] == 0 for (label, _), counts in rows.items() if label == "correct"), rows
    assert rows[("correct", "internet")][0] == 21 and rows[("misconfigured", "workspace")][:2] == [0, 3], rows
    assert "pytest exit codes: correct 0, misconfigured 1" in result.stdout
    for mistake in deployment.MISCONFIGURATIONS.values():
        for item in mistake.fails:
            assert f"caught: {item}" in result.stdout
    assert "unexpected failures: none" in result.stdout


def test_serve_keeps_the_deployment_up_for_a_users_own_run(pytester: pytest.Pytester) -> None:
    server = subprocess.Popen([sys.executable, "-m", "pytest_activate_ports.emulate", "--serve"],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert server.stdout is not None
        assert "ready" in server.stdout.readline()
        hint = server.stdout.readline() + server.stdout.readline()
        folder = re.search(r"ACTIVATE_EMULATION_DIR=(\S+)", hint)
        assert folder is not None, hint
        os.environ["ACTIVATE_EMULATION_DIR"] = folder.group(1)
        try:
            spec = shutil.copy(f"{folder.group(1)}/emulated.yaml", pytester.path)
            result = pytester.runpytest(*NO_HYPOTHESIS, "--activate-spec", str(spec), "--activate-role", "agent")
        finally:
            del os.environ["ACTIVATE_EMULATION_DIR"]
        result.assert_outcomes(passed=5)
    finally:
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=10) == 0
        if server.stdout is not None:
            server.stdout.close()
    assert not Path(folder.group(1)).exists(), "the certificates' folder must be removed on exit"


def _descendants(pid: int) -> set[int]:
    """Processes below ``pid`` (from /proc: no extra dependency)."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parents[int(stat.parent.name)] = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
    found, frontier = set(), {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_serve_prints_a_command_that_passes_as_printed(tmp_path: Path) -> None:
    server = subprocess.Popen([sys.executable, "-m", "pytest_activate_ports.emulate", "--serve"],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert server.stdout is not None
        assert "ready" in server.stdout.readline()
        lines = [server.stdout.readline() for _ in range(2)]
        command = next(line.strip() for line in lines if "pytest --activate-spec" in line)
        assert "--activate-role" not in command
        # As a user's shell would run it: `pytest` from the environment the package is installed in.
        env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
        result = subprocess.run(command, shell=True, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, command + "\n" + result.stdout[-3000:]
        assert re.search(r"\b52 passed, \d+ skipped in\b", result.stdout), result.stdout[-1500:]
        shown = ", ".join(f"{role} ({where})" for role, where in VANTAGES.items())
        assert f"vantages {shown}, 52 checks" in result.stdout, result.stdout[:1500]
    finally:
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=10) == 0
        if server.stdout is not None:
            server.stdout.close()


@pytest.mark.parametrize(("moment", "signum"), [("pytest started", signal.SIGINT), ("probers up", signal.SIGINT),
                                               ("probers up", signal.SIGTERM)], ids=["ctrl-c-early", "ctrl-c", "sigterm"])
def test_ctrl_c_stops_the_emulation_quietly_with_its_servers_and_pytest_runs(moment: str, signum: signal.Signals) -> None:
    # "probers up": the pytest run and the prober processes of its five gateway vantages.
    wanted = 1 if moment == "pytest started" else 1 + sum(where != "local" for where in VANTAGES.values())
    with subprocess.Popen([sys.executable, "-m", "pytest_activate_ports.emulate", "--variant", "correct"],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as demo:
        try:
            assert demo.stdout is not None
            assert demo.stdout.readline().startswith("== correct deployment:")
            seen: set[int] = set()
            while len(seen) < wanted and demo.poll() is None:
                seen |= {pid for pid in _descendants(demo.pid) if _alive(pid)}
            demo.send_signal(signum)
            _, err = demo.communicate(timeout=30)
        finally:
            if demo.poll() is None:
                demo.kill()
    assert demo.returncode == 130, err
    assert "Traceback" not in err and err.strip() == "activate-ports emulate: interrupted; servers stopped"
    assert len(seen) >= wanted and not any(_alive(pid) for pid in seen), "the pytest run and its probers must be stopped"
    address, port = deployment.LOOPBACK["lb"], deployment.high_port(443)
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((address, port), timeout=5).close()


@pytest.mark.parametrize(("args", "message"), [
    (["--host", "lb"], "--host only applies with --serve"),
    (["--misconfigure", "http-200", "--omit", "lb:80"], "--misconfigure, --omit only apply with --serve"),
    (["--serve", "--host", "nosuch"], "--host: unknown host 'nosuch'; one of: "),
    (["--serve", "--host", "slurm-controler"], "--host: unknown host 'slurm-controler' (did you mean 'slurm-controller'?)"),
    (["--serve", "--omit", "lb:9999"], "--omit: no service 'lb:9999' in the emulated deployment; services on lb: 80, 443, 5432, 8443"),
    (["--serve", "--variant", "correct"], "--serve runs no pytest"),
    (["--serve", "--", "-q"], "--serve runs no pytest"),
    (["--serve", "--certs", "."], "--certs only applies with --spec"),
])
def test_emulate_bad_combinations_are_one_line_usage_errors(capsys: pytest.CaptureFixture[str], args: list[str], message: str) -> None:
    from pytest_activate_ports.emulate import main

    assert main(args) == 2
    out, err = capsys.readouterr()
    assert out == "" and len(err.splitlines()) == 1 and err.startswith(f"activate-ports emulate: error: {message}")


def test_emulation_on_a_taken_port_says_so_in_one_line() -> None:
    address, port = deployment.LOOPBACK["lb"], deployment.high_port(443)
    holder = socket.socket()
    holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # earlier tests' connections may linger in TIME_WAIT
    try:
        try:
            holder.bind((address, port))
            holder.listen()
        except OSError:
            pass  # another emulation on this machine listens there already: the same situation
        result = subprocess.run([sys.executable, "-m", "pytest_activate_ports.emulate", "--serve"],
                                capture_output=True, text=True, timeout=60)
    finally:
        holder.close()
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr == (f"activate-ports emulate: cannot serve lb:443 on {address}:{port}: address already in use; "
                             "is another `activate-ports emulate` running?\n")
