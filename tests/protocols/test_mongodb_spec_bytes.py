"""The MongoDB probe's BSON and OP_MSG against byte sequences from the specifications, not against its own encoder.

The emulator in ``emulate/mongodb.py`` imports the probe's encoder, so tests
against it alone would let a wrong encoding pass both ways. These bytes come
from bsonspec.org's worked examples and from the OP_MSG layout in MongoDB's
wire protocol reference, written out by hand.
"""

from __future__ import annotations

import struct

import pytest

from pytest_activate_ports.prober.probes.mongodb import OP_MSG, build_command, parse_message
from pytest_activate_ports.prober.probes.wire import WireError, decode_bson, encode_bson

# bsonspec.org, "Examples": {"hello": "world"} and {"BSON": ["awesome", 5.05, 1986]}.
HELLO_WORLD = b"\x16\x00\x00\x00\x02hello\x00\x06\x00\x00\x00world\x00\x00"
AWESOME = (b"\x31\x00\x00\x00\x04BSON\x00\x26\x00\x00\x00\x020\x00\x08\x00\x00\x00awesome\x00"
           b"\x011\x00\x33\x33\x33\x33\x33\x33\x14\x40\x102\x00\xc2\x07\x00\x00\x00\x00")

# {hello: 1, $db: "admin"} by the BSON grammar: int32 0x10 "hello" 1, string 0x02 "$db" "admin".
HELLO_COMMAND_DOC = (b"\x1f\x00\x00\x00" b"\x10hello\x00\x01\x00\x00\x00" b"\x02$db\x00\x06\x00\x00\x00admin\x00" b"\x00")


def op_msg(request_id: int, response_to: int, document: bytes, flags: int = 0) -> bytes:
    """An OP_MSG as the wire protocol reference lays it out: header, flagBits, one kind-0 section."""
    body = struct.pack("<I", flags) + b"\x00" + document
    return struct.pack("<iiii", 16 + len(body), request_id, response_to, 2013) + body


def test_mongodb_bson_decodes_the_specifications_examples() -> None:
    assert decode_bson(HELLO_WORLD) == {"hello": "world"}
    assert decode_bson(AWESOME) == {"BSON": ["awesome", 5.05, 1986]}


def test_mongodb_bson_encodes_the_specifications_example() -> None:
    assert encode_bson({"hello": "world"}) == HELLO_WORLD


def test_mongodb_hello_is_the_op_msg_the_reference_describes() -> None:
    assert OP_MSG == 2013
    assert build_command("hello", 7) == op_msg(7, 0, HELLO_COMMAND_DOC)


def test_mongodb_reply_from_the_reference_layout_is_read() -> None:
    reply_doc = (b"\x39\x00\x00\x00" b"\x08isWritablePrimary\x00\x01" b"\x10maxWireVersion\x00\x15\x00\x00\x00"
                 b"\x01ok\x00" + struct.pack("<d", 1.0) + b"\x00")
    assert decode_bson(reply_doc) == {"isWritablePrimary": True, "maxWireVersion": 21, "ok": 1.0}
    assert parse_message(op_msg(1, 7, reply_doc)) == {"isWritablePrimary": True, "maxWireVersion": 21, "ok": 1.0}


@pytest.mark.parametrize("broken", [
    HELLO_WORLD[:-1],  # the document's terminating NUL is missing
    b"\x17" + HELLO_WORLD[1:],  # the length says one byte more than there is
    HELLO_WORLD[:4] + b"\x99" + HELLO_WORLD[5:],  # no such element type
])
def test_mongodb_bson_refuses_what_the_grammar_does_not_allow(broken: bytes) -> None:
    with pytest.raises(WireError):
        decode_bson(broken)
