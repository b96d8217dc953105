"""The ``amqp`` probe: Connection.Start frames on bytes, then Debian's RabbitMQ and brokers of other versions."""

from __future__ import annotations

import re
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_activate_ports.emulate.amqp import connection_start, field_table, serve_amqp
from pytest_activate_ports.prober.probes.amqp import offered_protocol, parse_start
from pytest_activate_ports.prober.probes.wire import WireError

from ..probe_harness import BackgroundLoop
from .conftest import Emulate, ProbePort, run_plugin
from .daemons import Daemon

START = connection_start({"product": "RabbitMQ", "version": "3.10.8", "capabilities": {"basic.nack": True}})


def test_probe_amqp_parses_connection_start() -> None:
    start = parse_start(START)
    assert start is not None
    assert start.version == (0, 9)
    assert (start.text("product"), start.text("version")) == ("RabbitMQ", "3.10.8")
    assert start.properties["capabilities"] == {"basic.nack": True}
    assert start.mechanisms == ("PLAIN", "AMQPLAIN")


def test_probe_amqp_decodes_every_field_type_rabbitmq_sends() -> None:
    values = (b"\x01tt\x01" + b"\x01bb\xff" + b"\x01BB\xff" + b"\x01ss\xff\xfe" + b"\x01uu\xff\xfe" + b"\x01II\xff\xff\xff\xfe"
              + b"\x01ii\xff\xff\xff\xfe" + b"\x01ll" + struct.pack("!q", -3) + b"\x01f" + b"f" + struct.pack("!f", 0.5)
              + b"\x01d" + b"d" + struct.pack("!d", 1.5) + b"\x01DD\x02\x00\x00\x01\x2c" + b"\x01TT" + struct.pack("!Q", 7)
              + b"\x01xx\x00\x00\x00\x02\x01\x02" + b"\x01VV" + b"\x01AA\x00\x00\x00\x03t\x01V")
    payload = struct.pack("!HHBB", 10, 10, 0, 9) + struct.pack("!I", len(values)) + values + b"\x00\x00\x00\x05PLAIN\x00\x00\x00\x05en_US"
    start = parse_start(struct.pack("!BHI", 1, 0, len(payload)) + payload + b"\xce")
    assert start is not None
    assert start.properties == {"t": True, "b": -1, "B": 255, "s": -2, "u": 65534, "I": -2, "i": 4294967294, "l": -3,
                                "f": 0.5, "d": 1.5, "D": 3.0, "T": 7, "x": b"\x01\x02", "V": None, "A": [True, None]}


def test_probe_amqp_waits_for_every_truncation() -> None:
    assert all(parse_start(START[:n]) is None for n in range(len(START)))


@pytest.mark.parametrize("header, offered", [
    (b"AMQP\x00\x00\x09\x01", "AMQP 0-9-1"),
    (b"AMQP\x00\x01\x00\x00", "AMQP 1.0.0 (protocol id 0)"),
    (b"AMQP\x03\x01\x00\x00", "AMQP 1.0.0 (protocol id 3)"),
    (b"AMQP\x01\x01\x00\x09", "AMQP 0-9"),
])
def test_probe_amqp_names_the_protocol_a_broker_offers(header: bytes, offered: str) -> None:
    assert offered_protocol(header) == offered
    with pytest.raises(WireError, match=re.escape(f"server rejected AMQP 0-9-1 and offered {offered}")):
        parse_start(header)


@pytest.mark.parametrize("data, reason", [
    (b"SSH-2.0-OpenSSH_9.2p1\r\n", "not an AMQP method frame"),
    (START[:-1] + b"\x00", "does not end with 0xCE"),
    (START + b"\x01", "does not end with 0xCE"),
    (connection_start({"x": "y"}).replace(b"\x00\x0a\x00\x0a", b"\x00\x0a\x00\x32", 1), r"expected Connection.Start \(10, 10\)"),
    (struct.pack("!BHI", 1, 0, 3) + b"\x00\x0a\x00\xce", "truncated AMQP method frame"),
    (struct.pack("!BHI", 1, 0, 10**6), "size 1000000"),
])
def test_probe_amqp_rejects_other_bytes(data: bytes, reason: str) -> None:
    with pytest.raises(WireError, match=reason):
        parse_start(data)


