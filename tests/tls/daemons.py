"""Real TLS servers for the integration tests: ``openssl s_server`` and nginx as CAC listeners.

Each runs as a child process on a free high loopback port, with its files in
a temporary folder, and is stopped by PID; no service manager is involved.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from ..probe_harness import LOOPBACK, free_port


@dataclass
class Daemon:
    """A running server process, the port it listens on and its log."""

    process: subprocess.Popen[bytes]
    port: int
    log: Path

    def stop(self) -> None:
        """SIGKILL: a throwaway test server has nothing to flush, and it cannot ignore this signal."""
        self.process.kill()
        self.process.wait(5)


def binary(name: str) -> str:
    """The path of ``name``, or skip the test naming the Debian package that provides it."""
    found = shutil.which(name)
    if found is None:
        pytest.skip(f"{name} is not installed (Debian package {name}, listed in .ci/packages-tls.txt)")
    return found


def launch(argv: list[str], port: int, log: Path, cwd: Path) -> Daemon:
    """Start ``argv`` and wait until ``port`` accepts; raises with the server's own words if it does not."""
    with log.open("wb") as out:
        process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, cwd=cwd)
    daemon = Daemon(process, port, log)
    deadline = time.monotonic() + 10
    while True:
        with socket.socket() as sock:
            if sock.connect_ex((LOOPBACK, port)) == 0:
                return daemon
        if process.poll() is not None or time.monotonic() > deadline:
            daemon.stop()
            raise RuntimeError(f"{argv[0]} did not start: {log.read_text(errors='replace')[-2000:]}")
        time.sleep(0.02)


def s_server(root: Path, server_pem: Path, client_ca_pem: Path, *flags: str) -> Daemon:
    """``openssl s_server -www`` presenting ``server_pem``, checking clients against ``client_ca_pem``.

    ``-CAfile`` is also the list of acceptable client CAs it sends in its
    CertificateRequest; whether it requests, requires or really verifies a
    client certificate is up to ``flags`` (``-verify 1``, ``-Verify 1``,
    ``-verify_return_error``).
    """
    port = free_port()
    argv = [binary("openssl"), "s_server", "-accept", f"{LOOPBACK}:{port}", "-cert", str(server_pem),
            "-CAfile", str(client_ca_pem), "-www", "-quiet", *flags]
    return launch(argv, port, root / f"s_server-{port}.log", root)


def nginx_cac(root: Path, server_pem: Path, client_ca_pem: Path) -> Daemon:
    """nginx with ``ssl_verify_client on``: the usual way a CAC listener is built in front of an app."""
    port = free_port()
    temp = " ".join(f"{kind}_temp_path {root / kind};" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    config = root / "nginx.conf"
    config.write_text(f"""
daemon off; master_process off; pid {root / 'nginx.pid'}; error_log {root / 'error.log'} info;
events {{ worker_connections 64; }}
http {{ access_log off; {temp}
    server {{ listen {LOOPBACK}:{port} ssl;
        ssl_certificate {server_pem}; ssl_certificate_key {server_pem};
        ssl_client_certificate {client_ca_pem}; ssl_verify_client on;
        location / {{ return 200 "CAC user $ssl_client_s_dn\\n"; }}
    }}
}}
""")
    argv = [binary("nginx"), "-c", str(config), "-p", str(root), "-e", str(root / "error.log")]
    return launch(argv, port, root / "nginx.out", root)
