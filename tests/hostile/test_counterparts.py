"""Must-pass counterparts: the same server shapes, well behaved, pass through the same plugin path.

Each hostile fixture is a factory from :mod:`.servers` fed hostile bytes or
timing; here the same factory gets a correct answer, so "every probe failed
against the tarpit" cannot come from a server (or a spec, or a port map)
that never worked. Two checks also prove the hostile servers do what their
docstrings say: the stall really sends a genuine ServerHello and then nothing,
and the endless servers really stream far more than any read limit.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import struct
import time
from typing import Callable

import pytest

from pytest_activate_ports.emulate.http_services import response
from pytest_activate_ports.emulate.mysql import greeting, packet
from pytest_activate_ports.emulate.postgres import PASSWORD_REQUEST
from pytest_activate_ports.prober.probes.base import MAX_READ

from . import servers, tls_servers
from .conftest import (
    HEADER_LINE,
    HTTP_OK,
    SSH_BANNER,
    Endpoint,
    ServerCerts,
    tls_endpoint,
)
from .inner import TlsFiles, spec_text
from .servers import ServerLoop

Build = Callable[[ServerLoop, TlsFiles, ServerCerts], Endpoint]


def plain(handler: servers.Handler) -> Build:
    return lambda loop, files, certs: Endpoint(loop.serve(handler))


def trusted_tls(loop: ServerLoop, files: TlsFiles, certs: ServerCerts) -> Endpoint:
    return tls_endpoint(loop, certs.trusted, files.ca)


def relayed_tls(loop: ServerLoop, files: TlsFiles, certs: ServerCerts) -> Endpoint:
    upstream = trusted_tls(loop, files, certs)
    assert upstream.mtls_port is not None
    return Endpoint(loop.serve(tls_servers.relay(upstream.port)), loop.serve(tls_servers.relay(upstream.mtls_port)))


def smtp_relay(loop: ServerLoop, files: TlsFiles, certs: ServerCerts) -> Endpoint:
    context = tls_servers.server_context(*certs.trusted)
    return Endpoint(loop.serve(tls_servers.smtp_starttls(b"220 mail.example ESMTP\r\n", context)))


async def postgres_without_tls(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """PostgreSQL with ssl=off: ``N`` to the SSLRequest, then a password request answering the startup packet."""
    await reader.readexactly(8)
    await servers.send(writer, b"N")
    (length,) = struct.unpack("!I", await reader.readexactly(4))
    await reader.readexactly(length - 4)
    await servers.send(writer, PASSWORD_REQUEST)
    await servers.hold(reader)


VAULT_ACTIVE = response(200, {"Content-Type": "application/json"}, b'{"initialized": true, "sealed": false}')
TLS_KINDS = ("https", "mtls", "tls", "wss")
COUNTERPARTS: dict[str, tuple[Build, tuple[str, ...]]] = {
    "tarpit": (plain(servers.speak(SSH_BANNER)), ("ssh",)),
    "garbage": (plain(servers.speak(packet(greeting("8.0.36", 7, tls=False)))), ("mysql",)),
    "endless_banner": (plain(servers.stream(b"SSH-2.0-", b"A" * 64, 72, b"\r\n")), ("ssh",)),
    "endless_lines": (plain(servers.stream(b"HTTP/1.1 200 OK\r\n", HEADER_LINE, 300, b"\r\n")), ("http",)),
    "reset_mid_handshake": (plain(servers.after_first_bytes(HTTP_OK)), ("http",)),
    "half_closed": (plain(servers.half_close(SSH_BANNER)), ("ssh",)),
    "hang_up": (plain(servers.hang_up(SSH_BANNER)), ("ssh",)),
    "tls_stall": (relayed_tls, TLS_KINDS),
    "self_signed": (trusted_tls, TLS_KINDS),
    "wrong_host": (trusted_tls, TLS_KINDS),
    "tls_endless_lines": (trusted_tls, TLS_KINDS),
    "slowloris_http": (plain(servers.dribble(HTTP_OK, 0)), ("http",)),
    "slowloris_ssh": (plain(servers.dribble(SSH_BANNER, 0)), ("ssh",)),
    "slowloris_notice": (plain(postgres_without_tls), ("postgres",)),  # 'N', then a framed answer to the startup
    "superscript_status": (plain(servers.speak(HTTP_OK)), ("http",)),
    "tls_superscript_status": (trusted_tls, TLS_KINDS),
    "superscript_length": (plain(servers.speak(VAULT_ACTIVE)), ("vault",)),
    "superscript_reply_code": (smtp_relay, ("smtp-starttls",)),
    "bracket_redirect": (plain(servers.speak(response(301, {"Location": "https://127.0.0.1/"}))), ("http-redirect",)),
    "deep_json": (plain(servers.speak(VAULT_ACTIVE)), ("vault",)),
}


@pytest.mark.parametrize("case", COUNTERPARTS)
def test_well_behaved_twin_of_hostile_server_passes(case: str, pytester: pytest.Pytester, server_loop: ServerLoop,
                                                    hostile_tls: tuple[TlsFiles, ServerCerts]) -> None:
    build, kinds = COUNTERPARTS[case]
    endpoint = build(server_loop, *hostile_tls)
    spec = pytester.path / "spec.yaml"
    spec.write_text(spec_text(kinds, endpoint.port, hostile_tls[0], endpoint.mtls_port))
    result = pytester.runpytest("--activate-spec", str(spec), "--activate-role", "internet", "--activate-timeout", "1")
    result.assert_outcomes(passed=len(kinds))


def client_hello() -> bytes:
    """A real ClientHello from this machine's OpenSSL, as the probes send it."""
    context = ssl.create_default_context()
    outgoing = ssl.MemoryBIO()
    connection = context.wrap_bio(ssl.MemoryBIO(), outgoing, server_hostname="localhost")
    with pytest.raises(ssl.SSLWantReadError):
        connection.do_handshake()
    return outgoing.read()


def test_stall_server_sends_a_genuine_server_hello_and_then_nothing(tls_stall: Endpoint) -> None:
    with socket.create_connection(("127.0.0.1", tls_stall.port), timeout=2) as sock:
        sock.sendall(client_hello())
        answer = b""
        while tls_servers.tls_records(answer, 1) is None:
            chunk = sock.recv(65536)
            assert chunk, f"the stall server closed after {len(answer)} bytes"
            answer += chunk
        sock.settimeout(0.5)
        with pytest.raises(TimeoutError):
            more = sock.recv(65536)
            pytest.fail(f"the stall server sent {len(more)} more bytes after its ServerHello")
    assert answer[:1] == b"\x16" and answer[5:6] == b"\x02", answer[:8]  # a handshake record holding ServerHello
    assert len(answer) == tls_servers.tls_records(answer, 1)


@pytest.mark.parametrize("case", ["endless_banner", "endless_lines"])
def test_endless_server_streams_far_more_than_any_read_limit(case: str, request: pytest.FixtureRequest) -> None:
    endpoint: Endpoint = request.getfixturevalue(case)
    wanted = 64 * MAX_READ
    received = 0
    deadline = time.monotonic() + 5
    with socket.create_connection(("127.0.0.1", endpoint.port), timeout=2) as sock:
        while received < wanted and time.monotonic() < deadline:
            received += len(sock.recv(65536))
    assert received >= wanted
