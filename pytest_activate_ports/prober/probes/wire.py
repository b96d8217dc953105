"""Byte-level helpers shared by the binary protocol probes and their emulators.

Every binary probe is written the same way: a pure ``parse(buffer)`` that
returns a result once ``buffer`` holds a complete answer, ``None`` while more
bytes are needed, and raises :class:`WireError` as soon as the bytes cannot be
the expected protocol. :func:`read_answer` is the only I/O around those
parsers, so a hostile or confused peer is bounded in one place. BSON (MongoDB's
document encoding) lives here because the probe and its emulator both need it.
"""

from __future__ import annotations

import asyncio
import struct
from typing import Callable, Mapping, TypeVar, Union

from .base import MAX_READ, PeerError

T = TypeVar("T")

BsonValue = Union[float, str, int, bool, bytes, None, "dict[str, BsonValue]", "list[BsonValue]"]
BsonDocument = Mapping[str, BsonValue]

_CHUNK = 4096
_MAX_DEPTH = 32  # nesting limit: a hostile reply must not exhaust the recursion limit
_SERVICES = (
    (b"SSH-", "an SSH banner"),
    (b"HTTP/", "an HTTP response"),
    (b"220", "an SMTP/FTP greeting"),
    (b"AMQP", "an AMQP protocol header"),
    (b"+OK", "a POP3/Redis greeting"),
    (b"-ERR", "a Redis error"),
    (b"\x16\x03", "a TLS record"),
    (b"\x15\x03", "a TLS alert"),
)


class ObjectId(bytes):
    """A BSON ObjectId (12 bytes), kept distinct from binary data so it encodes back the same."""


class DateTime(int):
    """A BSON UTC datetime: milliseconds since the Unix epoch."""


class Timestamp(int):
    """A BSON timestamp (replication clock): seconds in the high 32 bits, a counter in the low."""


class WireError(PeerError):
    """The peer's bytes are not the protocol the probe speaks; the message says what was seen."""


def preview(data: bytes, limit: int = 48) -> str:
    """A short quote of received bytes for a failure detail; binary stays escaped, never raw."""
    quoted = repr(bytes(data[:limit]))[1:]
    return quoted + ("..." if len(data) > limit else "")


def seen(data: bytes) -> str:
    """What the bytes look like: a quote plus a guess at the service when one is recognisable."""
    for prefix, name in _SERVICES:
        if data.startswith(prefix):
            return f"{preview(data)} ({name})"
    return preview(data)


async def read_answer(reader: asyncio.StreamReader, parse: Callable[[bytes], T | None], limit: int = MAX_READ) -> T:
    """Read until ``parse`` recognises a complete answer; raise :class:`WireError` if it never can.

    Reads are small and the total is capped at ``limit``, so a peer that
    streams forever costs at most ``limit`` bytes before the probe gives up.
    """
    buffer = b""
    while True:
        result = parse(buffer)
        if result is not None:
            return result
        if len(buffer) >= limit:
            raise WireError(f"no complete answer in the first {limit} bytes: {seen(buffer)}")
        chunk = await reader.read(min(_CHUNK, limit - len(buffer)))
        if not chunk:
            if not buffer:
                raise WireError("the server closed the connection without answering")
            raise WireError(f"the server closed the connection after {len(buffer)} bytes: {seen(buffer)}")
        buffer += chunk


async def ask(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, message: bytes,
              parse: Callable[[bytes], T | None], limit: int = MAX_READ) -> T:
    """Send ``message`` and read the answer ``parse`` recognises (see :func:`read_answer`)."""
    writer.write(message)
    await writer.drain()
    return await read_answer(reader, parse, limit)


def cstring(data: bytes, offset: int, end: int | None = None) -> tuple[bytes, int]:
    """A NUL-terminated string at ``offset`` and the offset just past its NUL."""
    stop = data.find(b"\x00", offset, len(data) if end is None else end)
    if stop < 0:
        raise WireError("unterminated string")
    return data[offset:stop], stop + 1


def encode_bson(document: BsonDocument) -> bytes:
    """Encode a document (str, bool, int, float, bytes, None, nested dicts and lists)."""
    body = b"".join(_element(name, value) for name, value in document.items())
    return struct.pack("<i", len(body) + 5) + body + b"\x00"


