"""Helpers for the HTTP-family probe tests: run a probe against a port, and real servers to run it against.

nginx (Debian) is started once per session as root on high loopback ports
with a temporary configuration and stopped by PID; every server block the
tests need lives in that one configuration so the suite pays one start-up.
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pytest_activate_ports.probes.base import MAX_READ, Connection, Probe, ProtocolResult, Target
from pytest_activate_ports.probes.registry import build
from pytest_activate_ports.spec.model import TlsConfig

MAIL_MODULE = Path("/usr/lib/nginx/modules/ngx_mail_module.so")
LOOPBACK = "127.0.0.1"


def probe(kind: str, ca: Path | None = None, **options: object) -> Probe:
    """A probe built exactly as the spec loader builds it (options validated)."""
    return build(kind, options, TlsConfig(ca=ca))


async def run_probe(probe: Probe, port: int, *, name: str = LOOPBACK, spec_port: int | None = None,
                    timeout: float = 3.0) -> ProtocolResult:
    """Connect to ``port`` on loopback and run ``probe`` as the engine would, then close everything."""
    reader, writer = await asyncio.open_connection(LOOPBACK, port, limit=MAX_READ)
    conn = Connection(Target(name, name, LOOPBACK, port, spec_port or port, timeout), reader, writer)
    try:
        return await asyncio.wait_for(probe.check(conn), timeout)
    finally:
        conn.close()
        try:
            await asyncio.wait_for(writer.wait_closed(), 1)
        except (OSError, asyncio.TimeoutError):
            pass  # a reset peer, or a transport replaced by an aborted TLS upgrade


async def probe_against(server: Awaitable[asyncio.Server], probe: Probe, **where: Any) -> ProtocolResult:
    """Start ``server`` (listening on port 0), run ``probe`` against it once, stop it."""
    async with await server as running:
        return await run_probe(probe, port_of(running), **where)


def free_port() -> int:
    """A loopback port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


async def serve_banner(banner: bytes) -> asyncio.Server:
    """A wrong service: writes ``banner`` on connect, reads one chunk, closes (like sshd on a bad ident)."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(banner)
        try:
            await asyncio.wait_for(reader.read(1024), 2)
        except (asyncio.TimeoutError, OSError):
            pass
        writer.close()

    return await asyncio.start_server(handle, LOOPBACK, 0)


def port_of(server: asyncio.Server) -> int:
    """The port a server started on port 0 listens on."""
    return int(server.sockets[0].getsockname()[1])


class BackgroundLoop:
    """An event loop in a thread, serving while a synchronous pytester run probes it."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._servers: list[asyncio.Server] = []

    def __enter__(self) -> BackgroundLoop:
        self._thread.start()
        return self

    def serve(self, start: Callable[[], Awaitable[asyncio.Server]]) -> int:
        """Run ``start()`` (which starts a server on port 0) on the loop; returns the port."""

        async def started() -> asyncio.Server:
            return await start()

        server = asyncio.run_coroutine_threadsafe(started(), self.loop).result(5)
        self._servers.append(server)
        return port_of(server)

    def __exit__(self, *exc: object) -> None:
        async def shutdown() -> None:
            for server in self._servers:
                server.close()
                await server.wait_closed()

        asyncio.run_coroutine_threadsafe(shutdown(), self.loop).result(5)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)
        self.loop.close()


@dataclass
class Nginx:
    """A running nginx: its named ports, its version and the backend port it proxies WebSockets to."""

    process: subprocess.Popen[bytes]
    ports: Mapping[str, int]
    version: str
    ws_backend: int
    error_log: Path

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)


def nginx_config(root: Path, cert: Path, untrusted_cert: Path, ports: Mapping[str, int], ws_backend: int) -> str:
    """One configuration with every server block the tests use, all on loopback."""
    ssl = f"ssl_certificate {cert}; ssl_certificate_key {cert};"
    http_blocks = f"""
    server {{ listen {LOOPBACK}:{ports['redirect']}; return 301 https://$host$request_uri; }}
    server {{ listen {LOOPBACK}:{ports['plain']}; location / {{ return 200 "plain page\\n"; }} }}
    server {{ listen {LOOPBACK}:{ports['tls']} ssl; {ssl}
        location = /ws/ssh/tunnel {{
            proxy_pass http://{LOOPBACK}:{ws_backend};
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection "upgrade";
            proxy_set_header Host $host;
        }}
        location = /plain {{ return 200 "platform UI\\n"; }}
        location / {{ return 404; }}
    }}"""
    mail_blocks = f"""
    server {{ listen {LOOPBACK}:{ports['smtp']}; protocol smtp; smtp_auth none; starttls on; {ssl} }}
    server {{ listen {LOOPBACK}:{ports['smtp_plain']}; protocol smtp; smtp_auth none; starttls off; }}
    server {{ listen {LOOPBACK}:{ports['smtp_untrusted']}; protocol smtp; smtp_auth none; starttls on;
        ssl_certificate {untrusted_cert}; ssl_certificate_key {untrusted_cert}; }}"""
    temp = " ".join(f"{kind}_temp_path {root / kind};" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    mail = f"""load_module {MAIL_MODULE};
mail {{ server_name mail.activate.test; auth_http {LOOPBACK}:9/auth; {mail_blocks} }}""" if "smtp" in ports else ""
    return f"""{mail}
daemon off; master_process off; pid {root / 'nginx.pid'}; error_log {root / 'error.log'} info;
events {{ worker_connections 128; }}
http {{ access_log off; {temp} {http_blocks} }}
"""


def start_nginx(root: Path, cert: Path, untrusted_cert: Path) -> Nginx:
    """Start nginx on fresh high ports; raises RuntimeError with nginx's own words if it fails."""
    binary = shutil.which("nginx")
    assert binary is not None
    names = ("redirect", "plain", "tls") + (("smtp", "smtp_plain", "smtp_untrusted") if MAIL_MODULE.exists() else ())
    ports = {name: free_port() for name in names}
    ws_backend = free_port()
    config = root / "nginx.conf"
    config.write_text(nginx_config(root, cert, untrusted_cert, ports, ws_backend))
    version = subprocess.run([binary, "-v"], capture_output=True, text=True, check=True).stderr.strip()
    process = subprocess.Popen([binary, "-c", str(config), "-p", str(root), "-e", str(root / "error.log")],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    server = Nginx(process, ports, version, ws_backend, root / "error.log")
    deadline = time.monotonic() + 10
    waiting = set(ports.values())
    while waiting:
        if process.poll() is not None or time.monotonic() > deadline:
            server.stop()
            raise RuntimeError(f"nginx did not start: {(root / 'error.log').read_text()[-2000:]}")
        for port in list(waiting):
            with socket.socket() as sock:
                if sock.connect_ex((LOOPBACK, port)) == 0:
                    waiting.discard(port)
        time.sleep(0.02)
    return server
