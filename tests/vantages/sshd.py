"""A real OpenSSH sshd inside a test's namespace, and the ssh client configuration that reaches it.

sshd runs as root (a login needs it; the namespace lab's sshd, as nobody,
only greets) with its own host key, the test's client key as the only
authorized key, and no PAM. Its privilege-separation directory ``/run/sshd``
is made on a tmpfs in a mount namespace of its own, so nothing on the
machine changes. The client never dials a 198.18.x address from this
machine's namespace: its ``ProxyCommand`` runs socat inside the sshd's
namespace (the user's ssh configuration, honoured, is what makes that work).
"""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import pytest

from ..netns import Namespace, require_netns

SSHD = "/usr/sbin/sshd"


def require_sshd() -> None:
    """Skip unless root with namespaces, OpenSSH's sshd, ssh, ssh-keygen and socat are here."""
    require_netns()
    for program, package in ((SSHD, "openssh-server"), ("ssh", "openssh-client"), ("ssh-keygen", "openssh-client"),
                             ("socat", "socat"), ("unshare", "util-linux")):
        if shutil.which(program) is None:
            pytest.skip(f"needs {program} (Debian package {package})")


def keypair(path: Path) -> Path:
    """A fresh ed25519 key without passphrase at ``path`` (made at test time; never committed)."""
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", path.name, "-f", str(path)], check=True)
    return path


class Sshd:
    """sshd listening on ``address`` port 22 inside ``namespace``; files in ``folder``."""

    def __init__(self, namespace: Namespace, address: str, folder: Path, authorized: Path) -> None:
        self.namespace, self.address, self.folder = namespace, address, folder
        folder.mkdir(parents=True, exist_ok=True)
        self.host_key = keypair(folder / "host_key")
        (folder / "authorized_keys").write_text(authorized.with_suffix(".pub").read_text())
        config = folder / "sshd_config"
        config.write_text(f"ListenAddress {address}\nPort 22\nHostKey {self.host_key}\nPidFile none\nUsePAM no\n"
                          "PasswordAuthentication no\nKbdInteractiveAuthentication no\nStrictModes no\n"
                          f"AuthorizedKeysFile {folder / 'authorized_keys'}\nPermitRootLogin prohibit-password\n")
        self.log = folder / "sshd.log"
        with open(self.log, "w") as log:
            namespace.spawn("unshare", "--mount", "--propagation", "private", "sh", "-c",
                            f"mount -t tmpfs tmpfs /run && mkdir /run/sshd && exec {SSHD} -D -e -f {config}", stdout=log)
        deadline = time.monotonic() + 20
        while f"Server listening on {address} port 22" not in self.log.read_text():
            assert time.monotonic() < deadline, f"sshd did not start: {self.log.read_text()}"
            time.sleep(0.05)

    def known_host(self, alias: str) -> str:
        """The ``known_hosts`` line for this sshd under ``alias``."""
        kind, key = self.host_key.with_suffix(".pub").read_text().split()[:2]
        return f"{alias} {kind} {key}\n"

    def reach(self, port: int = 22) -> str:
        """A ``ProxyCommand`` that connects from inside the sshd's namespace (nothing dials 198.18.x from here)."""
        return f"ProxyCommand ip netns exec {self.namespace.name} socat STDIO TCP:{self.address}:{port}"


def client_config(folder: Path, hosts: dict[str, list[str]], known_hosts: str) -> Path:
    """An ssh client configuration (``ssh_config=`` / ``-F``): one ``Host`` block per alias, the test's known_hosts."""
    (folder / "known_hosts").write_text(known_hosts)
    blocks = [f"Host {alias}\n  HostKeyAlias {alias}\n  User root\n  UserKnownHostsFile {folder / 'known_hosts'}\n"
              "  StrictHostKeyChecking yes\n  IdentitiesOnly yes\n" + "".join(f"  {line}\n" for line in lines)
              for alias, lines in hosts.items()]
    config = folder / "ssh_config"
    config.write_text("".join(blocks))
    return config
