"""The opening of an AMQP 0-9-1 broker: protocol header in, Connection.Start out (AMQP 0-9-1, section 4.2.2).

A broker that cannot speak the client's version answers with the header it
does support and closes (``offer`` emulates, say, an AMQP 1.0-only broker).
The rest of the connection negotiation is not emulated.
"""

from __future__ import annotations

import asyncio
import struct
from typing import Mapping, Union

from ..prober.probes.amqp import CONNECTION_START, FRAME_END, FRAME_METHOD, PROTOCOL_HEADER
from ..prober.probes.base import MAX_READ

Property = Union[str, bool, int, "Mapping[str, Property]"]
CAPABILITIES = {"publisher_confirms": True, "basic.nack": True, "consumer_cancel_notify": True,
                "connection.blocked": True, "authentication_failure_close": True}


def field_table(table: Mapping[str, Property]) -> bytes:
    """Encode a field table: strings as long strings (S), booleans (t), 32-bit integers (I), tables (F)."""
    body = b""
    for name, value in table.items():
        raw = name.encode()
        body += bytes([len(raw)]) + raw
        if isinstance(value, bool):
            body += b"t" + bytes([value])
        elif isinstance(value, int):
            body += b"I" + struct.pack("!i", value)
        elif isinstance(value, str):
            text = value.encode()
            body += b"S" + struct.pack("!I", len(text)) + text
        else:
            body += b"F" + field_table(value)
    return struct.pack("!I", len(body)) + body


def connection_start(properties: Mapping[str, Property], mechanisms: str = "PLAIN AMQPLAIN") -> bytes:
    """A method frame on channel 0 carrying Connection.Start for protocol 0-9."""
    payload = struct.pack("!HHBB", *CONNECTION_START, 0, 9) + field_table(properties)
    for text in (mechanisms, "en_US"):
        payload += struct.pack("!I", len(text)) + text.encode()
    return struct.pack("!BHI", FRAME_METHOD, 0, len(payload)) + payload + bytes([FRAME_END])


async def serve_amqp(host: str, port: int, *, product: str = "RabbitMQ", version: str = "3.13.7",
                     offer: bytes | None = None) -> asyncio.Server:
    """Listen on ``host:port``; answer the 0-9-1 header with Connection.Start, or with ``offer`` and close."""
    properties: dict[str, Property] = {"product": product, "version": version, "platform": "emulated",
                                       "capabilities": CAPABILITIES}

    async def session(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            header = await reader.readexactly(len(PROTOCOL_HEADER))
            if offer is not None or header != PROTOCOL_HEADER:
                writer.write(offer or PROTOCOL_HEADER)
                return
            writer.write(connection_start(properties))
            await writer.drain()
            await reader.read(MAX_READ)  # Connection.Start-Ok, or the client hanging up
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    return await asyncio.start_server(session, host, port, limit=MAX_READ)
