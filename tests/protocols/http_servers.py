"""Real servers for the HTTP-family probe tests (nginx for HTTP, WebSocket proxying and SMTP STARTTLS).

nginx (Debian) is started once per session as root on high loopback ports
with a temporary configuration and stopped by PID; every server block the
tests need lives in that one configuration so the suite pays one start-up.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from ..probe_harness import LOOPBACK, free_port

MAIL_MODULE = Path("/usr/lib/nginx/modules/ngx_mail_module.so")


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
    }}
    server {{ listen {LOOPBACK}:{ports['ws_auth']} ssl; {ssl}
        location /ws/ {{ return 403; }}
        location / {{ return 404; }}
    }}
    server {{ listen {LOOPBACK}:{ports['deny_all']} ssl; {ssl} location / {{ return 403; }} }}"""
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
    names = ("redirect", "plain", "tls", "ws_auth", "deny_all") + (("smtp", "smtp_plain", "smtp_untrusted") if MAIL_MODULE.exists() else ())
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
