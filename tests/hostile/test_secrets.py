"""Secrets never leave the run: not in the terminal, the JUnit file or the evidence JSON.

The run carries three kinds of secret: a bearer token from ``${API_TOKEN}``
sent by a ``wss`` probe, a host address from a variable named like a
password, and the mTLS client key. The WebSocket server is hostile in the most
direct way: it echoes the token back in its status line and ``Server`` header,
so the token reaches every failure message unless redaction removes it.
"""

from __future__ import annotations

import asyncio
import secrets
import socket
from pathlib import Path

import pytest

from pytest_activate_ports.emulate.http_services import parse_request
from pytest_activate_ports.emulate.tls import serve_tls

from . import servers, tls_servers
from .conftest import ServerCerts, tls_endpoint
from .inner import TlsFiles, run_inner
from .servers import ServerLoop

SECRET_ADDRESS = "127.42.13.7"  # loopback (all of 127/8 is local on Linux) and found nowhere else in the output


@pytest.fixture(autouse=True)
def _secret_address_is_local() -> None:
    """Skip cleanly where 127.0.0.0/8 is not all local (it is on Linux; not on some BSD/macOS setups)."""
    with socket.socket() as probe:
        try:
            probe.bind((SECRET_ADDRESS, 0))
        except OSError:
            pytest.skip(f"{SECRET_ADDRESS} is not a local address on this system")


def echoing(seen: list[str]) -> servers.Handler:
    """Answer every request 403 with its Authorization header in the reason phrase and in ``Server``."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request = parse_request((await reader.readuntil(b"\r\n\r\n"))[:-4])
        credential = request.headers.get("authorization", "")
        seen.append(credential)
        writer.write(f"HTTP/1.1 403 Forbidden for {credential}\r\nServer: echo {credential}\r\n"
                     "Content-Length: 0\r\n\r\n".encode())
        await writer.drain()

    return handle


def spec(files: TlsFiles, web: int, mtls: int, db: int) -> str:
    return f"""\
version: 1
tls: {{ca: {files.ca}, client_cert: {files.client_cert}, client_key: {files.client_key}}}
hosts:
  web: {{address: 127.0.0.1, roles: [web], port_map: {{443: {web}, 8443: {mtls}}}}}
  db: {{address: "${{DB_PASSWORD}}", roles: [db]}}
rules:
  - id: tunnel
    from: internet
    to: web
    port: 443
    expect: required
    probe: {{kind: wss, headers: {{Authorization: "Bearer ${{API_TOKEN}}"}}}}
  - {{id: cac, from: internet, to: web, port: 8443, expect: required, probe: mtls}}
  - {{id: db-open, from: internet, to: db, port: {db}, expect: required}}
  - {{id: db-closed, from: internet, to: db, port: {mtls}, expect: required}}
"""


def pem_body(path: Path) -> list[str]:
    """The base64 lines of a PEM file (what would leak if key material were ever printed)."""
    return [line for line in path.read_text().splitlines() if line and not line.startswith("-----")]


def test_secrets_appear_in_no_output(server_loop: ServerLoop, hostile_tls: tuple[TlsFiles, ServerCerts],
                                     tmp_path: Path) -> None:
    files, certs = hostile_tls
    seen: list[str] = []
    web = server_loop.adopt(serve_tls("127.0.0.1", 0, tls_servers.server_context(*certs.trusted), echoing(seen)))
    mtls = tls_endpoint(server_loop, certs.trusted, files.ca).mtls_port
    assert mtls is not None
    db = server_loop.serve(servers.speak(b""), host=SECRET_ADDRESS)
    token = f"tok-{secrets.token_hex(16)}"
    run = run_inner(tmp_path, spec(files, web, mtls, db), "-v", "--tb=long", "--junitxml=junit.xml",
                    "-o", "junit_family=xunit1", env={"API_TOKEN": token, "DB_PASSWORD": SECRET_ADDRESS}, timeout=5)

    assert seen == [f"Bearer {token}"], "the token never reached the server: the test would prove nothing"
    assert {rule: cell.outcome for rule, cell in run.cells.items()} == {
        "tunnel": "failed", "cac": "passed", "db-open": "passed", "db-closed": "failed"}, run.output
    outputs = {"terminal": run.output, "junit": (tmp_path / "junit.xml").read_text(),
               "evidence": (tmp_path / "evidence.json").read_text()}
    assert "[redacted]" in outputs["terminal"] and "[redacted]" in outputs["evidence"]
    for secret in (token, SECRET_ADDRESS, *pem_body(files.client_key)):
        for name, text in outputs.items():
            assert secret not in text, f"{secret[:12]}... appears in the {name} output"


def test_secret_address_stays_out_of_an_error_traceback_with_showlocals(tmp_path: Path) -> None:
    address = f"backup-{secrets.token_hex(8)}.invalid"
    unresolvable = """\
version: 1
hosts:
  backup: {address: "${BACKUP_PASSWORD}", roles: [db]}
rules:
  - {id: backup-closed, from: internet, to: backup, port: 5432, expect: forbidden}
"""
    run = run_inner(tmp_path, unresolvable, "--showlocals", "--junitxml=junit.xml", "-o", "junit_family=xunit1",
                    env={"BACKUP_PASSWORD": address})
    assert run.cells["backup-closed"].outcome == "error"
    assert address not in run.output
    assert address not in (tmp_path / "junit.xml").read_text()
