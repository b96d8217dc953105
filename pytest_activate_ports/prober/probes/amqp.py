"""``amqp``: the port answers the AMQP 0-9-1 protocol header with Connection.Start.

A client opens with the 8-byte header ``AMQP 0 0 9 1``. A 0-9-1 broker
(RabbitMQ) answers with a method frame carrying Connection.Start (class 10,
method 10), whose server-properties table names the product and version. A
broker that does not speak 0-9-1 answers with the protocol header it does
speak and closes: the probe fails and says what was offered (AMQP 1.0, say).
Field-table value types follow RabbitMQ's reading of the spec (its errata),
which is what 0-9-1 brokers actually send.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Mapping, Union

from .base import Probe, ProtocolResult
from .connection import Connection
from .registry import register
from .wire import WireError, ask, seen

PROTOCOL_HEADER = b"AMQP\x00\x00\x09\x01"
FRAME_METHOD = 1
FRAME_END = 0xCE
CONNECTION_START = (10, 10)
MAX_FRAME = 64 * 1024  # Connection.Start precedes frame-size negotiation; real ones are < 1 KiB
_MAX_DEPTH = 16

FieldValue = Union[bool, int, float, str, bytes, None, "dict[str, FieldValue]", "list[FieldValue]"]
_SCALARS = {b"t": "?", b"b": "b", b"B": "B", b"s": "h", b"u": "H", b"I": "i", b"i": "I",
            b"l": "q", b"f": "f", b"d": "d", b"T": "Q"}


@dataclass(frozen=True)
class ConnectionStart:
    """The broker's Connection.Start: protocol version, server properties, auth mechanisms."""

    version: tuple[int, int]
    properties: Mapping[str, FieldValue]
    mechanisms: tuple[str, ...]

    def text(self, name: str) -> str:
        """A server property as text (long strings arrive as bytes)."""
        value = self.properties.get(name)
        return value.decode("utf-8", "replace") if isinstance(value, bytes) else "" if value is None else str(value)


def parse_start(buffer: bytes) -> ConnectionStart | None:
    """Connection.Start from ``buffer``; None while incomplete; :class:`WireError` otherwise."""
    if buffer.startswith(b"AMQP"[:len(buffer)]) and len(buffer) < 8:
        return None
    if buffer.startswith(b"AMQP"):
        raise WireError(f"server rejected AMQP 0-9-1 and offered {offered_protocol(buffer[:8])}")
    if len(buffer) < 7:
        return None
    kind, channel, size = struct.unpack_from("!BHI", buffer)
    if kind != FRAME_METHOD or channel != 0 or size > MAX_FRAME:
        raise WireError(f"not an AMQP method frame on channel 0 (type {kind}, channel {channel}, size {size}): {seen(buffer)}")
    if len(buffer) < 8 + size:
        return None
    if buffer[7 + size] != FRAME_END or len(buffer) > 8 + size:
        raise WireError(f"AMQP frame does not end with 0xCE where its size says: {seen(buffer)}")
    return _connection_start(buffer[7:7 + size])


def offered_protocol(header: bytes) -> str:
    """Describe an AMQP protocol header: ``AMQP 0-9-1``, ``AMQP 1.0.0 (protocol id 0)``..."""
    if len(header) != 8:
        return seen(header)
    a, b, c, d = header[4:]
    if a == 0 and b == 0:
        return f"AMQP 0-{c}-{d}"
    if a == 1 and b == 1:  # AMQP 0-8 and 0-9 (pre-0-9-1) headers: class 1, instance 1
        return f"AMQP {c}-{d}"
    return f"AMQP {b}.{c}.{d} (protocol id {a})"


def _connection_start(payload: bytes) -> ConnectionStart:
    if len(payload) < 6:
        raise WireError(f"truncated AMQP method frame: {seen(payload)}")
    class_id, method_id, major, minor = struct.unpack_from("!HHBB", payload)
    if (class_id, method_id) != CONNECTION_START:
        raise WireError(f"expected Connection.Start (10, 10), got method ({class_id}, {method_id})")
    properties, position = _table(payload, 6, 0)
    mechanisms, position = _long_string(payload, position)
    _long_string(payload, position)  # locales: must be present, not reported
    return ConnectionStart((major, minor), properties, tuple(mechanisms.decode("utf-8", "replace").split()))


def _long_string(data: bytes, position: int) -> tuple[bytes, int]:
    if position + 4 > len(data):
        raise WireError("truncated AMQP long string")
    (size,) = struct.unpack_from("!I", data, position)
    end = position + 4 + size
    if end > len(data):
        raise WireError("AMQP long string overruns its frame")
    return data[position + 4:end], end


def _table(data: bytes, position: int, depth: int) -> tuple[dict[str, FieldValue], int]:
    if depth > _MAX_DEPTH:
        raise WireError(f"AMQP field tables nested deeper than {_MAX_DEPTH}")
    raw, end = _long_string(data, position)
    table: dict[str, FieldValue] = {}
    offset = 0
    while offset < len(raw):
        size = raw[offset]
        name = raw[offset + 1:offset + 1 + size]
        if len(name) != size or offset + 1 + size >= len(raw):
            raise WireError("truncated AMQP field table entry")
        table[name.decode("utf-8", "replace")], offset = _field(raw, offset + 1 + size, depth)
    return table, end


def _field(data: bytes, position: int, depth: int) -> tuple[FieldValue, int]:
    tag = data[position:position + 1]
    position += 1
    if tag in _SCALARS:
        fmt = "!" + _SCALARS[tag]
        if position + struct.calcsize(fmt) > len(data):
            raise WireError("truncated AMQP field value")
        value: FieldValue = struct.unpack_from(fmt, data, position)[0]
        return value, position + struct.calcsize(fmt)
    if tag in (b"S", b"x"):
        return _long_string(data, position)
    if tag == b"F":
        return _table(data, position, depth + 1)
    if tag == b"A":
        raw, end = _long_string(data, position)
        items: list[FieldValue] = []
        offset = 0
        while offset < len(raw):
            item, offset = _field(raw, offset, depth + 1)
            items.append(item)
        return items, end
    if tag == b"D":  # decimal: scale octet, then a 32-bit integer
        if position + 5 > len(data):
            raise WireError("truncated AMQP decimal")
        scale, unscaled = struct.unpack_from("!Bi", data, position)
        return unscaled / 10**scale, position + 5
    if tag == b"V":
        return None, position
    raise WireError(f"unknown AMQP field type {tag!r}")


@register
class AmqpProbe(Probe):
    """Passes when the broker answers the 0-9-1 header with Connection.Start; reports product and version."""

    kind = "amqp"

    async def check(self, conn: Connection) -> ProtocolResult:
        try:
            start = await ask(conn.reader, conn.writer, PROTOCOL_HEADER, parse_start, 8 + MAX_FRAME)
        except WireError as exc:
            return ProtocolResult(False, f"not an AMQP 0-9-1 broker: {exc}")
        product = start.text("product") or "unnamed broker"
        version = start.text("version")
        facts = {"amqp_product": product, "amqp_version": version, "amqp_protocol": "{}-{}".format(*start.version),
                 "amqp_mechanisms": " ".join(start.mechanisms)}
        if start.text("cluster_name"):
            facts["amqp_cluster"] = start.text("cluster_name")
        return ProtocolResult(True, f"AMQP 0-9-1 Connection.Start from {product} {version}".rstrip(), facts=facts)
