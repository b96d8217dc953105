"""A MongoDB server's handshake: OP_MSG ``hello`` (and legacy ``isMaster``) from the public wire protocol docs.

Replies carry the fields drivers read for server discovery (setName,
isWritablePrimary, secondary, hosts, wire versions, topologyVersion with an
ObjectId, localTime as a BSON datetime), so the probe's BSON decoder sees
the same element types a real ``mongod`` sends. Any other command fails
with CommandNotFound, as on a server without that command.
"""

from __future__ import annotations

import asyncio
import itertools
import struct
import time

from ..prober.probes.base import MAX_READ
from ..prober.probes.mongodb import COMMAND_NOT_FOUND, HEADER, MAX_MESSAGE, OP_REPLY, build_message, parse_message
from ..prober.probes.wire import BsonDocument, BsonValue, DateTime, ObjectId, WireError, encode_bson


def hello_reply(address: str, set_name: str | None, primary: bool, max_wire_version: int, legacy: bool) -> dict[str, BsonValue]:
    """The reply document of ``hello`` (``isMaster`` with ``legacy``: the old field name ``ismaster``)."""
    reply: dict[str, BsonValue] = {"topologyVersion": {"processId": ObjectId(bytes(range(12))), "counter": 0}}
    if set_name is not None:
        reply |= {"hosts": [address], "setName": set_name, "setVersion": 1, "me": address}
        if primary:
            reply["primary"] = address
    reply |= {"ismaster" if legacy else "isWritablePrimary": primary, "secondary": set_name is not None and not primary,
              "maxBsonObjectSize": 16 * 1024 * 1024, "maxMessageSizeBytes": 48_000_000, "maxWriteBatchSize": 100_000,
              "localTime": DateTime(int(time.time() * 1000)), "logicalSessionTimeoutMinutes": 30,
              "minWireVersion": 0, "maxWireVersion": max_wire_version, "readOnly": False, "ok": 1.0}
    return reply


def op_reply(document: BsonDocument, request_id: int, response_to: int) -> bytes:
    """A legacy OP_REPLY (MongoDB before 3.6): flags, cursor id, starting point, count, documents."""
    body = struct.pack("<iqii", 0, 0, 0, 1) + encode_bson(document)
    return HEADER.pack(HEADER.size + len(body), request_id, response_to, OP_REPLY) + body


async def serve_mongodb(host: str, port: int, *, set_name: str | None = "rs0", primary: bool = True,
                        max_wire_version: int = 21, hello: bool = True, legacy_opcode: bool = False) -> asyncio.Server:
    """Listen on ``host:port`` as a replica set member (``set_name=None``: a standalone server).

    ``hello=False`` answers ``hello`` with CommandNotFound as servers before
    4.4.2 do; ``legacy_opcode=True`` answers with OP_REPLY as servers before 3.6.
    """
    ids = itertools.count(1)

    async def session(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        name = writer.get_extra_info("sockname")
        address = f"{name[0]}:{name[1]}"
        try:
            while True:
                header = await reader.readexactly(HEADER.size)
                (length, request_id, _, _) = HEADER.unpack(header)
                if not HEADER.size < length <= MAX_MESSAGE:
                    return
                request = parse_message(header + await reader.readexactly(length - HEADER.size))
                if request is None:
                    return
                command = next(iter(request), "")
                if command in ("isMaster", "ismaster") or (command == "hello" and hello):
                    reply: BsonDocument = hello_reply(address, set_name, primary, max_wire_version, command != "hello")
                else:
                    reply = {"ok": 0.0, "errmsg": f"no such command: '{command}'", "code": COMMAND_NOT_FOUND,
                             "codeName": "CommandNotFound"}
                reply_id = next(ids)
                writer.write(op_reply(reply, reply_id, request_id) if legacy_opcode else build_message(reply, reply_id, request_id))
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, WireError):
            pass
        finally:
            writer.close()

    return await asyncio.start_server(session, host, port, limit=MAX_READ)
