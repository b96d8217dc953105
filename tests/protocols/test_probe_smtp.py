"""``smtp-starttls`` probe: reply parsing on constructed bytes; I/O against nginx's SMTP server (Debian) and scripted peers."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from pathlib import Path

import pytest

from pytest_activate_ports.prober.probes.registry import build
from pytest_activate_ports.prober.probes.smtp import (
    Reply,
    SmtpError,
    address_literal,
    extensions,
    parse_reply,
)
from pytest_activate_ports.spec.model import TlsConfig

from ..probe_harness import probe, probe_against, run_probe, serve_banner
from .http_servers import Nginx


def test_probe_smtp_parses_single_and_multiline_replies() -> None:
    assert parse_reply([b"220 mail.example ESMTP Postfix\r\n"]) == Reply(220, ("mail.example ESMTP Postfix",))
    ehlo = parse_reply([b"250-mail.example\r\n", b"250-PIPELINING\r\n", b"250-STARTTLS\r\n", b"250 8BITMIME\r\n"])
    assert ehlo is not None and ehlo.code == 250
    assert extensions(ehlo) == {"PIPELINING", "STARTTLS", "8BITMIME"}
    assert parse_reply([b"250\r\n"]) == Reply(250, ("",))


def test_probe_smtp_waits_for_the_last_line_of_a_truncated_reply() -> None:
    assert parse_reply([]) is None
    assert parse_reply([b"250-mail.example\r\n", b"250-STARTTLS\r\n"]) is None


@pytest.mark.parametrize(("lines", "message"), [
    ([b"SSH-2.0-OpenSSH_9.2p1\r\n"], "not an SMTP reply: 'SSH-2.0-OpenSSH_9.2p1'"),
    ([b"HTTP/1.1 400 Bad Request\r\n"], "not an SMTP reply"),
    ([b"\x16\x03\x01\x00\xa5\r\n"], "not an SMTP reply"),
    ([b"99 too short\r\n"], "not an SMTP reply"),
    ([b"250x no separator\r\n"], "not an SMTP reply"),
    ([b"250-first\r\n", b"550 other code\r\n"], "different codes"),
])
def test_probe_smtp_rejects_garbage(lines: list[bytes], message: str) -> None:
    with pytest.raises(SmtpError, match=message):
        parse_reply(lines)


def test_probe_smtp_ehlo_argument_is_an_address_literal() -> None:
    assert address_literal(("127.0.0.1", 40000)) == "[127.0.0.1]"
    assert address_literal(("::1", 40000, 0, 0)) == "[IPv6:::1]"
    assert address_literal(("fe80::1%eth0", 1, 0, 2)) == "[IPv6:fe80::1]"


async def serve_smtp(greeting: bytes, replies: Mapping[str, bytes]) -> asyncio.Server:
    """A scripted SMTP peer: answers each command verb from ``replies`` (500 otherwise)."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(greeting)
        while line := await reader.readline():
            verb = line.split(b" ", 1)[0].strip().upper().decode()
            writer.write(replies.get(verb, b"500 5.5.2 Error: command not recognized\r\n"))
        writer.close()

    return await asyncio.start_server(handle, "127.0.0.1", 0)


@pytest.mark.asyncio
@pytest.mark.parametrize(("greeting", "replies", "reason"), [
    (b"554 5.3.2 mail.example no SMTP service here\r\n", {}, "greeting '554 5.3.2 mail.example no SMTP service here': the server does not offer service"),
    (b"220 mail.example\r\n", {"EHLO": b"502 5.5.1 HELO only\r\n"}, "greeting '220 mail.example' but EHLO answered '502 5.5.1 HELO only'"),
    (b"220 mail.example\r\n", {"EHLO": b"250-mail.example\r\n250 SIZE 1000\r\n"}, "EHLO offers no STARTTLS (extensions: SIZE)"),
    (b"220 mail.example\r\n", {"EHLO": b"250-mail.example\r\n250 STARTTLS\r\n", "STARTTLS": b"454 4.7.0 TLS not available\r\n"},
     "EHLO offers STARTTLS but STARTTLS answered '454 4.7.0 TLS not available'"),
])
async def test_probe_smtp_fails_on_each_broken_step(greeting: bytes, replies: Mapping[str, bytes], reason: str) -> None:
    result = await probe_against(serve_smtp(greeting, replies), probe("smtp-starttls"), spec_port=587)
    assert not result.passed
    assert reason in result.detail


