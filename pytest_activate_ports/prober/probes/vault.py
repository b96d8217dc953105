"""``vault``: HashiCorp Vault on 8200 is initialized and unsealed (``GET /v1/sys/health``).

The port guide says Vault "must be initialized and unsealed": an open port
with a sealed Vault still breaks every credential lookup. Vault's health
endpoint encodes its state in the status code (HashiCorp API docs,
``/sys/health``): 200 active, 429 unsealed standby, 472 disaster-recovery
secondary, 473 performance standby, 474 standby that cannot reach the active
node, 501 not initialized, 503 sealed, 530 removed from its cluster. The JSON
body is checked too, so an unrelated HTTP server answering 200 never passes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .base import PeerError, Probe, ProtocolResult
from .connection import Connection
from .http1 import HttpError, ResponseHead, build_request, describe, exchange, host_header, read_body
from .registry import register
from .options import OptionError
from .tlspolicy import TlsPolicy
from .trust import ServerTrust

if TYPE_CHECKING:
    from .material import TlsMaterial
    from .options import ProbeOptions

HEALTH_PATH = "/v1/sys/health"
BODY_LIMIT = 16 * 1024
ROLES = {
    200: "active",
    429: "standby",
    472: "disaster-recovery secondary",
    473: "performance standby",
    474: "standby that cannot reach the active node",
    501: "not initialized",
    503: "sealed",
    530: "removed from its cluster",
}
STANDBY = frozenset({429, 473})
"""Unsealed nodes that serve clients (a standby forwards to the active node, a
performance standby answers reads itself), so they pass unless ``accept_standby: false``."""


class NotVaultHealth(PeerError):
    """The body is not Vault's health JSON."""


@dataclass(frozen=True)
class Health:
    """The fields of a ``/v1/sys/health`` body the verdict uses."""

    initialized: bool
    sealed: bool
    version: str
    cluster_name: str


def parse_health(body: bytes) -> Health:
    """Read Vault's health JSON; raises :class:`NotVaultHealth` for anything else."""
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:  # a hostile body may nest arbitrarily deep
        raise NotVaultHealth(f"body is not JSON ({body[:40]!r})") from exc
    if not isinstance(data, dict) or not all(isinstance(data.get(k), bool) for k in ("initialized", "sealed")):
        raise NotVaultHealth("JSON without boolean 'initialized' and 'sealed'")
    return Health(data["initialized"], data["sealed"], str(data.get("version", ""))[:40], str(data.get("cluster_name", ""))[:80])


def judge_health(head: ResponseHead, body: bytes, accept_standby: bool = True) -> ProtocolResult:
    """Pass only for an initialized, unsealed node that serves clients (active, or standby if accepted)."""
    status = head.status
    try:
        health = parse_health(body)
    except NotVaultHealth as exc:
        hint = " (a TLS listener answering plain HTTP? set tls: true)" if status == 400 else ""
        return ProtocolResult(False, f"GET {HEALTH_PATH} answered {describe(head)}, not Vault's health response: {exc}{hint}")
    who = f"Vault {health.version}" if health.version else "Vault"
    role = ROLES.get(status, "in an undocumented state")
    facts = {"status": str(status), "version": health.version, "cluster_name": health.cluster_name, "role": role}
    if not health.initialized:
        return ProtocolResult(False, f"{who} is not initialized ({status}); run 'vault operator init'", facts=facts)
    if health.sealed:
        return ProtocolResult(False, f"{who} is sealed ({status}); unseal it", facts=facts)
    state = f"{who} initialized, unsealed, {role} ({status})"
    if status == 200:
        return ProtocolResult(True, state, facts=facts)
    if status in STANDBY:
        if accept_standby:
            return ProtocolResult(True, f"{state}; standby nodes accepted", facts=facts)
        return ProtocolResult(False, f"{state}; accept_standby: false requires the active node", facts=facts)
    return ProtocolResult(False, f"{state}: it does not serve clients", facts=facts)


@register
class VaultProbe(Probe):
    """Passes when ``/v1/sys/health`` shows an initialized, unsealed node.

    Active nodes (200) pass. Standby (429) and performance-standby (473) nodes
    are unsealed and serve clients, so they pass too unless
    ``accept_standby: false``; every other documented state fails with its
    name. ``tls: true`` speaks HTTPS, verified against the spec's ``tls.ca``
    or the probe's own ``ca:`` (Vault's listener often has a certificate from
    an internal CA), unless ``verify: false`` (see :mod:`.trust`).
    """

    kind = "vault"
    tls_material = frozenset({"ca"})

    def __init__(self, accept_standby: bool = True, tls: TlsPolicy | None = None) -> None:
        self.accept_standby = accept_standby
        self.tls = tls

    @classmethod
    def from_options(cls, options: ProbeOptions, tls: TlsMaterial) -> VaultProbe:
        secure = options.flag("tls", False)
        own_ca = options.text("ca") is not None
        if not secure and (own_ca or not options.flag("verify", True)):  # refused before the ca: file is read
            raise OptionError("ca" if own_ca else "verify", "probe vault: 'ca' and 'verify' apply to its "
                                                            "certificate, so only with tls: true")
        trust = ServerTrust.from_options(options, tls, verify_by_default=True)
        policy = TlsPolicy(trust, None, tls.expiry_warn_days) if secure else None
        return cls(options.flag("accept_standby", True), policy)

    async def check(self, conn: Connection) -> ProtocolResult:
        secured = await self.tls.establish(conn) if self.tls else ProtocolResult(True, "plain HTTP")
        if not secured.passed:
            return secured
        try:
            result = await self._health(conn)
        finally:
            conn.abort()
        detail = f"{result.detail}; over TLS, {self.tls.trust.judged}: {secured.detail}" if self.tls else result.detail
        return ProtocolResult(result.passed, detail, facts={**secured.facts, **result.facts}, warnings=secured.warnings)

    async def _health(self, conn: Connection) -> ProtocolResult:
        host = host_header(conn.target.name, conn.target.spec_port, 443 if self.tls else 80)
        request = build_request(host, HEALTH_PATH, headers={"Accept": "application/json"})
        try:
            head = await exchange(conn.reader, conn.writer, request)
        except HttpError as exc:
            return ProtocolResult(False, f"GET {HEALTH_PATH}: {exc}")
        try:
            body = await read_body(conn.reader, head, BODY_LIMIT)
        except HttpError as exc:
            return ProtocolResult(False, f"GET {HEALTH_PATH} answered {describe(head)}: {exc}")
        return judge_health(head, body, self.accept_standby)
