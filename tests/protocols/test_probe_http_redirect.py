"""``http-redirect`` probe: redirect judging on constructed heads; I/O against the emulated listener and nginx."""

from __future__ import annotations

import pytest

from pytest_activate_ports.emulate.http_services import serve_redirect
from pytest_activate_ports.prober.probes.http1 import parse_response_head
from pytest_activate_ports.prober.probes.http_redirect import judge_redirect, keeps_target

from ..probe_harness import port_of, probe, probe_against, run_probe, serve_banner
from .http_servers import Nginx


def head(status_line: str, *headers: str) -> bytes:
    return "\r\n".join((status_line, *headers)).encode()


@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_probe_http_redirect_accepts_every_redirect_status(status: int) -> None:
    check = judge_redirect(parse_response_head(head(f"HTTP/1.1 {status} X", "Location: https://lb.example/x")), "/x", "lb.example", 443)
    assert check.passed, check.detail
    assert check.detail == f"GET /x -> {status} Location 'https://lb.example/x'"


@pytest.mark.parametrize(("response", "expected", "reason"), [
    (head("HTTP/1.1 200 OK", "Server: nginx"), "lb.example", "answered HTTP/1.1 200 OK (server nginx), not a redirect to https://lb.example"),
    (head("HTTP/1.1 301 Moved"), "lb.example", "answered 301 without a Location header"),
    (head("HTTP/1.1 301 Moved", "Location: http://lb.example/"), "lb.example", "which does not go to https://"),
    (head("HTTP/1.1 301 Moved", "Location: /login"), "lb.example", "which does not go to https://"),
    (head("HTTP/1.1 302 Found", "Location: https://evil.example/"), "lb.example", "another host than lb.example"),
    (head("HTTP/1.1 302 Found", "Location: https://lb.example:8443/"), "lb.example", "port 8443 instead of 443"),
    (head("HTTP/1.1 302 Found", "Location: https://lb.example:99999/"), "lb.example", "not a valid URL"),
    (head("HTTP/1.1 304 Not Modified", "Location: https://lb.example/"), "lb.example", "not a redirect"),
])
def test_probe_http_redirect_rejects_wrong_answers_with_what_it_saw(response: bytes, expected: str, reason: str) -> None:
    check = judge_redirect(parse_response_head(response), "/", expected, 443)
    assert not check.passed
    assert reason in check.detail


def test_probe_http_redirect_compares_hosts_case_insensitively_and_ipv6() -> None:
    assert judge_redirect(parse_response_head(head("HTTP/1.1 301 M", "Location: https://LB.Example/")), "/", "lb.example", 443).passed
    assert judge_redirect(parse_response_head(head("HTTP/1.1 301 M", "Location: https://[::1]/")), "/", "::1", 443).passed


def test_probe_http_redirect_path_keeping() -> None:
    assert keeps_target("https://h/a?x=1", "/a?x=1")
    assert keeps_target("https://h", "/")
    assert not keeps_target("https://h/", "/a?x=1")


@pytest.mark.asyncio
async def test_probe_http_redirect_passes_against_emulated_listener() -> None:
    result = await probe_against(serve_redirect("127.0.0.1", 0), probe("http-redirect"), spec_port=80)
    assert result.passed, result.detail
    assert [check.name for check in result.checks] == ["GET /", "GET /activate-ports-probe?check=redirect"]
    assert "301 Location 'https://127.0.0.1/activate-ports-probe?check=redirect'" in result.detail
    assert not result.warnings


@pytest.mark.asyncio
async def test_probe_http_redirect_honours_target_port_option() -> None:
    server = await serve_redirect("127.0.0.1", 0, https_port=8443)
    async with server:
        default = await run_probe(probe("http-redirect"), port_of(server), spec_port=80)
        told = await run_probe(probe("http-redirect", https_port=8443), port_of(server), spec_port=80)
    assert not default.passed and "port 8443 instead of 443" in default.detail
    assert told.passed, told.detail


@pytest.mark.asyncio
async def test_probe_http_redirect_warns_when_the_path_is_dropped() -> None:
    result = await probe_against(serve_redirect("127.0.0.1", 0, mode="root"), probe("http-redirect", path="/deep/link"), spec_port=80)
    assert result.passed, result.detail
    assert result.warnings == ("GET /deep/link redirects to 'https://127.0.0.1/', dropping the requested path",)


@pytest.mark.asyncio
@pytest.mark.parametrize(("mode", "reason"), [
    ("ok", "GET / answered HTTP/1.1 200 OK, not a redirect to https://127.0.0.1"),
    ("http", "GET / answered 301 Location 'http://127.0.0.1/', which does not go to https://"),
    ("other-host", "GET / answered 301 Location 'https://elsewhere.example/', another host than 127.0.0.1"),
])
async def test_probe_http_redirect_fails_on_misconfigured_listener(mode: str, reason: str) -> None:
    result = await probe_against(serve_redirect("127.0.0.1", 0, mode=mode), probe("http-redirect"), spec_port=80)
    assert not result.passed
    assert result.detail.startswith(reason)


@pytest.mark.asyncio
async def test_probe_http_redirect_expects_canonical_host_when_told() -> None:
    result = await probe_against(serve_redirect("127.0.0.1", 0, mode="other-host"), probe("http-redirect", https_host="elsewhere.example"), spec_port=80)
    assert result.passed, result.detail


@pytest.mark.asyncio
async def test_probe_http_redirect_passes_against_nginx_return_301(http_nginx: Nginx) -> None:
    result = await run_probe(probe("http-redirect"), http_nginx.ports["redirect"], name="localhost", spec_port=80)
    assert result.passed, result.detail
    assert "GET / -> 301 Location 'https://localhost/'" in result.detail
    assert result.facts["GET /activate-ports-probe?check=redirect"].endswith(
        "'https://localhost/activate-ports-probe?check=redirect'")


@pytest.mark.asyncio
async def test_probe_http_redirect_fails_against_nginx_serving_pages(http_nginx: Nginx) -> None:
    result = await run_probe(probe("http-redirect"), http_nginx.ports["plain"], spec_port=80)
    assert not result.passed
    assert result.detail.startswith("GET / answered HTTP/1.1 200 OK (server nginx/")


@pytest.mark.asyncio
async def test_probe_http_redirect_rejects_ssh_banner() -> None:
    result = await probe_against(serve_banner(b"SSH-2.0-OpenSSH_9.2p1\r\n"), probe("http-redirect"), spec_port=80)
    assert not result.passed
    assert result.detail == "GET /: not an HTTP response: 'SSH-2.0-OpenSSH_9.2p1'"
