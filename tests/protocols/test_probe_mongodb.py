"""The ``mongodb`` probe: BSON and OP_MSG on bytes, then the protocol-faithful emulator (Debian has no MongoDB)."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_activate_ports.emulate.mongodb import hello_reply, op_reply, serve_mongodb
from pytest_activate_ports.prober.probes.mongodb import (
    HEADER,
    OP_MSG,
    Hello,
    build_command,
    build_message,
    parse_message,
)
from pytest_activate_ports.prober.probes.wire import (
    BsonValue,
    DateTime,
    ObjectId,
    Timestamp,
    WireError,
    decode_bson,
    encode_bson,
)

from ..probe_harness import BackgroundLoop
from .conftest import Emulate, ProbePort, run_plugin
from .daemons import Daemon

bson_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.floats(allow_nan=False) | st.text() | st.binary(max_size=20)
    | st.binary(min_size=12, max_size=12).map(ObjectId) | st.integers(0, 2**40).map(DateTime) | st.integers(0, 2**64 - 1).map(Timestamp),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8).filter(lambda k: "\x00" not in k), inner, max_size=4),
    max_leaves=12,
)


@given(st.dictionaries(st.text(max_size=8).filter(lambda k: "\x00" not in k), bson_values, max_size=6))
def test_probe_mongodb_bson_round_trips(document: dict[str, BsonValue]) -> None:
    decoded = decode_bson(encode_bson(document))
    assert decoded == document
    assert encode_bson(decoded) == encode_bson(document)  # ObjectId, datetime, timestamp keep their BSON types


def test_probe_mongodb_hello_request_is_op_msg_with_db_admin() -> None:
    message = build_command("hello", 7)
    length, request_id, response_to, opcode = HEADER.unpack_from(message)
    assert (length, request_id, response_to, opcode) == (len(message), 7, 0, OP_MSG)
    assert message[16:21] == b"\x00\x00\x00\x00\x00"  # no flags, then a kind-0 body section
    assert decode_bson(message[21:]) == {"hello": 1, "$db": "admin"}


def test_probe_mongodb_reads_replica_set_member_reply() -> None:
    reply = parse_message(build_message(hello_reply("db1:27017", "rs0", True, 21, legacy=False), 3, 1))
    assert reply is not None
    hello = Hello.from_document(reply)
    assert (hello.ok, hello.set_name, hello.role, hello.max_wire_version) == (True, "rs0", "primary", 21)
    assert hello.release == "maxWireVersion 21 (MongoDB 7.0)"
    assert Hello.from_document({"ok": 1.0, "msg": "isdbgrid", "isWritablePrimary": True}).role == "mongos router"
    assert Hello.from_document({"ok": 1, "secondary": True, "setName": "rs0"}).role == "secondary"


def test_probe_mongodb_skips_checksum_and_document_sequences() -> None:
    body = encode_bson({"ok": 1.0})
    sequence = b"\x01" + struct.pack("<i", 4 + 5 + len(body)) + b"docs\x00" + body
    message = struct.pack("<I", 1) + sequence + b"\x00" + body + b"CRC!"
    assert parse_message(HEADER.pack(16 + len(message), 1, 0, OP_MSG) + message) == {"ok": 1.0}


def test_probe_mongodb_waits_for_every_truncation() -> None:
    message = build_message(hello_reply("db1:27017", "rs0", True, 21, legacy=False), 3, 1)
    assert all(parse_message(message[:n]) is None for n in range(len(message)))


@pytest.mark.parametrize("data, reason", [
    (b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u10\r\n", "not a MongoDB message header"),
    (b"HTTP/1.0 200 OK\r\n\r\nIt looks like you are trying to access MongoDB over HTTP", "not a MongoDB message header"),
    (op_reply({"ismaster": True, "ok": 1.0}, 1, 1), "legacy OP_REPLY instead of OP_MSG"),
    (HEADER.pack(21, 1, 1, 2012) + bytes(5), "compressed reply"),
    (HEADER.pack(26, 1, 1, OP_MSG) + struct.pack("<I", 4) + b"\x00" + encode_bson({}), "unknown required flag bits"),
    (HEADER.pack(21, 1, 1, OP_MSG) + struct.pack("<I", 0) + b"\x02", "truncated OP_MSG section"),
    (HEADER.pack(26, 1, 1, OP_MSG) + struct.pack("<I", 0) + b"\x02" + encode_bson({}), "unknown OP_MSG section kind 2"),
    (HEADER.pack(27, 1, 1, OP_MSG) + struct.pack("<I", 0) + b"\x00" + b"\x06\x00\x00\x00\x99\x00", "unsupported BSON element type 0x99"),
    (build_message({"ok": 1.0}, 1, 1) + b"\x00", "unexpected bytes after the message"),
])
def test_probe_mongodb_rejects_other_bytes(data: bytes, reason: str) -> None:
    with pytest.raises(WireError, match=reason):
        parse_message(data)


def test_probe_mongodb_bson_nesting_is_bounded() -> None:
    nested: dict[str, BsonValue] = {}
    for _ in range(40):
        nested = {"a": nested}
    with pytest.raises(WireError, match="nested deeper"):
        decode_bson(encode_bson(nested))


@given(st.binary(max_size=300))
def test_probe_mongodb_parser_never_fails_unexpectedly(data: bytes) -> None:
    for candidate in (data, HEADER.pack(16 + 4 + len(data), 1, 1, OP_MSG) + b"\x00\x00\x00\x00" + data):
        try:
            parse_message(candidate)
        except WireError:
            pass


@pytest.mark.asyncio
async def test_probe_mongodb_reports_replica_set(emulate: Emulate, probe_port: ProbePort) -> None:
    port = await emulate(serve_mongodb("127.0.0.1", 0, set_name="activate"))
    result = await probe_port("mongodb", port, {"replica_set": "activate"})
    assert result.passed, result.detail
    assert result.detail == "MongoDB primary, replica set 'activate', maxWireVersion 21 (MongoDB 7.0)"
    assert result.facts == {"mongodb_role": "primary", "max_wire_version": "21", "set_name": "activate"}


@pytest.mark.asyncio
async def test_probe_mongodb_wrong_replica_set_fails(emulate: Emulate, probe_port: ProbePort) -> None:
    port = await emulate(serve_mongodb("127.0.0.1", 0, set_name="rs0", primary=False))
    result = await probe_port("mongodb", port, {"replica_set": "activate"})
    assert not result.passed
    assert result.detail == "MongoDB secondary, replica set 'rs0', maxWireVersion 21 (MongoDB 7.0); expected replica set 'activate'"


@pytest.mark.asyncio
async def test_probe_mongodb_standalone_passes_with_warning_unless_replica_set_required(emulate: Emulate, probe_port: ProbePort) -> None:
    port = await emulate(serve_mongodb("127.0.0.1", 0, set_name=None))
    result = await probe_port("mongodb", port)
    assert result.passed
    assert result.warnings == ("not a replica set member; the ACTIVATE port guide expects a replica set",)
    assert not (await probe_port("mongodb", port, {"replica_set": "rs0"})).passed


@pytest.mark.asyncio
async def test_probe_mongodb_falls_back_to_is_master_on_old_servers(emulate: Emulate, probe_port: ProbePort) -> None:
    port = await emulate(serve_mongodb("127.0.0.1", 0, hello=False, max_wire_version=8))
    result = await probe_port("mongodb", port, {"replica_set": "rs0"})
    assert result.passed, result.detail
    assert result.detail == "MongoDB primary, replica set 'rs0', maxWireVersion 8 (MongoDB 4.2)"


@pytest.mark.asyncio
async def test_probe_mongodb_fails_on_legacy_op_reply(emulate: Emulate, probe_port: ProbePort) -> None:
    port = await emulate(serve_mongodb("127.0.0.1", 0, legacy_opcode=True))
    result = await probe_port("mongodb", port)
    assert not result.passed
    assert result.detail == "not a MongoDB server: legacy OP_REPLY instead of OP_MSG: the server predates MongoDB 3.6"


@pytest.mark.asyncio
async def test_probe_mongodb_rejects_ssh_banner(real_sshd: Daemon, probe_port: ProbePort) -> None:
    result = await probe_port("mongodb", real_sshd.port)
    assert not result.passed
    assert result.detail.startswith("not a MongoDB server: not a MongoDB message header")


@pytest.mark.asyncio
async def test_probe_mongodb_rejects_postgres(real_postgres_plain: Daemon, probe_port: ProbePort) -> None:
    # PostgreSQL reads the OP_MSG as a startup packet with an absurd length and hangs up.
    result = await probe_port("mongodb", real_postgres_plain.port)
    assert not result.passed
    assert "closed the connection" in result.detail


def test_plugin_mongodb_rule_checks_the_replica_set(pytester: pytest.Pytester) -> None:
    probe = {"kind": "mongodb", "replica_set": "activate"}
    with BackgroundLoop() as background:
        good = background.serve(lambda: serve_mongodb("127.0.0.1", 0, set_name="activate", primary=False))
        other = background.serve(lambda: serve_mongodb("127.0.0.1", 0, set_name="rs0"))
        result = run_plugin(pytester, {"metadata": (27017, probe, good), "stray": (27017, probe, other)})
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines_random([
        "*spec.yaml::metadata[[]metadata-host:27017[]] PASSED*",
        "*stray-host:27017 via * is open but the mongodb check failed after * ms: MongoDB primary, replica set 'rs0', *; expected replica set 'activate'*",
    ])


@pytest.mark.parametrize("document, expected", [
    ({"ok": float("nan"), "maxWireVersion": float("inf")}, (False, None, "no maxWireVersion")),
    ({"ok": True, "maxWireVersion": 13.0}, (True, 13, "maxWireVersion 13 (MongoDB 5.0)")),
    ({"ok": "1", "maxWireVersion": "21"}, (False, None, "no maxWireVersion")),
])
def test_probe_mongodb_hello_fields_of_odd_types_do_not_crash(document: dict[str, BsonValue], expected: tuple[object, ...]) -> None:
    hello = Hello.from_document(document)
    assert (hello.ok, hello.max_wire_version, hello.release) == expected
