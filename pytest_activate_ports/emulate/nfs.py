"""An ONC RPC server over TCP with record marking that knows only procedure 0 (NULL) of one program.

Replies follow RFC 5531: PROG_UNAVAIL for another program, PROG_MISMATCH
with the supported range for another version, PROC_UNAVAIL for any procedure
but NULL, RPC_MISMATCH for an RPC version other than 2. ``fragments`` splits
each reply into that many record fragments, as servers may.
"""

from __future__ import annotations

import asyncio
import struct

from ..prober.probes.base import MAX_READ
from ..prober.probes.nfs import LAST_FRAGMENT, NFS_PROGRAM, PROG_MISMATCH, REPLY, RPC_VERSION, SUCCESS, parse_record
from ..prober.probes.wire import WireError, read_answer

ACCEPTED, DENIED = 0, 1
PROG_UNAVAIL, PROC_UNAVAIL = 1, 3
RPC_MISMATCH = 0


def answer(call: bytes, program: int, versions: tuple[int, ...]) -> bytes:
    """The reply body (unframed) for one call body."""
    if len(call) < 24:
        raise WireError("short RPC call")
    xid, _, rpc_version, called_program, version, procedure = struct.unpack_from("!6I", call)
    if rpc_version != RPC_VERSION:
        return struct.pack("!6I", xid, REPLY, DENIED, RPC_MISMATCH, RPC_VERSION, RPC_VERSION)
    head = struct.pack("!5I", xid, REPLY, ACCEPTED, 0, 0)  # AUTH_NONE verifier
    if called_program != program:
        return head + struct.pack("!I", PROG_UNAVAIL)
    if version not in versions:
        return head + struct.pack("!3I", PROG_MISMATCH, min(versions), max(versions))
    return head + struct.pack("!I", PROC_UNAVAIL if procedure else SUCCESS)


def frame(body: bytes, fragments: int = 1) -> bytes:
    """Record-mark ``body`` as ``fragments`` pieces, the last one flagged."""
    size = -(-len(body) // fragments)
    pieces = [body[i:i + size] for i in range(0, len(body), size)]
    return b"".join(struct.pack("!I", len(piece) | (LAST_FRAGMENT if i == len(pieces) - 1 else 0)) + piece
                    for i, piece in enumerate(pieces))


async def serve_nfs(host: str, port: int, *, versions: tuple[int, ...] = (3, 4), program: int = NFS_PROGRAM,
                    fragments: int = 1) -> asyncio.Server:
    """Listen on ``host:port`` and answer NULL calls for ``program`` at ``versions``."""

    async def session(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                call = await read_answer(reader, parse_record, MAX_READ)
                writer.write(frame(answer(call, program, versions), fragments))
                await writer.drain()
        except (ConnectionError, WireError):
            pass
        finally:
            writer.close()

    return await asyncio.start_server(session, host, port, limit=MAX_READ)