def _element(name: str, value: BsonValue) -> bytes:
    key = name.encode() + b"\x00"
    if isinstance(value, bool):  # before int: bool is an int subclass
        return b"\x08" + key + bytes([value])
    if isinstance(value, DateTime):
        return b"\x09" + key + struct.pack("<q", value)
    if isinstance(value, Timestamp):
        return b"\x11" + key + struct.pack("<Q", value)
    if isinstance(value, ObjectId):
        return b"\x07" + key + value
    if isinstance(value, int):
        if -(2**31) <= value < 2**31:
            return b"\x10" + key + struct.pack("<i", value)
        return b"\x12" + key + struct.pack("<q", value)
    if isinstance(value, float):
        return b"\x01" + key + struct.pack("<d", value)
    if isinstance(value, str):
        raw = value.encode()
        return b"\x02" + key + struct.pack("<i", len(raw) + 1) + raw + b"\x00"
    if isinstance(value, bytes):
        return b"\x05" + key + struct.pack("<iB", len(value), 0) + value
    if value is None:
        return b"\x0a" + key
    if isinstance(value, dict):
        return b"\x03" + key + encode_bson(value)
    return b"\x04" + key + encode_bson({str(i): item for i, item in enumerate(value)})


def decode_bson(data: bytes) -> dict[str, BsonValue]:
    """Decode exactly one BSON document; :class:`WireError` on anything malformed or trailing."""
    document, end = _document(data, 0, 0)
    if end != len(data):
        raise WireError(f"{len(data) - end} unexpected bytes after the BSON document")
    return document


# Fixed-size element types: (struct format, type to wrap the value in), or a byte count
# for values kept raw (decimal128 as 16 bytes; undefined, null, min/max key as None).
_FIXED: dict[int, tuple[str, type] | int] = {
    0x01: ("<d", float), 0x07: ("<12s", ObjectId), 0x08: ("<?", bool), 0x09: ("<q", DateTime),
    0x10: ("<i", int), 0x11: ("<Q", Timestamp), 0x12: ("<q", int), 0x13: 16, 0x06: 0, 0x0A: 0, 0x7F: 0, 0xFF: 0}


def _document(data: bytes, offset: int, depth: int) -> tuple[dict[str, BsonValue], int]:
    if depth > _MAX_DEPTH:
        raise WireError(f"BSON nested deeper than {_MAX_DEPTH} levels")
    if offset + 5 > len(data):
        raise WireError("truncated BSON document")
    (size,) = struct.unpack_from("<i", data, offset)
    end = offset + size
    if size < 5 or end > len(data) or data[end - 1] != 0:
        raise WireError(f"malformed BSON document (declared length {size}, {len(data) - offset} bytes present)")
    document: dict[str, BsonValue] = {}
    position = offset + 4
    while position < end - 1:
        kind = data[position]
        raw_name, position = cstring(data, position + 1, end)
        document[raw_name.decode("utf-8", "replace")], position = _value(kind, data, position, end, depth)
    if position != end - 1:
        raise WireError("BSON element overruns its document")
    return document, end


def _value(kind: int, data: bytes, position: int, end: int, depth: int) -> tuple[BsonValue, int]:
    fixed = _FIXED.get(kind)
    if isinstance(fixed, tuple):
        layout, wrap = fixed
        size = struct.calcsize(layout)
        if position + size > end:
            raise WireError("truncated BSON value")
        value: BsonValue = wrap(struct.unpack_from(layout, data, position)[0])
        return value, position + size
    if isinstance(fixed, int):
        if position + fixed > end:
            raise WireError("truncated BSON value")
        return (data[position:position + fixed] if fixed else None), position + fixed
    if kind in (0x02, 0x0D, 0x0E):  # string, JavaScript code, symbol
        (size,) = struct.unpack_from("<i", data, position) if position + 4 <= end else (-1,)
        stop = position + 4 + size
        if size < 1 or stop > end or data[stop - 1] != 0:
            raise WireError("malformed BSON string")
        return data[position + 4:stop - 1].decode("utf-8", "replace"), stop
    if kind in (0x03, 0x04):
        nested, stop = _document(data, position, depth + 1)
        if stop > end:
            raise WireError("BSON sub-document overruns its parent")
        return (nested if kind == 0x03 else list(nested.values())), stop
    if kind == 0x05:
        (size,) = struct.unpack_from("<i", data, position) if position + 5 <= end else (-1,)
        stop = position + 5 + size
        if size < 0 or stop > end:
            raise WireError("malformed BSON binary")
        return data[position + 5:stop], stop
    if kind == 0x0B:  # regular expression: pattern and options, two C strings
        pattern, position = cstring(data, position, end)
        _, position = cstring(data, position, end)
        return pattern.decode("utf-8", "replace"), position
    raise WireError(f"unsupported BSON element type 0x{kind:02x}")
