"""``http``: the port answers plain HTTP/1.x (internal APIs, the IDE, RabbitMQ management).

Any status proves an HTTP server is listening, which is all the port guide
promises for these services; ``status`` narrows that when a deployment knows
what its health path returns.
"""

from __future__ import annotations

from collections.abc import Set as AbstractSet
from typing import TYPE_CHECKING

from .base import Probe, ProtocolResult
from .connection import Connection
from .http1 import HttpError, ResponseHead, TlsAnswer, build_request, describe, exchange, host_header
from .refusals import PLAIN_HTTP_TO_TLS, read_refusal, refusal_text
from .registry import register

if TYPE_CHECKING:
    from .material import TlsMaterial
    from .options import ProbeOptions

TLS_HINT = "check it with probe: https (or tls)"


def judge_status(head: ResponseHead, path: str, expected: AbstractSet[int]) -> ProtocolResult:
    """Pass on any HTTP response, or only on ``expected`` statuses when given."""
    seen = describe(head)
    facts = {"status": str(head.status), "server": head.header("Server") or ""}
    if expected and head.status not in expected:
        wanted = "/".join(str(code) for code in sorted(expected))
        return ProtocolResult(False, f"GET {path} answered {seen}, expected status {wanted}", facts=facts)
    return ProtocolResult(True, f"GET {path} answered {seen}", facts=facts)


@register
class HttpProbe(Probe):
    """Sends ``GET path`` and passes on an HTTP response (of an expected status, if given)."""

    kind = "http"

    def __init__(self, path: str = "/", statuses: AbstractSet[int] = frozenset()) -> None:
        self.path = path
        self.statuses = frozenset(statuses)

    @classmethod
    def from_options(cls, options: ProbeOptions, tls: TlsMaterial) -> HttpProbe:
        return cls(options.request_path(), options.statuses("status", frozenset()))

    async def check(self, conn: Connection) -> ProtocolResult:
        host = host_header(conn.target.name, conn.target.spec_port, 80)
        try:
            head = await exchange(conn.reader, conn.writer, build_request(host, self.path))
        except TlsAnswer as exc:
            return ProtocolResult(False, f"GET {self.path}: {exc}; {TLS_HINT}")
        except HttpError as exc:
            return ProtocolResult(False, f"GET {self.path}: {exc}")
        if await read_refusal(conn.reader, head) == PLAIN_HTTP_TO_TLS:
            # Any status passes, but this one only says the port wants TLS: it serves nothing over plain HTTP.
            return ProtocolResult(False, f"GET {self.path} answered {describe(head)} {refusal_text(PLAIN_HTTP_TO_TLS)}: "
                                         f"the port speaks TLS, not plain HTTP; {TLS_HINT}",
                                  facts={"status": str(head.status), "server": head.header("Server") or ""})
        return judge_status(head, self.path, self.statuses)