@pytest.mark.asyncio
async def test_probe_smtp_fails_on_truncated_greeting() -> None:
    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"220-mail.example\r\n")
        writer.close()

    result = await probe_against(asyncio.start_server(hang_up, "127.0.0.1", 0), probe("smtp-starttls"))
    assert not result.passed
    assert result.detail == "connection closed in the middle of a reply"


@pytest.mark.asyncio
async def test_probe_smtp_rejects_ssh_banner() -> None:
    result = await probe_against(serve_banner(b"SSH-2.0-OpenSSH_9.2p1\r\n"), probe("smtp-starttls"))
    assert not result.passed
    assert result.detail == "not an SMTP reply: 'SSH-2.0-OpenSSH_9.2p1'"


def smtp_port(nginx: Nginx, name: str) -> int:
    if name not in nginx.ports:
        pytest.skip("nginx's mail module is not installed (Debian package libnginx-mod-mail)")
    return nginx.ports[name]


@pytest.mark.asyncio
async def test_probe_smtp_starttls_verified_against_nginx(http_nginx: Nginx, ca_pem: Path) -> None:
    result = await run_probe(probe("smtp-starttls", ca=ca_pem), smtp_port(http_nginx, "smtp"), name="localhost")
    assert result.passed, result.detail
    assert result.detail.startswith("greeting '220 mail.activate.test ESMTP ready'; STARTTLS upgraded, "
                                    "certificate verified against tls.ca (ca.pem): TLSv1.")
    assert "SAN localhost, 127.0.0.1, ::1" in result.detail
    assert "STARTTLS" in result.facts["extensions"] and "activate-ports test CA" in result.facts["issuer"]


@pytest.mark.asyncio
async def test_probe_smtp_fails_when_nginx_offers_no_starttls(http_nginx: Nginx, ca_pem: Path) -> None:
    result = await run_probe(probe("smtp-starttls", ca=ca_pem), smtp_port(http_nginx, "smtp_plain"))
    assert not result.passed
    assert "EHLO offers no STARTTLS" in result.detail


@pytest.mark.asyncio
async def test_probe_smtp_untrusted_certificate_fails_unless_verify_is_off(http_nginx: Nginx, ca_pem: Path) -> None:
    port = smtp_port(http_nginx, "smtp_untrusted")
    verified = await run_probe(probe("smtp-starttls", ca=ca_pem), port, name="localhost")
    unverified = await run_probe(probe("smtp-starttls", ca=ca_pem, verify=False), port, name="localhost")
    assert not verified.passed
    assert verified.detail.startswith("STARTTLS accepted but the server's certificate verify failed: unable to get local "
                                      "issuer certificate (against tls.ca (ca.pem)); presented: TLSv1.")
    assert "issued by O=a CA the probe does not trust" in verified.detail  # read on a second, unverified upgrade
    assert verified.detail.endswith("name the service's own CA with ca:, or set verify: false")
    assert unverified.passed and "certificate not verified (verify: true checks it)" in unverified.detail


@pytest.mark.asyncio
async def test_probe_smtp_verifies_against_the_relay_own_ca(http_nginx: Nginx, ca_pem: Path) -> None:
    own = http_nginx.error_log.parent / "untrusted-ca.pem"
    result = await run_probe(build("smtp-starttls", {"ca": str(own)}, TlsConfig(ca=ca_pem)),
                             smtp_port(http_nginx, "smtp_untrusted"), name="localhost")
    assert result.passed, result.detail
    assert "certificate verified against ca (untrusted-ca.pem)" in result.detail
