"""Vantages somewhere else for real: a network namespace (``ip netns exec``) and OpenSSH's sshd inside one.

Every address dialled is a 198.18.x address the test gave its own
namespace, dialled from inside it (the ssh client reaches the sshd through
a ProxyCommand run in the namespace). The prober's process is gone from the
namespace afterwards; namespaces and everything in them are removed.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import pytest

from pytest_activate_ports.outcomes import ProbingStopped
from pytest_activate_ports.results import Job, PortState
from pytest_activate_ports.vantages import ProcessProber

from ..netns import Namespace, require_netns
from ..test_prober_process import jobs_for, run, stopped_with
from .processes import gone, is_gateway, wait_until
from .sshd import Sshd, client_config, keypair, require_sshd

SSHD_ADDRESS, TARGET = "198.18.201.1", "198.18.201.2"
# Accepts and closes every connection; says its port once it listens.
LISTEN = ("import socket, sys; s = socket.create_server((sys.argv[1], 0)); print(s.getsockname()[1], flush=True)\n"
          "held = []\nwhile True: c = s.accept()[0]; held.append(c) if sys.argv[2] == 'hold' else c.close()")


def listen(namespace: Namespace, address: str, hold: bool = False) -> int:
    """A listener inside ``namespace`` on ``address`` (with ``hold``, silent on every connection it keeps); its port."""
    process = namespace.spawn(sys.executable, "-c", LISTEN, address, "hold" if hold else "close")
    assert process.stdout is not None
    return int(process.stdout.readline())


def job_to(tmp_path: Path, address: str, port: int) -> list[Job]:
    return jobs_for(tmp_path, f"version: 1\nhosts: {{h: {{address: {address}}}}}\n"
                              f"rules: [{{id: one, from: internet, to: h, port: {port}, expect: required}}]\n")


@pytest.fixture
def zone() -> Iterator[Namespace]:
    """A namespace with the sshd's and the target's addresses on its loopback."""
    require_netns()
    with Namespace() as namespace:
        namespace.add_address(f"{SSHD_ADDRESS}/32")
        namespace.add_address(f"{TARGET}/32")
        yield namespace


def probed_from(where: str, job: Job, zone: Namespace) -> tuple[ProcessProber, PortState, str | None]:
    """Run ``job`` from ``where``; its state and source address; the prober is closed and gone from ``zone``."""
    prober, outcomes = run([job], where, name="vantage agent")
    try:
        [result] = outcomes.wait(job).results
        pid = int(prober.facts["pid"])
        assert pid in zone.pids()  # it runs inside the namespace
    finally:
        prober.close()
    assert pid not in zone.pids()
    return prober, result.state, result.source


def test_netns_vantage_dials_from_inside_its_namespace(tmp_path: Path, zone: Namespace) -> None:
    [job] = job_to(tmp_path, TARGET, listen(zone, TARGET))
    prober, state, source = probed_from(f"popen//python=ip netns exec {zone.name} {sys.executable} -I -S", job, zone)
    assert state is PortState.OPEN
    assert source is not None and source.startswith("198.18.201.")
    assert prober.facts["python"] == ".".join(map(str, sys.version_info[:3]))


def test_netns_vantage_that_does_not_exist(tmp_path: Path) -> None:
    require_netns()
    jobs = job_to(tmp_path, TARGET, 80)  # never dialled: the vantage does not start
    where = f"popen//python=ip netns exec apt-no-such-namespace {sys.executable}"
    stopped_with(*run(jobs, where, name="vantage agent"), jobs[0],
                 rf"^the vantage agent \({where}\) did not start: no Python answered")


@pytest.fixture
def sshd(tmp_path: Path, zone: Namespace) -> Sshd:
    require_sshd()
    return Sshd(zone, SSHD_ADDRESS, tmp_path / "sshd", keypair(tmp_path / "client_key"))


def ssh_vantage(tmp_path: Path, sshd: Sshd, key: Path, known: str | None = None, port: int = 22) -> str:
    """WHERE for ``sshd`` with client ``key``: the test's own ssh config (``ssh_config=``) and known_hosts."""
    config = client_config(tmp_path, {"vantage": [f"IdentityFile {key}", sshd.reach(port)]},
                           sshd.known_host("vantage") if known is None else known)
    return f"ssh=vantage//ssh_config={config}//python=python3 -I -S"


