"""``http-redirect``: port 80 exists only to send clients to HTTPS on the same host.

A redirect that stays on ``http://``, points at another host, or a page served
in clear text are the mistakes this catches. Two requests are made, for ``/``
and for a second path with a query, because a load balancer that only
redirects the root (or drops the request target) still serves everything
else over plain HTTP.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from .base import Probe, ProtocolResult, SubCheck
from .connection import Connection
from .http1 import HttpError, ResponseHead, build_request, describe, exchange, host_header
from .registry import register

if TYPE_CHECKING:
    from .material import TlsMaterial
    from .options import ProbeOptions

REDIRECTS = frozenset({301, 302, 307, 308})
SECOND_PATH = "/activate-ports-probe?check=redirect"


def judge_redirect(head: ResponseHead, path: str, host: str, port: int) -> SubCheck:
    """Whether the answer to ``GET path`` redirects to ``https://host[:port]``."""
    name = f"GET {path}"
    if head.status not in REDIRECTS:
        return SubCheck(name, False, f"{name} answered {describe(head)}, not a redirect to https://{host}")
    location = head.header("Location")
    if not location:
        return SubCheck(name, False, f"{name} answered {head.status} without a Location header")
    shown = f"{head.status} Location {location[:120]!r}"
    try:  # urlsplit itself rejects some malformed URLs ("https://["), .port others
        target = urlsplit(location)
        target_port = target.port or 443
    except ValueError:
        return SubCheck(name, False, f"{name} answered {shown}: not a valid URL")
    if target.scheme.lower() != "https":
        return SubCheck(name, False, f"{name} answered {shown}, which does not go to https://")
    if (target.hostname or "") != host.lower().strip("[]"):
        return SubCheck(name, False, f"{name} answered {shown}, another host than {host}")
    if target_port != port:
        return SubCheck(name, False, f"{name} answered {shown}, port {target_port} instead of {port}")
    return SubCheck(name, True, f"{name} -> {shown}")


def keeps_target(location: str, path: str) -> bool:
    """Whether a redirect keeps the request target, so deep links survive the move to HTTPS."""
    try:
        target = urlsplit(location)
    except ValueError:
        return False
    kept = (target.path or "/") + (f"?{target.query}" if target.query else "")
    return kept == path


@register
class HttpRedirectProbe(Probe):
    """Passes when ``/`` and a second path both redirect to HTTPS on the expected host and port.

    The expected host defaults to the host name the spec dials (the same host);
    ``https_host``/``https_port`` name a different canonical target.
    """

    kind = "http-redirect"

    def __init__(self, path: str = SECOND_PATH, https_host: str | None = None, https_port: int = 443) -> None:
        self.paths = ("/", path)
        self.https_host = https_host
        self.https_port = https_port

    @classmethod
    def from_options(cls, options: ProbeOptions, tls: TlsMaterial) -> HttpRedirectProbe:
        return cls(
            options.request_path("path", SECOND_PATH),
            options.text("https_host"),
            options.integer("https_port", 443, 1, 65535),
        )

    async def check(self, conn: Connection) -> ProtocolResult:
        host = host_header(conn.target.name, conn.target.spec_port, 80)
        expected = self.https_host or conn.target.name
        checks: list[SubCheck] = []
        warnings: list[str] = []
        for path in self.paths:
            reader, writer = (conn.reader, conn.writer) if not checks else await conn.open()
            try:
                head = await exchange(reader, writer, build_request(host, path))
            except HttpError as exc:
                return ProtocolResult(False, f"GET {path}: {exc}", tuple(checks))
            checks.append(judge_redirect(head, path, expected, self.https_port))
            location = head.header("Location")
            if checks[-1].passed and location and not keeps_target(location, path):
                warnings.append(f"GET {path} redirects to {location[:120]!r}, dropping the requested path")
        failed = [check for check in checks if not check.passed]
        detail = "; ".join(check.detail for check in failed or checks)
        facts = {check.name: check.detail for check in checks}
        return ProtocolResult(not failed, detail, tuple(checks), facts, tuple(warnings))
