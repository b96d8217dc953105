"""``wss``: the agent tunnel endpoint accepts a WebSocket upgrade (RFC 6455) over TLS.

Compute-cluster agents reach the control plane only through
``wss://<platform-host>/ws/ssh/tunnel``; an HTTPS port that serves the UI but
whose proxy drops the ``Upgrade`` header breaks every agent while every
browser check stays green. The probe completes the opening handshake and
verifies ``Sec-WebSocket-Accept``, which only a real WebSocket endpoint can
compute from our random key: an echoing or caching proxy cannot.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING

from .base import Probe, ProtocolResult
from .connection import Connection
from .http1 import HttpError, ResponseHead, build_request, describe, exchange, host_header
from .options import OptionError, ProbeOptions
from .registry import register
from .tlspolicy import TlsPolicy
from .tlsctx import HANDSHAKE_ERRORS, client_context
from .trust import ServerTrust

if TYPE_CHECKING:
    from .material import TlsMaterial

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455 section 1.3
TUNNEL_PATH = "/ws/ssh/tunnel"
TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")  # an HTTP field name (RFC 9110 section 5.6.2)
HANDSHAKE_HEADERS = frozenset({"host", "upgrade", "connection", "sec-websocket-key", "sec-websocket-version"})


def new_key() -> str:
    """A fresh ``Sec-WebSocket-Key``: 16 random bytes, base64 (RFC 6455 section 4.1)."""
    return base64.b64encode(os.urandom(16)).decode("ascii")


def accept_for(key: str) -> str:
    """The ``Sec-WebSocket-Accept`` a server must answer to ``key``."""
    digest = hashlib.sha1((key + GUID).encode("ascii")).digest()
    return base64.b64encode(digest).decode("ascii")


def upgrade_request(host: str, path: str, key: str, headers: Mapping[str, str] | None = None) -> bytes:
    """An HTTP/1.1 opening handshake for ``path`` with ``key`` and any extra headers."""
    handshake = {"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Key": key, "Sec-WebSocket-Version": "13"}
    return build_request(host, path, headers={**handshake, **(headers or {})})


def _tokens(value: str | None) -> set[str]:
    return {token.strip().lower() for token in (value or "").split(",")}


def judge_upgrade(head: ResponseHead, path: str, key: str, auth_required_passes: bool) -> ProtocolResult:
    """Judge the server's answer to an opening handshake sent with ``key``."""
    seen = describe(head)
    facts = {"status": str(head.status), "server": head.header("Server") or ""}
    if head.status == 101:
        problems = []
        if "websocket" not in _tokens(head.header("Upgrade")):
            problems.append("no 'Upgrade: websocket'")
        if "upgrade" not in _tokens(head.header("Connection")):
            problems.append("no 'Connection: Upgrade'")
        if head.header("Sec-WebSocket-Accept") != accept_for(key):
            problems.append("a wrong or missing Sec-WebSocket-Accept")
        if problems:
            return ProtocolResult(False, f"upgrade of {path} answered {seen} with {', '.join(problems)}", facts=facts)
        return ProtocolResult(True, f"upgrade of {path} answered {seen} with a valid Sec-WebSocket-Accept", facts=facts)
    if head.status in (401, 403):
        verdict = "accepted" if auth_required_passes else "not accepted (accept_auth_required: false)"
        message = f"endpoint {path} present, authentication required ({seen}); {verdict}"
        return ProtocolResult(auth_required_passes, message, facts=facts)
    hint = ": no WebSocket endpoint there" if head.status == 404 else ", expected 101 Switching Protocols"
    return ProtocolResult(False, f"upgrade of {path} answered {seen}{hint}", facts=facts)


def close_frame() -> bytes:
    """A masked Close frame with status 1000, so the server sees a clean goodbye."""
    mask = os.urandom(4)
    payload = (1000).to_bytes(2, "big")
    return bytes([0x88, 0x80 | len(payload)]) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


