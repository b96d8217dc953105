"""The namespace lab: the guide's hub-and-spoke network in network namespaces, addresses in 198.18.0.0/15.

A hub namespace routes between one namespace per place of the guide (the
internet, the control plane's load balancer, the control plane inside, a
workspace, storage) and bridges the cloud cluster's controller and compute
node onto one segment, as a cluster network is. nftables at the hub is the
firewall the guide implies: from the internet only 80/443/8443 reach the load
balancer (its other ports are dropped, every internal zone rejects with a TCP
reset); agents reach 443 only; the control plane reaches everything.

Services are this package's responders (``activate-ports emulate --serve``)
started inside each namespace, plus Debian's sshd on the cluster controller.
Everything started is stopped by process group id and every namespace is
deleted in :meth:`Lab.close`, which a fixture finalizer always calls.
"""

from __future__ import annotations

import asyncio
import os
import pwd
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from pytest_activate_ports.emulate import deployment
from pytest_activate_ports.emulate.pytest_run import PytestRun, run_pytest
from tests.protocols.daemons import Daemon, version_of, workdir

HUB = "hub"


@dataclass(frozen=True)
class Zone:
    """A namespace on the hub: its address, the spec's hosts it carries, and the vantages run from it."""

    name: str
    address: str
    hosts: dict[str, str] = field(default_factory=dict)  # spec host -> extra address on this namespace
    vantages: tuple[str, ...] = ()

    @property
    def gateway(self) -> str:
        return self.address.rsplit(".", 1)[0] + ".1"

    @property
    def bridged(self) -> bool:
        return self.address.startswith("198.18.3.")


SERVICE_ADDRESSES = {"postgres": 11, "mongodb": 12, "rabbitmq": 13, "vault": 14, "cloud-cacher": 15,
                     "legacy-api": 16, "internal-api": 17}
ZONES = (
    Zone("inet", "198.18.0.2", vantages=("internet",)),
    Zone("lb", "198.18.1.2", {"lb": "198.18.1.2"}),
    Zone("cp", "198.18.2.2", {name: f"198.18.2.{n}" for name, n in SERVICE_ADDRESSES.items()}, ("control-plane-internal",)),
    Zone("ctl", "198.18.3.2", {"slurm-controller": "198.18.3.2"}, ("cluster-controller",)),
    Zone("node", "198.18.3.3", {"slurm-node": "198.18.3.3"}, ("cluster-node", "agent")),
    Zone("ws", "198.18.4.2", {"workspace": "198.18.4.2"}, ("workspace",)),
    Zone("st", "198.18.5.2", {"nfs": "198.18.5.2"}),
)
ADDRESSES = {host: address for zone in ZONES for host, address in zone.hosts.items()}
LAB_MISCONFIGURATIONS = ("postgres-on-lb", "mtls-not-enforced", "http-200", "ssh-closed")
"""The lab's mistakes, named as the emulated deployment names them (so the same items must fail); the
first is made the way it happens in a cluster: the firewall and the LB forward 5432 to the database."""

FIREWALL = """
table inet lab {
  chain forward {
    type filter hook forward priority filter; policy drop;
    ct state established,related accept
    ip saddr 198.18.3.0/24 ip daddr 198.18.3.0/24 accept
    iifname "h-inet" ip daddr 198.18.1.2 tcp dport { 80, 443, 8443 } accept
    %(exposed)s
    iifname "h-inet" ip daddr 198.18.1.2 drop
    iifname "h-inet" meta l4proto tcp reject with tcp reset
    iifname "h-cp" accept
    iifname "h-lb" ip daddr 198.18.2.0/24 accept
    ip saddr 198.18.3.0/24 ip daddr 198.18.1.2 tcp dport 443 accept
    ip saddr 198.18.3.0/24 ip daddr 198.18.4.2 tcp dport 3004 accept
    iifname "h-ws" ip daddr 198.18.3.2 tcp dport 22 accept
  }
}
"""
LB_FORWARDS_POSTGRES = """
table ip lab {
  chain prerouting { type nat hook prerouting priority dstnat; tcp dport 5432 dnat to 198.18.2.11; }
  chain postrouting { type nat hook postrouting priority srcnat; ip daddr 198.18.2.11 tcp dport 5432 masquerade; }
}
"""