def test_ssh_vantage_probes_from_where_sshd_is(tmp_path: Path, zone: Namespace, sshd: Sshd) -> None:
    [job] = job_to(tmp_path, TARGET, listen(zone, TARGET))
    prober, state, source = probed_from(ssh_vantage(tmp_path, sshd, tmp_path / "client_key"), job, zone)
    assert state is PortState.OPEN
    assert source is not None and source.startswith("198.18.201.")
    assert prober.facts["hostname"] and prober.facts["python"]


@pytest.mark.parametrize(("case", "cause"), [
    ("wrong-key", r"Permission denied \(publickey\)"),
    ("unknown-host-key", r"Host key verification failed"),
    ("no-sshd", r"Connection closed"),  # socat, inside the namespace, finds nothing on the port: ssh sees it close
])
def test_ssh_vantage_that_cannot_log_in_ends_its_checks(tmp_path: Path, zone: Namespace, sshd: Sshd, case: str,
                                                       cause: str) -> None:
    """BatchMode: no prompt for a password, a passphrase or a new host key; what ssh said is the line."""
    key = keypair(tmp_path / "other_key") if case == "wrong-key" else tmp_path / "client_key"
    where = ssh_vantage(tmp_path, sshd, key, known="" if case == "unknown-host-key" else None,
                        port=2222 if case == "no-sshd" else 22)
    jobs = job_to(tmp_path, TARGET, listen(zone, TARGET))
    stopped_with(*run(jobs, where, name="vantage agent"), jobs[0], rf"^the vantage agent \(ssh=vantage//.*\) did not start: .*{cause}")


