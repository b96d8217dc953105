"""The emulated ACTIVATE deployment: one command, correct run passes, every deliberate mistake is caught exactly."""

from __future__ import annotations

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
from pytest_activate_ports.emulate.demo import SPEC_HEADER, _explain
from pytest_activate_ports.emulate.vantage import VantageRun, read_junit

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


def _run(role: str, failed: set[str]) -> VantageRun:
    return VantageRun(role, 1 if failed else 0, {"lb-https[lb:443]": "passed"} | {name: "failed" for name in failed}, "")


def test_misconfigured_run_must_fail_exactly_the_expected_items(capsys: pytest.CaptureFixture[str]) -> None:
    names = ["http-200", "postgres-on-lb"]
    assert _explain([_run("internet", {"lb-http-redirect[lb:80]", "internet-no-postgres[lb:5432]"})], names)
    assert not _explain([_run("internet", {"lb-http-redirect[lb:80]"})], names)
    assert not _explain([_run("internet", {"lb-http-redirect[lb:80]", "internet-no-postgres[lb:5432]", "lb-https[lb:443]"})], names)
    output = capsys.readouterr().out
    assert "MISSED: internet-no-postgres[lb:5432]" in output and "unexpected failures: lb-https[lb:443]" in output


def test_junit_outcomes_are_read_per_item(tmp_path: Path) -> None:
    report = tmp_path / "run.xml"
    report.write_text('<testsuites><testsuite><testcase name="a[h:1]"><properties><property name="activate.observed" '
                      'value="filtered"/></properties></testcase><testcase name="b[h:2]"><failure message="x"/></testcase>'
                      '<testcase name="c[h:3]"><skipped/></testcase><testcase name="d[h:4]"><error/></testcase></testsuite></testsuites>')
    outcomes, observed = read_junit(report)
    assert outcomes == {"a[h:1]": "passed", "b[h:2]": "failed", "c[h:3]": "skipped", "d[h:4]": "error"}
    assert observed == {"a[h:1]": "filtered"}


def test_one_command_runs_the_emulated_deployment_and_catches_every_mistake() -> None:
    result = subprocess.run([sys.executable, "-m", "pytest_activate_ports.emulate", "--", "-q", "--activate-timeout", "3"],
                            capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    rows = dict(re.findall(r"^(correct +\S+) +(\d+ +\d+ +\d+ +\d+ +\d+)$", result.stdout, re.MULTILINE))
    assert rows["correct        internet"].split() == ["21", "0", "4", "0", "0"]
    assert all(row.split()[1:2] == ["0"] for row in rows.values()), rows
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


def _children(pid: int) -> set[int]:
    """Processes whose parent is ``pid`` (from /proc: no extra dependency)."""
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.add(int(stat.parent.name))
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
        lines = [server.stdout.readline() for _ in range(3)]
        command = next(line.strip() for line in lines if "pytest --activate-spec" in line)
        # As a user's shell would run it: `pytest` from the environment the package is installed in.
        env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
        result = subprocess.run(command, shell=True, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, command + "\n" + result.stdout[-3000:]
        assert re.search(r"\b21 passed, 4 skipped\b", result.stdout), result.stdout[-1500:]
    finally:
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=10) == 0
        if server.stdout is not None:
            server.stdout.close()


def test_ctrl_c_stops_the_emulation_quietly_with_its_servers_and_pytest_runs() -> None:
    with subprocess.Popen([sys.executable, "-m", "pytest_activate_ports.emulate", "--variant", "correct"],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as demo:
        try:
            assert demo.stdout is not None
            assert demo.stdout.readline().startswith("== correct deployment:")
            children: set[int] = set()
            while not children and demo.poll() is None:  # the six vantages' pytest runs have started
                children = _children(demo.pid)
            demo.send_signal(signal.SIGINT)
            _, err = demo.communicate(timeout=30)
        finally:
            if demo.poll() is None:
                demo.kill()
    assert demo.returncode == 130, err
    assert "Traceback" not in err and err.strip() == "activate-ports emulate: interrupted; servers stopped"
    assert children and not any(_alive(pid) for pid in children), "every pytest run must be stopped"
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