class LabError(Exception):
    """The lab could not be built here; the message is the skip or failure reason."""


class Lab:
    """One lab instance; namespaces are named ``apl<pid>-<zone>`` so parallel runs cannot collide."""

    def __init__(self) -> None:
        self.folder = workdir("lab")  # enterable by sshd's user; removed by close()
        self.prefix = f"apl{os.getpid()}"
        self.namespaces: list[str] = []
        self.processes = Daemon("lab", "", 0, self.folder)
        self.spec = self.folder / "lab.yaml"
        self.sshd = shutil.which("/usr/sbin/sshd") is not None and shutil.which("ssh-keygen") is not None
        self.sshd_version = ""

    def ns(self, zone: str) -> str:
        return f"{self.prefix}-{zone}"

    def run(self, *command: str, stdin: str | None = None) -> None:
        done = subprocess.run(command, input=stdin, capture_output=True, text=True, timeout=30, check=False)
        if done.returncode:
            raise LabError(f"{' '.join(command)}: {(done.stderr or done.stdout).strip()}")

    def build(self, misconfigured: bool) -> None:
        """Namespaces, links, addresses, routes and firewall; then certificates and the spec."""
        for name in (HUB, *(z.name for z in ZONES)):
            self.run("ip", "netns", "add", self.ns(name))
            self.namespaces.append(self.ns(name))
            self.run("ip", "-n", self.ns(name), "link", "set", "lo", "up")
        hub = self.ns(HUB)
        self.run("ip", "netns", "exec", hub, "sysctl", "-qw", "net.ipv4.ip_forward=1")
        self.run("ip", "-n", hub, "link", "add", "br0", "type", "bridge")
        self.run("ip", "-n", hub, "addr", "add", "198.18.3.1/24", "dev", "br0")
        self.run("ip", "-n", hub, "link", "set", "br0", "up")
        for zone in ZONES:
            spoke, port = self.ns(zone.name), f"h-{zone.name}"
            self.run("ip", "-n", hub, "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", spoke)
            if zone.bridged:
                self.run("ip", "-n", hub, "link", "set", port, "master", "br0")
            else:
                self.run("ip", "-n", hub, "addr", "add", f"{zone.gateway}/24", "dev", port)
            self.run("ip", "-n", hub, "link", "set", port, "up")
            for address in dict.fromkeys((zone.address, *zone.hosts.values())):
                self.run("ip", "-n", spoke, "addr", "add", f"{address}/24", "dev", "eth0")
            self.run("ip", "-n", spoke, "link", "set", "eth0", "up")
            self.run("ip", "-n", spoke, "route", "add", "default", "via", zone.gateway)
        exposed = 'iifname "h-inet" ip daddr 198.18.1.2 tcp dport 5432 accept' if misconfigured else ""
        self.run("ip", "netns", "exec", hub, "nft", "-f", "-", stdin=FIREWALL % {"exposed": exposed})
        if misconfigured:
            self.run("ip", "netns", "exec", self.ns("lb"), "sysctl", "-qw", "net.ipv4.ip_forward=1")
            self.run("ip", "netns", "exec", self.ns("lb"), "nft", "-f", "-", stdin=LB_FORWARDS_POSTGRES)
        deployment.Certificates.create(self.folder, ADDRESSES.values())
        self.spec.write_text(deployment.render_spec(ADDRESSES, port_map=False), encoding="utf-8")

    def start_services(self, misconfigured: bool) -> None:
        """The responders of every zone; the controller's 22 is Debian's sshd when installed (down when that is the mistake)."""
        mistakes = [name for name in LAB_MISCONFIGURATIONS if misconfigured and name != "postgres-on-lb"]
        waiting = []
        for zone in (z for z in ZONES if set(z.hosts) & {s.host for s in deployment.SERVICES}):
            command = ["ip", "netns", "exec", self.ns(zone.name), sys.executable, "-m", "pytest_activate_ports.emulate",
                       "--serve", "--spec", str(self.spec), "--certs", str(self.folder),
                       *(["--omit=slurm-controller:22"] if self.sshd else []),
                       *(f"--host={host}" for host in zone.hosts), *(f"--misconfigure={name}" for name in mistakes)]
            waiting.append(self.spawn(zone.name, command))
        if self.sshd and not misconfigured:
            waiting.append(self.start_sshd())
        for log, text in waiting:
            self.wait_for(log, text)

    def spawn(self, name: str, command: Sequence[str]) -> tuple[Path, str]:
        log = self.folder / f"{name}.log"
        with open(log, "ab") as out:
            self.processes.processes.append(subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                cwd=self.folder, env={**os.environ, "ACTIVATE_EMULATION_DIR": str(self.folder)}))
        return log, "ready"

    def start_sshd(self) -> tuple[Path, str]:
        """OpenSSH on the controller's port 22, as ``nobody`` (the namespace lets it bind port 22)."""
        sshd = "/usr/sbin/sshd"
        self.sshd_version = version_of([sshd, "-V"])
        home = self.folder / "sshd"
        home.mkdir(mode=0o755)
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(home / "host_key")], check=True)
        nobody = pwd.getpwnam("nobody")
        for path in (home, home / "host_key", home / "host_key.pub"):
            os.chown(path, nobody.pw_uid, nobody.pw_gid)
        (home / "sshd_config").write_text(f"ListenAddress 198.18.3.2\nPort 22\nHostKey {home / 'host_key'}\n"
                                          "PidFile none\nUsePAM no\nPasswordAuthentication no\n")
        ctl = self.ns("ctl")
        self.run("ip", "netns", "exec", ctl, "sysctl", "-qw", "net.ipv4.ip_unprivileged_port_start=0")
        return self.spawn("sshd", ["ip", "netns", "exec", ctl, "setpriv", f"--reuid={nobody.pw_uid}",
                                   f"--regid={nobody.pw_gid}", "--clear-groups", sshd, "-D", "-e", "-f", str(home / "sshd_config")])[0], \
            "Server listening on 198.18.3.2 port 22"

    def wait_for(self, log: Path, text: str, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while text not in log.read_text(errors="replace"):
            if time.monotonic() > deadline or any(p.poll() is not None for p in self.processes.processes):
                raise LabError(f"{log.stem} did not start: {log.read_text(errors='replace')[-1500:]}")
            time.sleep(0.05)

    def vantages(self) -> dict[str, str]:
        """Each vantage role's WHERE: a prober inside its zone's namespace (``ip netns exec``), none in pytest's own."""
        return {role: f"popen//python=ip netns exec {self.ns(zone.name)} {sys.executable}"
                for zone in ZONES for role in zone.vantages}

    def probe_from_every_vantage(self, label: str) -> PytestRun:
        """One pytest run (outside every namespace, dialling nothing itself) with each vantage's prober in its zone."""
        return asyncio.run(run_pytest(self.spec, self.vantages(), label=label, env={"ACTIVATE_EMULATION_DIR": str(self.folder)},
                                      extra=("-q", "--activate-timeout", "2")))

    def close(self) -> None:
        """Stop every process by its group id, delete every namespace, remove the folder; verify nothing is left."""
        try:
            self.processes.stop()
        finally:
            for namespace in reversed(self.namespaces):
                subprocess.run(["ip", "netns", "del", namespace], capture_output=True, check=False)
        listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=False).stdout
        left = [ns for ns in self.namespaces if ns in listed.split()]
        if left:
            raise LabError(f"namespaces left behind: {', '.join(left)}")


def unavailable() -> str | None:
    """Why the lab cannot run here, or None."""
    if os.geteuid() != 0:
        return "the namespace lab needs root (ip netns, veth, bridge, nftables)"
    for program, package in (("ip", "iproute2"), ("nft", "nftables"), ("setpriv", "util-linux")):
        if shutil.which(program) is None:
            return f"{program} is not installed (Debian package {package}, listed in .ci/packages-lab.txt)"
    probe = f"apl{os.getpid()}-probe"
    made = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True, check=False)
    if made.returncode:
        return f"network namespaces are not available here: {made.stderr.strip()}"
    subprocess.run(["ip", "netns", "del", probe], capture_output=True, check=False)
    return None