@pytest.fixture
def locked_key(tmp_path: Path, sshd: Sshd, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """A key with a passphrase (the sshd's only authorized key) and the file an askpass program makes when run.

    ssh would run that program for the passphrase without BatchMode (``SSH_ASKPASS_REQUIRE=force``).
    """
    locked = tmp_path / "locked_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "passphrase", "-f", str(locked)], check=True)
    (sshd.folder / "authorized_keys").write_text(locked.with_suffix(".pub").read_text())
    asked, askpass = tmp_path / "asked", tmp_path / "askpass"
    askpass.write_text(f"#!/bin/sh\ntouch {asked}\necho passphrase\n")
    askpass.chmod(0o755)
    monkeypatch.setenv("SSH_ASKPASS", str(askpass))
    monkeypatch.setenv("SSH_ASKPASS_REQUIRE", "force")
    return locked, asked


def test_ssh_vantage_never_asks_for_a_passphrase(tmp_path: Path, zone: Namespace, sshd: Sshd,
                                                 locked_key: tuple[Path, Path]) -> None:
    locked, asked = locked_key
    jobs = job_to(tmp_path, TARGET, listen(zone, TARGET))
    stopped_with(*run(jobs, ssh_vantage(tmp_path, sshd, locked), name="vantage agent"), jobs[0],
                 r"did not start: .*Permission denied \(publickey\)")
    assert not asked.exists()


@pytest.mark.parametrize(("fixture", "cause"), [("refused_port", "Connection refused"),
                                              ("filtered_port", "Connection timed out")], ids=["refused", "unreachable"])
def test_ssh_vantage_refused_or_unreachable(tmp_path: Path, request: pytest.FixtureRequest, fixture: str, cause: str) -> None:
    """No root needed: ssh to a loopback port that refuses, or that drops (ConnectTimeout from the timeout, 1 s)."""
    if shutil.which("ssh") is None:
        pytest.skip("needs ssh (Debian package openssh-client)")
    port = request.getfixturevalue(fixture)
    jobs = job_to(tmp_path, "127.0.0.1", port)
    where = f"ssh=-p {port} 127.0.0.1//python=python3"
    prober, outcomes = run(jobs, where, name="vantage agent")
    assert outcomes.settle(jobs[0].key, time.monotonic() + 60)  # without ConnectTimeout: the kernel's 2 minutes
    stopped_with(prober, outcomes, jobs[0],
                 rf"^the vantage agent \({where}\) did not start: ssh: connect to host 127.0.0.1 port {port}: {cause}$")


def jump_to_inner(tmp_path: Path, zone: Namespace, sshd: Sshd, inner: Namespace, jump_key: Path,
                  option: bool = False) -> tuple[str, Job]:
    """WHERE for an sshd in ``inner``, reachable only through ``sshd`` (ProxyJump), and a job to a listener there.

    The jump is the config's ``ProxyJump``, or with ``option`` WHERE's ``ssh=-J jump ...``. The config sets
    no BatchMode: keeping the jump from prompting is the vantage's job.
    """
    zone.link(inner, "198.18.202.1/24", "198.18.202.2/24")
    target = Sshd(inner, "198.18.202.2", tmp_path / "inner-sshd", tmp_path / "client_key")
    [job] = job_to(tmp_path, "198.18.202.2", listen(inner, "198.18.202.2"))
    alias = "198.18.202.2" if option else "inner"
    config = client_config(tmp_path, {"jump": [f"IdentityFile {jump_key}", sshd.reach()],
                                      alias: [f"IdentityFile {tmp_path / 'client_key'}", "HostName 198.18.202.2",
                                              *([] if option else ["ProxyJump jump"])]},
                           sshd.known_host("jump") + target.known_host(alias))
    host = "-J jump 198.18.202.2" if option else "inner"
    return f"ssh={host}//ssh_config={config}//python=python3 -I -S", job


@pytest.mark.parametrize("option", [False, True], ids=["ProxyJump", "-J"])
def test_ssh_vantage_through_a_jump_host(tmp_path: Path, zone: Namespace, sshd: Sshd, option: bool) -> None:
    """ProxyJump (the ssh config's, or -J in WHERE): the target's sshd is reachable only from the jump host's namespace."""
    with Namespace() as inner:
        where, job = jump_to_inner(tmp_path, zone, sshd, inner, tmp_path / "client_key", option)
        prober, state, source = probed_from(where, job, inner)
    assert state is PortState.OPEN and source is not None and source.startswith("198.18.202.2:")


def test_ssh_vantage_jump_host_never_asks_either(tmp_path: Path, zone: Namespace, sshd: Sshd,
                                                 locked_key: tuple[Path, Path]) -> None:
    """ssh runs the jump's ssh with -F but not -o: BatchMode reaches it through the vantage's config file."""
    locked, asked = locked_key
    with Namespace() as inner:
        where, job = jump_to_inner(tmp_path, zone, sshd, inner, locked)
        stopped_with(*run([job], where, name="vantage agent"), job, r"^the vantage agent \(ssh=inner//.*\) did not start: ")
    assert not asked.exists()


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL], ids=["ctrl-c", "sigterm", "sigkill"])
def test_plugin_interrupted_leaves_nothing_on_the_ssh_vantage(pytester: pytest.Pytester, tmp_path: Path, zone: Namespace,
                                                               sshd: Sshd, signum: int) -> None:
    """A run whose ssh probe waits on a silent port is interrupted: the prober behind sshd is gone too.

    Even after a SIGKILL of pytest (nothing closes anything): ssh dies with it, sshd ends the session, the
    prober's channel ends.
    """
    port = listen(zone, TARGET, hold=True)
    spec = pytester.makefile(".yaml", spec=f"version: 1\nhosts: {{h: {{address: {TARGET}}}}}\nrules: [{{id: one, "
                                          f"from: internet, to: h, port: {port}, expect: required, probe: ssh}}]\n")
    where = ssh_vantage(tmp_path, sshd, tmp_path / "client_key")
    with subprocess.Popen([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--activate-spec", str(spec),
                           f"--activate-vantage=internet={where}", "--activate-timeout", "60"],
                          cwd=pytester.path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) as run_:
        try:
            # mid-run: the ssh probe's connection is open (waiting for a banner that never comes)
            wait_until(lambda: f"{TARGET}:{port}" in zone.run("ss", "-Htn").stdout, within=60)
            [remote] = [pid for pid in zone.pids() if is_gateway(pid)]
            run_.send_signal(signum)
            output, _ = run_.communicate(timeout=60)
            assert gone(remote), output
            assert "KeyboardInterrupt" in output or signum == signal.SIGKILL, output
        finally:
            run_.kill()