@given(st.binary(max_size=300))
def test_probe_amqp_parser_never_fails_unexpectedly(data: bytes) -> None:
    for candidate in (data, struct.pack("!BHI", 1, 0, len(data) + 4) + b"\x00\x0a\x00\x0a" + data + b"\xce"):
        try:
            parse_start(candidate)
        except WireError:
            pass


def test_probe_amqp_field_table_rejects_overrunning_strings() -> None:
    broken = field_table({"product": "RabbitMQ"})[:-2]
    frame_payload = struct.pack("!HHBB", 10, 10, 0, 9) + struct.pack("!I", len(broken) - 4 + 2) + broken[4:]
    with pytest.raises(WireError, match="overruns|truncated"):
        parse_start(struct.pack("!BHI", 1, 0, len(frame_payload)) + frame_payload + b"\xce")


@pytest.mark.asyncio
async def test_probe_amqp_passes_on_debian_rabbitmq(real_rabbitmq: Daemon, probe_port: ProbePort) -> None:
    result = await probe_port("amqp", real_rabbitmq.port)
    assert result.passed, result.detail
    assert result.facts["amqp_product"] == "RabbitMQ"
    assert real_rabbitmq.version.startswith(result.facts["amqp_version"])  # package 3.10.8-1.1+deb12u1, server 3.10.8
    assert result.detail == f"AMQP 0-9-1 Connection.Start from RabbitMQ {result.facts['amqp_version']}"
    assert result.facts["amqp_protocol"] == "0-9"


@pytest.mark.asyncio
async def test_probe_amqp_fails_on_amqp_1_0_broker(emulate: Emulate, probe_port: ProbePort) -> None:
    port = await emulate(serve_amqp("127.0.0.1", 0, offer=b"AMQP\x00\x01\x00\x00"))
    result = await probe_port("amqp", port)
    assert not result.passed
    assert result.detail == "not an AMQP 0-9-1 broker: server rejected AMQP 0-9-1 and offered AMQP 1.0.0 (protocol id 0)"


@pytest.mark.asyncio
async def test_probe_amqp_rejects_ssh_banner(real_sshd: Daemon, probe_port: ProbePort) -> None:
    result = await probe_port("amqp", real_sshd.port)
    assert not result.passed
    assert "not an AMQP method frame on channel 0" in result.detail


@pytest.mark.asyncio
async def test_probe_amqp_rejects_postgres(real_postgres_plain: Daemon, probe_port: ProbePort) -> None:
    result = await probe_port("amqp", real_postgres_plain.port)
    assert not result.passed
    assert result.detail == "not an AMQP 0-9-1 broker: the server closed the connection without answering"


def test_plugin_amqp_rule_passes_on_rabbitmq_and_fails_on_amqp_1_0(pytester: pytest.Pytester, real_rabbitmq: Daemon) -> None:
    with BackgroundLoop() as background:
        amqp10 = background.serve(lambda: serve_amqp("127.0.0.1", 0, offer=b"AMQP\x00\x01\x00\x00"))
        result = run_plugin(pytester, {"broker": (5672, "amqp", real_rabbitmq.port), "qpid": (5672, "amqp", amqp10)})
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines_random([
        "*spec.yaml::broker[[]broker-host:5672[]] PASSED*",
        "*qpid-host:5672 via * is open but the amqp check failed after * ms: not an AMQP 0-9-1 broker: server rejected AMQP 0-9-1 and offered AMQP 1.0.0 (protocol id 0)*",
    ])
