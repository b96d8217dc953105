"""HTTP-family services of an ACTIVATE deployment, emulated faithfully enough to be probed.

Used by the probe tests and by the emulated deployment: a plain HTTP service,
the port-80 redirect, the agent-tunnel WebSocket endpoint (RFC 6455 opening
handshake) and Vault's ``/v1/sys/health`` (status codes and JSON fields as
HashiCorp documents them; Debian has no Vault). Each can also misbehave in the
ways real deployments do, so must-fail tests have something honest to fail on.
Every ``serve_*`` returns an already listening :class:`asyncio.Server`.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import http
import json
import ssl as ssl_module
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

from ..prober.probes.wss import TUNNEL_PATH, accept_for

WEBSOCKET_CLOSE = b"\x88\x02\x03\xe8"  # an unmasked server Close frame, status 1000


@dataclass(frozen=True)
class Request:
    """The head of one HTTP/1.1 request."""

    method: str
    target: str
    headers: Mapping[str, str]  # names lower-cased; a repeated header keeps its last value

    @property
    def path(self) -> str:
        return urlsplit(self.target).path

    def query_flag(self, name: str) -> bool:
        """Whether a query parameter is set to a true value (Go's strconv.ParseBool spellings)."""
        values = parse_qs(urlsplit(self.target).query).get(name, [])
        return bool(values) and values[0] in ("1", "t", "T", "true", "TRUE", "True")


def parse_request(head: bytes) -> Request:
    """Parse a request head (without the blank line); raises ValueError on anything malformed."""
    request_line, *lines = head.decode("latin-1").split("\r\n")
    method, target, version = request_line.split(" ")
    if not version.startswith("HTTP/1.") or not target.startswith("/"):
        raise ValueError(f"bad request line {request_line!r}")
    headers = {}
    for line in lines:
        name, sep, value = line.partition(":")
        if not sep or not name or name != name.strip():
            raise ValueError(f"bad header line {line!r}")
        headers[name.lower()] = value.strip()
    return Request(method, target, headers)


def response(status: int, headers: Mapping[str, str] | None = None, body: bytes = b"") -> bytes:
    """A complete HTTP/1.1 response; unknown codes get Go's reason phrase, as Vault sends them."""
    try:
        reason = http.HTTPStatus(status).phrase
    except ValueError:
        reason = f"status code {status}"
    fields = {"Date": time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime()), **(headers or {})}
    if status != 101:
        fields.update({"Content-Length": str(len(body)), "Connection": "close"})
    head = "".join(f"{name}: {value}\r\n" for name, value in fields.items())
    return f"HTTP/1.1 {status} {reason}\r\n{head}\r\n".encode("latin-1") + body


