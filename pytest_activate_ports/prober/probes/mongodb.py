"""``mongodb``: the port answers an OP_MSG ``hello`` (MongoDB wire protocol); reports the replica set.

``hello`` is the handshake every driver sends before authenticating, so it
needs no credentials. Servers older than the ``hello`` command (before 4.4.2
and the matching 4.2/4.0/3.6 patch releases) answer CommandNotFound; the probe
then asks the legacy ``isMaster`` on the same connection. Servers older than
3.6 do not speak OP_MSG at all: that fails with the reason.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .base import Probe, ProtocolResult
from .connection import Connection
from .registry import register
from .wire import BsonDocument, BsonValue, WireError, ask, decode_bson, encode_bson, seen

if TYPE_CHECKING:
    from .material import TlsMaterial
    from .options import ProbeOptions

OP_REPLY = 1
OP_COMPRESSED = 2012
OP_MSG = 2013
HEADER = struct.Struct("<iiii")  # messageLength, requestID, responseTo, opCode (little-endian)
CHECKSUM_PRESENT = 1 << 0
REQUIRED_FLAGS = 0xFFFF  # OP_MSG: unknown bits in the low half must make a reader fail
KNOWN_FLAGS = CHECKSUM_PRESENT | 1 << 1  # checksumPresent, moreToCome
MAX_MESSAGE = 64 * 1024
COMMAND_NOT_FOUND = 59
RELEASES = {6: "3.6", 7: "4.0", 8: "4.2", 9: "4.4", 13: "5.0", 17: "6.0", 21: "7.0", 25: "8.0"}


def build_message(document: BsonDocument, request_id: int, response_to: int = 0) -> bytes:
    """An OP_MSG with ``document`` as its single body section (kind 0), no flags."""
    body = struct.pack("<I", 0) + b"\x00" + encode_bson(document)
    return HEADER.pack(HEADER.size + len(body), request_id, response_to, OP_MSG) + body


def build_command(command: str, request_id: int) -> bytes:
    """The OP_MSG for ``{command: 1, $db: "admin"}``: how drivers send ``hello``."""
    return build_message({command: 1, "$db": "admin"}, request_id)


def parse_message(buffer: bytes) -> dict[str, BsonValue] | None:
    """The body document of the OP_MSG in ``buffer``; None while incomplete; :class:`WireError` otherwise."""
    if len(buffer) < HEADER.size:
        return None
    length, _, _, opcode = HEADER.unpack_from(buffer)
    if not HEADER.size + 5 <= length <= MAX_MESSAGE or opcode not in (OP_MSG, OP_REPLY, OP_COMPRESSED):
        raise WireError(f"not a MongoDB message header (length {length}, opCode {opcode}): {seen(buffer)}")
    if len(buffer) < length:
        return None
    if len(buffer) > length:
        raise WireError(f"{len(buffer) - length} unexpected bytes after the message")
    if opcode == OP_REPLY:
        raise WireError("legacy OP_REPLY instead of OP_MSG: the server predates MongoDB 3.6")
    if opcode == OP_COMPRESSED:
        raise WireError("compressed reply although the probe negotiated no compression")
    return _body(buffer[HEADER.size:length])


def _body(message: bytes) -> dict[str, BsonValue]:
    (flags,) = struct.unpack_from("<I", message)
    if flags & REQUIRED_FLAGS & ~KNOWN_FLAGS:
        raise WireError(f"OP_MSG with unknown required flag bits 0x{flags:08x}")
    end = len(message) - (4 if flags & CHECKSUM_PRESENT else 0)
    body: dict[str, BsonValue] | None = None
    position = 4
    while position < end:
        kind = message[position]
        if position + 5 > end:
            raise WireError("truncated OP_MSG section")
        (size,) = struct.unpack_from("<i", message, position + 1)
        if size < 5 or position + 1 + size > end:
            raise WireError("OP_MSG section overruns the message")
        if kind == 0:
            body = decode_bson(message[position + 1:position + 1 + size])
        elif kind != 1:  # kind 1: a document sequence, not used in hello replies
            raise WireError(f"unknown OP_MSG section kind {kind}")
        position += 1 + size
    if body is None:
        raise WireError("OP_MSG without a body section")
    return body


@dataclass(frozen=True)
class Hello:
    """What a ``hello`` (or ``isMaster``) reply says about the server's place in a deployment."""

    ok: bool
    set_name: str | None
    role: str
    max_wire_version: int | None
    error: str = ""
    code: int | None = None

    @classmethod
    def from_document(cls, doc: dict[str, BsonValue]) -> Hello:
        def number(key: str) -> int | None:
            value = doc.get(key)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                return None
            return None if isinstance(value, float) and not value.is_integer() else int(value)  # NaN, inf: None

        set_name = doc.get("setName")
        if doc.get("msg") == "isdbgrid":
            role = "mongos router"
        elif doc.get("isWritablePrimary") is True or doc.get("ismaster") is True:
            role = "primary" if isinstance(set_name, str) else "standalone"
        elif doc.get("secondary") is True:
            role = "secondary"
        elif doc.get("arbiterOnly") is True:
            role = "arbiter"
        else:
            role = "member without a primary or secondary state"
        return cls(doc.get("ok") == 1, set_name if isinstance(set_name, str) else None, role,
                   number("maxWireVersion"), str(doc.get("errmsg", "")), number("code"))

    @property
    def release(self) -> str:
        version = self.max_wire_version
        if version is None:
            return "no maxWireVersion"
        name = RELEASES.get(version)
        return f"maxWireVersion {version}" + (f" (MongoDB {name})" if name else "")


@register
class MongodbProbe(Probe):
    """Passes on a successful ``hello``; with ``replica_set`` the server's setName must match."""

    kind = "mongodb"

    def __init__(self, replica_set: str | None = None) -> None:
        self.replica_set = replica_set

    @classmethod
    def from_options(cls, options: ProbeOptions, tls: TlsMaterial) -> MongodbProbe:
        return cls(options.text("replica_set"))

    async def check(self, conn: Connection) -> ProtocolResult:
        try:
            doc = await ask(conn.reader, conn.writer, build_command("hello", 1), parse_message, MAX_MESSAGE)
            if Hello.from_document(doc).code == COMMAND_NOT_FOUND:
                doc = await ask(conn.reader, conn.writer, build_command("isMaster", 2), parse_message, MAX_MESSAGE)
        except WireError as exc:
            return ProtocolResult(False, f"not a MongoDB server: {exc}")
        hello = Hello.from_document(doc)
        if not hello.ok:
            return ProtocolResult(False, f"MongoDB answered hello with an error: {hello.error or doc}")
        facts = {"mongodb_role": hello.role}
        if hello.max_wire_version is not None:
            facts["max_wire_version"] = str(hello.max_wire_version)
        if hello.set_name is not None:
            facts["set_name"] = hello.set_name
        where = f"replica set {hello.set_name!r}" if hello.set_name else "no replica set"
        detail = f"MongoDB {hello.role}, {where}, {hello.release}"
        if self.replica_set is not None and hello.set_name != self.replica_set:
            return ProtocolResult(False, f"{detail}; expected replica set {self.replica_set!r}", facts=facts)
        standalone = hello.role == "standalone" and self.replica_set is None
        warnings = ("not a replica set member; the ACTIVATE port guide expects a replica set",) if standalone else ()
        return ProtocolResult(True, detail, facts=facts, warnings=warnings)
