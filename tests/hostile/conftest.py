"""Hostile servers, one fixture each, plus the certificates and the session table of observed verdicts.

Every hostile fixture yields an :class:`Endpoint`. Servers live for the
session on one :class:`ServerLoop`; certificates come from trustme (and, for
the self-signed one, from ``cryptography`` directly, since trustme only issues
from a CA) and are written under a session temporary folder.
"""

from __future__ import annotations

import datetime
import ipaddress
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest
import trustme
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from pytest_activate_ports.emulate.http_services import response
from pytest_activate_ports.emulate.tls import serve_tls

from . import servers, tls_servers
from .inner import Cell, TlsFiles
from .servers import ServerLoop

ENDLESS_BYTES = 50 * 1024 * 1024
"""What the endless servers offer: far more than any probe may buffer."""
SSH_BANNER = b"SSH-2.0-OpenSSH_9.6p1 Debian-4\r\n"
HTTP_OK = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 0\r\n\r\n"
SUPERSCRIPT_STATUS = b"HTTP/1.1 \xb200 OK\r\nContent-Length: 0\r\n\r\n"
"""Status code '²00' in latin-1, as HTTP heads are decoded: ``str.isdigit()`` accepts '²', ``int()`` does not."""
NOTICE = b"NOTICE: this service speaks no PostgreSQL\r\n"
HEADER_LINE = b"X-Hostile: aaaaaaaaaaaaaaaa\r\n"
ENDLESS_LINES = servers.stream(b"HTTP/1.1 200 OK\r\n", HEADER_LINE * 2048, ENDLESS_BYTES)


@dataclass(frozen=True)
class Endpoint:
    """A server as a spec dials it: the port for every rule and the port behind the ``mtls`` rule."""

    port: int
    mtls_port: int | None = None
    silent: bool = False
    """It waits for the client to speak first, which is all a Slurm daemon shows without munge."""
    trusted_tls: bool = False
    """It completes a TLS handshake with a certificate trusted for 127.0.0.1, which is all ``tls`` checks."""
    also_passes: frozenset[str] = frozenset()
    """Probe kinds whose contract this server meets although it is hostile to the others."""


@dataclass(frozen=True)
class ServerCerts:
    """Server certificate/key files: trusted for 127.0.0.1, for another host, and self-signed."""

    trusted: tuple[str, str]
    wrong_host: tuple[str, str]
    self_signed: tuple[str, str]


OBSERVED: dict[tuple[str, str], Cell] = {}
"""(hostile case, probe kind) -> what the inner run observed; printed as a table at the end of the session."""


@pytest.fixture(scope="session")
def server_loop() -> Iterator[ServerLoop]:
    """The event loop thread every hostile server of the session runs on."""
    loop = ServerLoop()
    yield loop
    loop.close()


def _leaf_files(leaf: trustme.LeafCert, folder: Path, name: str) -> tuple[str, str]:
    cert, key = folder / f"{name}.pem", folder / f"{name}.key"
    leaf.cert_chain_pems[0].write_to_path(str(cert))
    leaf.private_key_pem.write_to_path(str(key))
    return str(cert), str(key)


def _self_signed_files(folder: Path) -> tuple[str, str]:
    """A certificate for localhost/127.0.0.1 signed by its own key: valid in every way but trust."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                        x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = folder / "self-signed.pem", folder / "self-signed.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return str(cert_path), str(key_path)


@pytest.fixture(scope="session")
def hostile_tls(ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> tuple[TlsFiles, ServerCerts]:
    """The spec's trust anchor and client identity (both from ``ca``), and the server certificates."""
    folder = tmp_path_factory.mktemp("hostile-pki")
    (folder / "ca.pem").write_bytes(ca.cert_pem.bytes())
    client_cert, client_key = _leaf_files(ca.issue_cert("client@hostile.invalid"), folder, "client")
    files = TlsFiles(folder / "ca.pem", Path(client_cert), Path(client_key))
    certs = ServerCerts(_leaf_files(ca.issue_cert("localhost", "127.0.0.1"), folder, "trusted"),
                        _leaf_files(ca.issue_cert("wrong-host.invalid"), folder, "wrong-host"),
                        _self_signed_files(folder))
    return files, certs