Responder = Callable[[Request], bytes]
AfterUpgrade = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def _serve(host: str, port: int, ssl: ssl_module.SSLContext | None, respond: Responder,
                 after_upgrade: AfterUpgrade | None = None) -> asyncio.Server:
    """One request per connection: read the head, answer, close (after a 101, hand over first)."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            try:
                first = await reader.readexactly(1)
                if not (first.isalpha() and first.isupper()):
                    # Like real servers, refuse a non-HTTP first byte (a TLS ClientHello) at once.
                    raise ValueError(f"request starts with {first!r}")
                request = parse_request((first + await reader.readuntil(b"\r\n\r\n"))[:-4])
            except (ValueError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
                writer.write(response(400, {"Content-Type": "text/plain"}, b"bad request\n"))
            else:
                answer = respond(request)
                writer.write(answer)
                if answer.startswith(b"HTTP/1.1 101 ") and after_upgrade is not None:
                    await writer.drain()
                    await after_upgrade(reader, writer)
            await writer.drain()
        except OSError:
            pass  # the client went away: nothing left to answer
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    return await asyncio.start_server(handle, host, port, ssl=ssl)


def _host_only(request: Request) -> str:
    """The Host header without its port (IPv6 literals keep their brackets)."""
    value = request.headers.get("host", "localhost")
    return value[: value.index("]") + 1] if value.startswith("[") else value.partition(":")[0]


async def serve_http(host: str, port: int, *, ssl: ssl_module.SSLContext | None = None, status: int = 200,
                     body: bytes = b'{"status":"ok"}\n', server: str = "activate-emulated") -> asyncio.Server:
    """An internal HTTP API answering every request with ``status`` and a small JSON body."""
    answer = response(status, {"Server": server, "Content-Type": "application/json"}, body)
    return await _serve(host, port, ssl, lambda request: answer)


async def serve_redirect(host: str, port: int, *, ssl: ssl_module.SSLContext | None = None, mode: str = "https",
                         https_port: int = 443, other_host: str = "elsewhere.example") -> asyncio.Server:
    """The port-80 listener. ``mode``: ``https`` (correct 301 to https on the same host),
    ``root`` (302 to https://host/, dropping the path), ``ok`` (serves a page),
    ``http`` (redirects to http://) or ``other-host`` (https on ``other_host``)."""
    if mode not in ("https", "root", "ok", "http", "other-host"):
        raise ValueError(f"unknown redirect mode {mode!r}")
    suffix = "" if https_port == 443 else f":{https_port}"

    def respond(request: Request) -> bytes:
        same = _host_only(request)
        if mode == "ok":
            return response(200, {"Content-Type": "text/html"}, b"<html>plain http</html>\n")
        location = {
            "https": f"https://{same}{suffix}{request.target}",
            "root": f"https://{same}{suffix}/",
            "http": f"http://{same}{request.target}",
            "other-host": f"https://{other_host}{request.target}",
        }[mode]
        return response(302 if mode == "root" else 301, {"Location": location, "Content-Type": "text/html"})

    return await _serve(host, port, ssl, respond)


def _handshake_problem(request: Request) -> int | None:
    """The status a server must answer to an invalid opening handshake (RFC 6455 section 4.2.1), or None."""
    tokens = {t.strip().lower() for t in request.headers.get("connection", "").split(",")}
    try:
        key_ok = len(base64.b64decode(request.headers.get("sec-websocket-key", ""), validate=True)) == 16
    except binascii.Error:
        key_ok = False
    if request.method != "GET" or "host" not in request.headers or "upgrade" not in tokens or not key_ok:
        return 400
    if request.headers.get("upgrade", "").lower() != "websocket":
        return 400
    return 426 if request.headers.get("sec-websocket-version") != "13" else None


async def _close_websocket(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Wait for the client's first frame (its Close, from a probe) and answer with a Close."""
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(reader.read(256), 5)
    writer.write(WEBSOCKET_CLOSE)


async def serve_websocket(host: str, port: int, *, ssl: ssl_module.SSLContext | None = None, path: str = TUNNEL_PATH,
                          token: str | None = None, broken: str | None = None) -> asyncio.Server:
    """The agent tunnel endpoint. ``token`` demands ``Authorization: Bearer <token>`` (401 otherwise);
    ``broken`` is ``not-found`` (404), ``plain-200`` (a page, no upgrade) or ``wrong-accept``."""
    if broken not in (None, "not-found", "plain-200", "wrong-accept"):
        raise ValueError(f"unknown breakage {broken!r}")

    def respond(request: Request) -> bytes:
        if broken == "not-found" or request.path != path:
            return response(404, {"Content-Type": "text/plain"}, b"404 page not found\n")
        if broken == "plain-200":
            return response(200, {"Content-Type": "text/html"}, b"<html>platform UI</html>\n")
        if token is not None and request.headers.get("authorization") != f"Bearer {token}":
            return response(401, {"WWW-Authenticate": "Bearer", "Content-Type": "text/plain"}, b"unauthorized\n")
        problem = _handshake_problem(request)
        if problem is not None:
            return response(problem, {"Sec-WebSocket-Version": "13"} if problem == 426 else None)
        key = request.headers["sec-websocket-key"]
        accept = accept_for(key[::-1]) if broken == "wrong-accept" else accept_for(key)
        return response(101, {"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Accept": accept})

    return await _serve(host, port, ssl, respond, _close_websocket)


VAULT_STATES: Mapping[str, tuple[int, dict[str, object]]] = {
    "active": (200, {"initialized": True, "sealed": False, "standby": False}),
    "standby": (429, {"initialized": True, "sealed": False, "standby": True}),
    "dr-secondary": (472, {"initialized": True, "sealed": False, "standby": False, "replication_dr_mode": "secondary"}),
    "perf-standby": (473, {"initialized": True, "sealed": False, "standby": True, "performance_standby": True}),
    "uninitialized": (501, {"initialized": False, "sealed": True, "standby": True}),
    "sealed": (503, {"initialized": True, "sealed": True, "standby": True}),
}
"""Node state -> the default ``/v1/sys/health`` status code and the fields that differ per state."""


def vault_health(state: str, request: Request, version: str, cluster_name: str) -> bytes:
    """Vault's answer to ``/v1/sys/health``, honouring ``standbyok`` and ``perfstandbyok``."""
    status, fields = VAULT_STATES[state]
    if (status == 429 and request.query_flag("standbyok")) or (status == 473 and request.query_flag("perfstandbyok")):
        status = 200
    body: dict[str, object] = {
        "initialized": False, "sealed": True, "standby": True, "performance_standby": False,
        "replication_performance_mode": "disabled", "replication_dr_mode": "disabled",
        "server_time_utc": int(time.time()), "version": version, **fields,
    }
    if not body["sealed"]:
        body.update(cluster_name=cluster_name, cluster_id="3f1b8a4e-emulated")
    payload = b"" if request.method == "HEAD" else json.dumps(body).encode() + b"\n"
    return response(status, {"Cache-Control": "no-store", "Content-Type": "application/json"}, payload)


async def serve_vault(host: str, port: int, *, ssl: ssl_module.SSLContext | None = None, state: str = "active",
                      version: str = "1.15.6", cluster_name: str = "vault-cluster-activate") -> asyncio.Server:
    """Vault's HTTP API as far as health goes: ``state`` is a key of :data:`VAULT_STATES`."""
    if state not in VAULT_STATES:
        raise ValueError(f"unknown Vault state {state!r}; one of {', '.join(VAULT_STATES)}")

    def respond(request: Request) -> bytes:
        if request.path != "/v1/sys/health":
            return response(404, {"Content-Type": "application/json"}, b'{"errors":[]}\n')
        if request.method not in ("GET", "HEAD"):
            return response(405, {"Content-Type": "application/json"}, b'{"errors":[]}\n')
        return vault_health(state, request, version, cluster_name)

    return await _serve(host, port, ssl, respond)
