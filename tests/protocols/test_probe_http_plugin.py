"""The HTTP-family probes end to end through the plugin: a spec, pytest, real servers, verdicts."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme
import yaml

from pytest_activate_ports.emulate.http_services import (
    serve_http,
    serve_redirect,
    serve_vault,
    serve_websocket,
)

from ..probe_harness import LOOPBACK, BackgroundLoop, serve_banner
from .http_servers import Nginx


@pytest.fixture
def background() -> Iterator[BackgroundLoop]:
    with BackgroundLoop() as loop:
        yield loop


@pytest.fixture
def server_tls(localhost_cert: trustme.LeafCert) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    localhost_cert.configure_cert(context)
    return context


def write_spec(pytester: pytest.Pytester, ca: trustme.CA, rules: dict[str, tuple[int, str, int]]) -> Path:
    """One host per rule (``id: (spec port, probe, dialled port)``), all on loopback, trusting the test CA."""
    ca.cert_pem.write_to_path(str(pytester.path / "ca.pem"))
    spec = {
        "version": 1,
        "tls": {"ca": "ca.pem"},
        "hosts": {rule: {"address": LOOPBACK, "roles": [rule], "port_map": {port: dial}} for rule, (port, _, dial) in rules.items()},
        "rules": [{"id": rule, "from": "internet", "to": rule, "port": port, "expect": "required", "probe": kind}
                  for rule, (port, kind, _) in rules.items()],
    }
    path = pytester.path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def run(pytester: pytest.Pytester, spec: Path) -> pytest.RunResult:
    return pytester.runpytest("--activate-spec", str(spec), "--activate-role", "internet", "--activate-timeout", "2", "-v")


def test_plugin_http_family_healthy_deployment_passes(pytester: pytest.Pytester, ca: trustme.CA, http_nginx: Nginx,
                                                      background: BackgroundLoop, server_tls: ssl.SSLContext) -> None:
    rules = {
        "redirect": (80, "http-redirect", http_nginx.ports["redirect"]),
        "tunnel": (443, "wss", background.serve(lambda: serve_websocket(LOOPBACK, 0, ssl=server_tls, token="t0ken"))),
        "vault": (8200, "vault", background.serve(lambda: serve_vault(LOOPBACK, 0, state="standby"))),
        "cacher": (3000, "http", background.serve(lambda: serve_http(LOOPBACK, 0, status=404))),
    }
    if "smtp" in http_nginx.ports:
        rules["mail"] = (587, "smtp-starttls", http_nginx.ports["smtp"])
    result = run(pytester, write_spec(pytester, ca, rules))
    result.assert_outcomes(passed=len(rules))
    result.stdout.fnmatch_lines(["*spec.yaml::vault[[]vault:8200[]] PASSED*"])


def test_plugin_http_family_broken_deployment_fails_with_what_was_seen(
        pytester: pytest.Pytester, ca: trustme.CA, http_nginx: Nginx, background: BackgroundLoop,
        server_tls: ssl.SSLContext) -> None:
    rules = {
        "redirect": (80, "http-redirect", background.serve(lambda: serve_redirect(LOOPBACK, 0, mode="http"))),
        "tunnel": (443, "wss", background.serve(lambda: serve_websocket(LOOPBACK, 0, ssl=server_tls, broken="plain-200"))),
        "vault": (8200, "vault", background.serve(lambda: serve_vault(LOOPBACK, 0, state="sealed"))),
        "cacher": (3000, "http", background.serve(lambda: serve_banner(b"SSH-2.0-OpenSSH_9.2p1\r\n"))),
    }
    if "smtp_plain" in http_nginx.ports:
        rules["mail"] = (587, "smtp-starttls", http_nginx.ports["smtp_plain"])
    result = run(pytester, write_spec(pytester, ca, rules))
    result.assert_outcomes(failed=len(rules))
    result.stdout.fnmatch_lines_random([
        "*redirect:80 via * is open but the http-redirect check failed after * ms: GET / answered 301 Location 'http://127.0.0.1/', which does not go to https://*",
        "*tunnel:443 via * is open but the wss check failed after * ms: upgrade of /ws/ssh/tunnel answered HTTP/1.1 200 OK, expected 101 Switching Protocols*",
        "*vault:8200 via * is open but the vault check failed after * ms: Vault 1.15.6 is sealed (503); unseal it*",
        "*cacher:3000 via * is open but the http check failed after * ms: GET /: not an HTTP response: 'SSH-2.0-OpenSSH_9.2p1'*",
        *(["*mail:587 via * is open but the smtp-starttls check failed*EHLO offers no STARTTLS (extensions: none)"]
          if "mail" in rules else []),
    ])
