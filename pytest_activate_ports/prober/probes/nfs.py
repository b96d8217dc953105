"""``nfs``: the port accepts an ONC RPC NULL call to the NFS program (RFC 5531 over TCP, RFC 1813 / 7530).

Procedure 0 of every RPC program is NULL: no arguments, no results, no
authentication needed, which makes it the standard "is this service alive"
ping. Over TCP each message is record-marked (RFC 5531, section 11): a 4-byte
header whose top bit flags the last fragment and whose low 31 bits give the
fragment length. An accepted SUCCESS reply passes; PROG_MISMATCH is answered
by retrying a requested version inside the server's supported range (a
v4-only server answers a v3 call that way).
"""

from __future__ import annotations

import functools
import struct
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .base import Probe, ProtocolResult
from .connection import Connection
from .options import OptionError
from .registry import register
from .wire import WireError, ask, seen

if TYPE_CHECKING:
    from .material import TlsMaterial
    from .options import ProbeOptions

NFS_PROGRAM = 100003
RPC_VERSION = 2
CALL, REPLY = 0, 1
LAST_FRAGMENT = 0x80000000
MAX_RECORD = 64 * 1024
ACCEPT_STATES = ("SUCCESS", "PROG_UNAVAIL", "PROG_MISMATCH", "PROC_UNAVAIL", "GARBAGE_ARGS", "SYSTEM_ERR")
REJECT_STATES = ("RPC_MISMATCH", "AUTH_ERROR")
SUCCESS, PROG_MISMATCH = 0, 2


def build_null_call(xid: int, version: int, program: int = NFS_PROGRAM) -> bytes:
    """A record-marked CALL of procedure 0 with AUTH_NONE credentials and verifier."""
    body = struct.pack("!10I", xid, CALL, RPC_VERSION, program, version, 0, 0, 0, 0, 0)
    return struct.pack("!I", LAST_FRAGMENT | len(body)) + body


def parse_record(buffer: bytes) -> bytes | None:
    """Reassemble one record from its fragments; None while incomplete; :class:`WireError` if not record marking."""
    record = b""
    position = 0
    while len(buffer) >= position + 4:
        (mark,) = struct.unpack_from("!I", buffer, position)
        size = mark & ~LAST_FRAGMENT
        if len(record) + size > MAX_RECORD:
            raise WireError(f"not an RPC record mark (fragment of {size} bytes): {seen(buffer)}")
        if len(buffer) < position + 4 + size:
            return None
        record += buffer[position + 4:position + 4 + size]
        position += 4 + size
        if mark & LAST_FRAGMENT:
            if position != len(buffer):
                raise WireError("unexpected bytes after the RPC record")
            return record
    return None


@dataclass(frozen=True)
class RpcReply:
    """An RPC reply: accepted (with an accept_stat) or denied (with a reject_stat)."""

    accepted: bool
    status: int
    low: int | None = None  # the supported version range of a *_MISMATCH
    high: int | None = None

    @property
    def state(self) -> str:
        names = ACCEPT_STATES if self.accepted else REJECT_STATES
        name = names[self.status] if self.status < len(names) else f"status {self.status}"
        return name + (f" (supported {self.low}..{self.high})" if self.low is not None else "")


def parse_reply(buffer: bytes, xid: int) -> RpcReply | None:
    """The reply to call ``xid`` from record-marked ``buffer``; None while incomplete."""
    record = parse_record(buffer)
    if record is None:
        return None
    if len(record) < 12:
        raise WireError(f"RPC reply too short: {seen(record)}")
    reply_xid, kind, stat = struct.unpack_from("!3I", record)
    if reply_xid != xid or kind != REPLY or stat > 1:
        raise WireError(f"not an RPC reply to our call (xid {reply_xid:#x}, type {kind}, reply_stat {stat})")
    words = record[12:]
    if stat == 1:  # MSG_DENIED: a reject_stat; RPC_MISMATCH adds the supported RPC versions
        if len(words) < 4:
            raise WireError("truncated RPC denial")
        (reject,) = struct.unpack_from("!I", words)
        if reject == 0 and len(words) >= 12:
            return RpcReply(False, reject, *struct.unpack_from("!2I", words, 4))
        return RpcReply(False, reject)
    if len(words) < 8:
        raise WireError("truncated RPC accepted reply")
    _, verifier_size = struct.unpack_from("!2I", words)
    position = 8 + (verifier_size + 3) // 4 * 4  # opaque data is padded to four bytes
    if verifier_size > 400 or len(words) < position + 4:
        raise WireError("malformed RPC reply verifier")
    (accept,) = struct.unpack_from("!I", words, position)
    if accept == PROG_MISMATCH:
        if len(words) < position + 12:
            raise WireError("PROG_MISMATCH reply without the version range")
        low, high = struct.unpack_from("!2I", words, position + 4)
        return RpcReply(True, accept, low, high)
    return RpcReply(True, accept)


@register
class NfsProbe(Probe):
    """Passes when the NFS program accepts a NULL call for one of ``versions`` (default 3 and 4)."""

    kind = "nfs"

    def __init__(self, versions: tuple[int, ...] = (3, 4)) -> None:
        self.versions = versions

    @classmethod
    def from_options(cls, options: ProbeOptions, tls: TlsMaterial) -> NfsProbe:
        versions = options.integers("versions", frozenset({3, 4}))
        if not all(2 <= v <= 4 for v in versions):
            raise OptionError("versions", f"probe nfs: 'versions' must be NFS versions 2, 3 or 4, not {sorted(versions)}")
        return cls(tuple(sorted(versions)))

    async def check(self, conn: Connection) -> ProtocolResult:
        version = self.versions[0]
        tried: list[str] = []
        try:
            for xid in range(1, len(self.versions) + 1):
                reply = await ask(conn.reader, conn.writer, build_null_call(xid, version),
                                  functools.partial(parse_reply, xid=xid), MAX_RECORD + 64)
                tried.append(f"v{version}: {reply.state}")
                if reply.accepted and reply.status == SUCCESS:
                    facts = {"nfs_version": str(version)}
                    earlier = f" (after {'; '.join(tried[:-1])})" if len(tried) > 1 else ""
                    return ProtocolResult(True, f"NFS v{version} NULL call accepted{earlier}", facts=facts)
                candidates = [v for v in self.versions if v != version and reply.low is not None
                              and reply.high is not None and reply.low <= v <= reply.high]
                if reply.status != PROG_MISMATCH or not reply.accepted or not candidates:
                    break
                version = max(candidates)
        except WireError as exc:
            return ProtocolResult(False, f"not an ONC RPC server: {exc}")
        return ProtocolResult(False, f"RPC server did not accept an NFS NULL call: {'; '.join(tried)}")
