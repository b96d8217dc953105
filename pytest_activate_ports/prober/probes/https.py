"""``https``: everything ``tls`` demands, then an HTTP/1.1 request answered with an expected status.

The default expectation is "a web service answered": any 2xx or 3xx, or 401/403
(the UI and REST API on 443 ask for a login before anything else). Set
``status`` to demand more, e.g. ``{kind: https, path: /api/health, status: 200}``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .base import Probe, ProtocolResult
from .connection import Connection
from .http1 import HttpError, build_request, describe, exchange, host_header
from .registry import register
from .tlspolicy import TlsPolicy
from .tlsctx import HANDSHAKE_ERRORS, describe_failure

if TYPE_CHECKING:
    from .material import TlsMaterial
    from .options import ProbeOptions

WEB_ANSWERED = frozenset(range(200, 400)) | {401, 403}


@register
class HttpsProbe(Probe):
    """Passes when ``tls`` passes and ``GET path`` returns a status in ``status``."""

    kind = "https"
    tls_material = frozenset({"ca"})

    def __init__(self, policy: TlsPolicy, path: str, status: frozenset[int]) -> None:
        self.policy = policy
        self.path = path
        self.status = status

    @classmethod
    def from_options(cls, options: ProbeOptions, tls: TlsMaterial) -> HttpsProbe:
        return cls(TlsPolicy.from_options(options, tls), options.request_path(), options.statuses("status", WEB_ANSWERED))

    async def check(self, conn: Connection) -> ProtocolResult:
        secured = await self.policy.establish(conn)
        if not secured.passed:
            return secured
        try:
            head = await exchange(conn.reader, conn.writer,
                                  build_request(host_header(conn.target.name, conn.target.spec_port, 443), self.path))
        except (HttpError, *HANDSHAKE_ERRORS) as exc:
            # A server demanding a client certificate refuses here under TLS 1.3.
            seen = str(exc) if isinstance(exc, HttpError) else describe_failure(exc)
            return ProtocolResult(False, f"GET {self.path}: {seen}; TLS was {secured.detail}", facts=secured.facts)
        finally:
            conn.abort()
        facts = {**secured.facts, "status": str(head.status)}
        seen = f"GET {self.path} answered {describe(head)}"
        if head.status not in self.status:
            expected = "2xx/3xx/401/403" if self.status == WEB_ANSWERED else ", ".join(map(str, sorted(self.status)))
            return ProtocolResult(False, f"{seen}, expected {expected}; {secured.detail}", facts=facts)
        return await self.policy.judge_floor(
            conn, ProtocolResult(True, f"{seen}; {secured.detail}", facts=facts, warnings=secured.warnings))