def tls_endpoint(loop: ServerLoop, pair: tuple[str, str], ca_pem: Path,
                 handler: servers.Handler = tls_servers.web) -> Endpoint:
    """A TLS server and an enforcing mTLS listener, both presenting ``pair``, running ``handler`` after the handshake.

    The default handler is a well-behaved HTTPS and WebSocket endpoint, so
    with a trusted certificate every TLS probe passes (see the counterparts).
    """
    port = loop.adopt(serve_tls("127.0.0.1", 0, tls_servers.server_context(*pair), handler))
    mtls = loop.adopt(serve_tls("127.0.0.1", 0, tls_servers.server_context(*pair, str(ca_pem)), handler))
    return Endpoint(port, mtls, silent=True)


@pytest.fixture(scope="session")
def tarpit(server_loop: ServerLoop) -> Endpoint:
    """Accepts, then never sends a byte (reads and discards whatever the probe sends)."""
    return Endpoint(server_loop.serve(servers.speak(b"")), silent=True)


@pytest.fixture(scope="session")
def garbage(server_loop: ServerLoop) -> Endpoint:
    """Sends 4 KiB of random bytes (fixed seed) on accept, then holds the connection."""
    return Endpoint(server_loop.serve(servers.speak(random.Random(8).randbytes(4096))))


@pytest.fixture(scope="session")
def endless_banner(server_loop: ServerLoop) -> Endpoint:
    """An SSH-looking identification that never ends: 50 MB without a newline."""
    return Endpoint(server_loop.serve(servers.stream(b"SSH-2.0-", b"A" * 65536, ENDLESS_BYTES)))


@pytest.fixture(scope="session")
def endless_lines(server_loop: ServerLoop) -> Endpoint:
    """An HTTP 200 status line followed by 50 MB of header lines and never the blank line."""
    return Endpoint(server_loop.serve(ENDLESS_LINES))


@pytest.fixture(scope="session")
def reset_mid_handshake(server_loop: ServerLoop) -> Endpoint:
    """Reads the probe's first bytes (or waits 0.1 s for them), then closes with SO_LINGER 0: RST."""
    return Endpoint(server_loop.serve(servers.after_first_bytes(None)))


@pytest.fixture(scope="session")
def half_closed(server_loop: ServerLoop) -> Endpoint:
    """``shutdown(SHUT_WR)`` right after accept: the probe reads EOF while the server keeps reading."""
    return Endpoint(server_loop.serve(servers.half_close()))


@pytest.fixture(scope="session")
def hang_up(server_loop: ServerLoop) -> Endpoint:
    """Accepts and closes at once."""
    return Endpoint(server_loop.serve(servers.hang_up()))


@pytest.fixture(scope="session")
def tls_stall(server_loop: ServerLoop, hostile_tls: tuple[TlsFiles, ServerCerts]) -> Endpoint:
    """A real TLS server behind a relay that forwards its ServerHello record and then nothing more."""
    files, certs = hostile_tls
    upstream = tls_endpoint(server_loop, certs.trusted, files.ca)
    assert upstream.mtls_port is not None
    stall = server_loop.serve(tls_servers.relay(upstream.port, records=1))
    return Endpoint(stall, server_loop.serve(tls_servers.relay(upstream.mtls_port, records=1)), silent=True)


@pytest.fixture(scope="session")
def self_signed(server_loop: ServerLoop, hostile_tls: tuple[TlsFiles, ServerCerts]) -> Endpoint:
    """TLS servers that behave perfectly except that their certificate is self-signed."""
    files, certs = hostile_tls
    return tls_endpoint(server_loop, certs.self_signed, files.ca)


@pytest.fixture(scope="session")
def wrong_host(server_loop: ServerLoop, hostile_tls: tuple[TlsFiles, ServerCerts]) -> Endpoint:
    """TLS servers that behave perfectly except that their (trusted) certificate names another host."""
    files, certs = hostile_tls
    return tls_endpoint(server_loop, certs.wrong_host, files.ca)


@pytest.fixture(scope="session")
def tls_endless_lines(server_loop: ServerLoop, hostile_tls: tuple[TlsFiles, ServerCerts]) -> Endpoint:
    """A flawless TLS handshake (trusted certificate), then the endless HTTP header lines inside TLS."""
    files, certs = hostile_tls
    endpoint = tls_endpoint(server_loop, certs.trusted, files.ca, ENDLESS_LINES)
    return Endpoint(endpoint.port, endpoint.mtls_port, silent=True, trusted_tls=True)