@register
class WssProbe(Probe):
    """Passes on ``101`` with a correct ``Sec-WebSocket-Accept`` after a verified TLS handshake.

    ``401``/``403`` mean "endpoint present, authentication required": they pass
    when the probe sent no ``headers`` (an anonymous upgrade must be refused by
    a healthy tunnel), and fail when it sent credentials, unless
    ``accept_auth_required`` says otherwise. Header values may be secrets and
    never appear in the result. The handshake is judged as ``tls`` judges it
    (chain against ``tls.ca``, host name, expiry warning) except version
    floors, which the ``tls`` rule on the same port owns; ``tls: false``
    upgrades a plain ``ws://`` endpoint instead.
    """

    kind = "wss"
    tls_material = frozenset({"ca"})

    def __init__(
        self,
        tls: TlsPolicy | None,
        path: str = TUNNEL_PATH,
        headers: Mapping[str, str] | None = None,
        accept_auth_required: bool | None = None,
    ) -> None:
        self.path = path
        self.headers = dict(headers or {})
        self.accept_auth_required = not self.headers if accept_auth_required is None else accept_auth_required
        self.tls = tls

    @classmethod
    def from_options(cls, options: ProbeOptions, tls: TlsMaterial) -> WssProbe:
        headers = options.text_map("headers")
        for name, value in headers.items():
            if name.lower() in HANDSHAKE_HEADERS or not TOKEN.fullmatch(name) or any(c in value for c in "\r\n\0"):
                # Name the header only: its value may be a secret.
                raise OptionError("headers", f"probe wss: header {name!r} cannot be sent (reserved name or malformed)")
        auth = options.flag("accept_auth_required", not headers)
        # The tls probe judges version floors; here the handshake only has to be trustworthy.
        policy = TlsPolicy(ServerTrust(True, tls.ca), None, tls.expiry_warn_days) if options.flag("tls", True) else None
        return cls(policy, options.request_path("path", TUNNEL_PATH), headers, auth)

    async def check(self, conn: Connection) -> ProtocolResult:
        secured = await self.tls.establish(conn) if self.tls else ProtocolResult(True, "plain ws://")
        if not secured.passed:
            return secured
        try:
            return await self._upgrade(conn, secured)
        finally:
            conn.abort()

    async def _upgrade(self, conn: Connection, secured: ProtocolResult) -> ProtocolResult:
        key = new_key()
        host = host_header(conn.target.name, conn.target.spec_port, 443 if self.tls else 80)
        try:
            head = await exchange(conn.reader, conn.writer, upgrade_request(host, self.path, key, self.headers))
        except HttpError as exc:
            return ProtocolResult(False, f"upgrade of {self.path}: {exc}", facts=secured.facts)
        result = judge_upgrade(head, self.path, key, self.accept_auth_required)
        if head.status == 101:
            conn.writer.write(close_frame())
            await conn.writer.drain()
        elif result.passed:  # an authentication refusal, accepted: does it show an endpoint, or refuse everything?
            result = await self._prove_endpoint(conn, host, head, result)
        return ProtocolResult(result.passed, result.detail, facts={**secured.facts, **result.facts},
                              warnings=secured.warnings, unproven=result.unproven)

    async def _prove_endpoint(self, conn: Connection, host: str, refused: ResponseHead,
                              result: ProtocolResult) -> ProtocolResult:
        """Pass the refusal only if the server answers other requests differently.

        A listener answering 401/403 to everything (no WebSocket anywhere) looks
        exactly like a tunnel demanding a login. Two control requests tell them
        apart: the same path without the upgrade, and an upgrade of a path at
        the root that cannot exist (outside the endpoint's own prefix, which a
        proxy may guard as a whole: nginx's ``location /ws/ { return 403; }``).
        """
        nowhere = "/activate-ports-no-such-path"
        plain, elsewhere = await asyncio.gather(
            self._control(conn, build_request(host, self.path, headers=self.headers)),
            self._control(conn, upgrade_request(host, nowhere, new_key(), self.headers)))
        seen = (f"GET {self.path} without the upgrade answered {describe(plain) if plain else 'nothing'}, "
                f"an upgrade of {nowhere} answered {describe(elsewhere) if elsewhere else 'nothing'}")
        statuses = {head.status for head in (plain, elsewhere) if head is not None}
        if statuses - {refused.status}:
            return ProtocolResult(True, f"{result.detail}; {seen}", facts=result.facts)
        return ProtocolResult(False, f"upgrade of {self.path} answered {describe(refused)}, but {seen}: a refusal of "
                                     "everything does not show a WebSocket endpoint; add headers: with a token "
                                     "(e.g. Authorization) so that the upgrade itself can succeed",
                              facts=result.facts, unproven=True)

    async def _control(self, conn: Connection, request: bytes) -> ResponseHead | None:
        """The answer a control request gets on a connection of its own (None: no HTTP answer)."""
        try:
            reader, writer = await asyncio.wait_for(conn.open(client_context(verify=False) if self.tls else None),
                                                    conn.target.timeout / 2)
            head = await asyncio.wait_for(exchange(reader, writer, request), conn.target.timeout / 2)
        except (asyncio.TimeoutError, HttpError, *HANDSHAKE_ERRORS):
            return None
        writer.transport.abort()
        return head