@pytest.fixture(scope="session")
def slowloris_http(server_loop: ServerLoop) -> Endpoint:
    """A complete, correct HTTP response, dribbled at one byte per second."""
    return Endpoint(server_loop.serve(servers.dribble(HTTP_OK, 1.0)))


@pytest.fixture(scope="session")
def slowloris_ssh(server_loop: ServerLoop) -> Endpoint:
    """A correct SSH identification, dribbled at one byte per second."""
    return Endpoint(server_loop.serve(servers.dribble(SSH_BANNER, 1.0)))


@pytest.fixture(scope="session")
def superscript_status(server_loop: ServerLoop) -> Endpoint:
    """An HTTP response whose status code is '²00' (a digit to ``str.isdigit()``, not to ``int()``)."""
    return Endpoint(server_loop.serve(servers.speak(SUPERSCRIPT_STATUS)))


@pytest.fixture(scope="session")
def tls_superscript_status(server_loop: ServerLoop, hostile_tls: tuple[TlsFiles, ServerCerts]) -> Endpoint:
    """A flawless TLS handshake (trusted certificate), then the '²00' response inside TLS."""
    files, certs = hostile_tls
    endpoint = tls_endpoint(server_loop, certs.trusted, files.ca, servers.speak(SUPERSCRIPT_STATUS))
    return Endpoint(endpoint.port, endpoint.mtls_port, silent=True, trusted_tls=True)


@pytest.fixture(scope="session")
def superscript_length(server_loop: ServerLoop) -> Endpoint:
    """``200 OK`` with ``Content-Length: ²``: an HTTP answer (``http`` passes), but no body length."""
    return Endpoint(server_loop.serve(servers.speak(b"HTTP/1.1 200 OK\r\nContent-Length: \xb2\r\n\r\n")),
                    also_passes=frozenset({"http"}))


@pytest.fixture(scope="session")
def superscript_reply_code(server_loop: ServerLoop, hostile_tls: tuple[TlsFiles, ServerCerts]) -> Endpoint:
    """An SMTP relay offering STARTTLS whose greeting code is '2²0' (UTF-8): a digit to ``str.isdigit()`` only."""
    greeting = "2\u00b20 mail.example ESMTP\r\n".encode()
    context = tls_servers.server_context(*hostile_tls[1].trusted)
    return Endpoint(server_loop.serve(tls_servers.smtp_starttls(greeting, context)))


@pytest.fixture(scope="session")
def bracket_redirect(server_loop: ServerLoop) -> Endpoint:
    """A 301 whose Location is ``https://[``, which ``urllib.parse.urlsplit`` refuses with ValueError."""
    answer = b"HTTP/1.1 301 Moved Permanently\r\nLocation: https://[\r\nContent-Length: 0\r\n\r\n"
    return Endpoint(server_loop.serve(servers.speak(answer)), also_passes=frozenset({"http"}))


@pytest.fixture(scope="session")
def deep_json(server_loop: ServerLoop) -> Endpoint:
    """A 200 whose 16 KB JSON body is 8000 nested arrays: deeper than ``json.loads`` can recurse."""
    answer = response(200, {"Content-Type": "application/json"}, b"[" * 8000 + b"]" * 8000)
    return Endpoint(server_loop.serve(servers.speak(answer)), also_passes=frozenset({"http"}))


@pytest.fixture(scope="session")
def slowloris_notice(server_loop: ServerLoop) -> Endpoint:
    """A text notice dribbled at one byte per second; its first byte alone is PostgreSQL's "no TLS" answer."""
    return Endpoint(server_loop.serve(servers.dribble(NOTICE, 1.0)))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Print what every probe kind did against every hostile server (the table the issue asks for)."""
    if not OBSERVED:
        return
    cases = list(dict.fromkeys(case for case, _ in OBSERVED))
    kinds = sorted({kind for _, kind in OBSERVED})
    terminalreporter.section("hostile servers: verdict (P pass, F fail, E error) and probe time in ms, expect: required")
    terminalreporter.write_line("| case | " + " | ".join(kinds) + " |")
    terminalreporter.write_line("|---" * (len(kinds) + 1) + "|")
    for case in cases:
        cells = [OBSERVED.get((case, kind)) for kind in kinds]
        shown = ["-" if c is None else f"{c.outcome[0].upper()} {c.elapsed_ms or 0:.0f}" for c in cells]
        terminalreporter.write_line(f"| {case} | " + " | ".join(shown) + " |")
