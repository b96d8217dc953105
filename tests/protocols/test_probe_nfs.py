"""The ``nfs`` probe: ONC RPC record marking and replies on bytes, then NFS-Ganesha and the RPC emulator."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_activate_ports.emulate.nfs import answer, frame, serve_nfs
from pytest_activate_ports.prober.probes import registry
from pytest_activate_ports.prober.probes.nfs import (
    NFS_PROGRAM,
    RpcReply,
    build_null_call,
    parse_record,
    parse_reply,
)
from pytest_activate_ports.prober.probes.options import OptionError
from pytest_activate_ports.prober.probes.wire import WireError
from pytest_activate_ports.spec.model import TlsConfig

from .conftest import Emulate, ProbePort, run_plugin
from .daemons import Daemon

# Captured from NFS-Ganesha 4.3 (NFSv4 only): a v3 NULL call, then a v4 one.
GANESHA_V3 = b"\x80\x00\x00\x20\x00\x00\x00\x01\x00\x00\x00\x01" + bytes(12) + b"\x00\x00\x00\x02\x00\x00\x00\x04\x00\x00\x00\x04"
GANESHA_V4 = b"\x80\x00\x00\x18\x00\x00\x00\x02\x00\x00\x00\x01" + bytes(16)


def test_probe_nfs_null_call_matches_rfc_5531() -> None:
    call = build_null_call(0x1234, 3)
    assert call[:4] == b"\x80\x00\x00\x28"  # last fragment, 40 bytes
    assert struct.unpack("!10I", call[4:]) == (0x1234, 0, 2, NFS_PROGRAM, 3, 0, 0, 0, 0, 0)


def test_probe_nfs_reads_captured_ganesha_replies() -> None:
    assert parse_reply(GANESHA_V3, 1) == RpcReply(True, 2, 4, 4)
    assert parse_reply(GANESHA_V3, 1).state == "PROG_MISMATCH (supported 4..4)"  # type: ignore[union-attr]
    assert parse_reply(GANESHA_V4, 2) == RpcReply(True, 0)


def test_probe_nfs_reassembles_fragments() -> None:
    body = answer(build_null_call(9, 3)[4:], NFS_PROGRAM, (3,))
    assert parse_record(frame(body, 3)) == body
    assert parse_reply(frame(body, 3), 9) == RpcReply(True, 0)


def test_probe_nfs_waits_for_every_truncation() -> None:
    data = frame(answer(build_null_call(9, 2)[4:], NFS_PROGRAM, (3, 4)), 2)
    assert all(parse_reply(data[:n], 9) is None for n in range(len(data)))


@pytest.mark.parametrize("call, state", [
    (build_null_call(5, 3, program=100000), "PROG_UNAVAIL"),
    (build_null_call(5, 2), "PROG_MISMATCH (supported 3..4)"),
    (build_null_call(5, 3)[:24] + struct.pack("!I", 1) + build_null_call(5, 3)[28:], "PROC_UNAVAIL"),
    (build_null_call(5, 3)[:12] + struct.pack("!I", 3) + build_null_call(5, 3)[16:], "RPC_MISMATCH (supported 2..2)"),
])
def test_probe_nfs_names_rpc_failures(call: bytes, state: str) -> None:
    reply = parse_reply(frame(answer(call[4:], NFS_PROGRAM, (3, 4))), 5)
    assert reply is not None
    assert reply.state == state


def test_probe_nfs_auth_error_denial() -> None:
    denial = frame(struct.pack("!5I", 5, 1, 1, 1, 5))  # MSG_DENIED, AUTH_ERROR, AUTH_TOOWEAK
    assert parse_reply(denial, 5) == RpcReply(False, 1)
    assert RpcReply(False, 1).state == "AUTH_ERROR"


@pytest.mark.parametrize("data, reason", [
    (b"SSH-2.0-OpenSSH_9.2p1\r\n", "not an RPC record mark"),
    (GANESHA_V4, "not an RPC reply to our call"),  # a reply to xid 2, and we wait for xid 1
    (frame(struct.pack("!3I", 1, 0, 0)), "not an RPC reply to our call"),  # a CALL, not a REPLY
    (frame(b"\x00\x00\x00\x01"), "RPC reply too short"),
    (frame(struct.pack("!5I", 1, 1, 0, 0, 500)), "malformed RPC reply verifier"),
    (frame(struct.pack("!6I", 1, 1, 0, 0, 0, 2)), "without the version range"),
    (GANESHA_V3 + b"\x00", "unexpected bytes after the RPC record"),
])
def test_probe_nfs_rejects_other_bytes(data: bytes, reason: str) -> None:
    with pytest.raises(WireError, match=reason):
        parse_reply(data, 1)


@given(st.binary(max_size=200))
def test_probe_nfs_parser_never_fails_unexpectedly(data: bytes) -> None:
    for candidate in (data, frame(data) if data else data):
        try:
            parse_reply(candidate, 1)
        except WireError:
            pass


@pytest.mark.asyncio
async def test_probe_nfs_passes_on_nfs_ganesha_v4(real_ganesha: Daemon, probe_port: ProbePort) -> None:
    result = await probe_port("nfs", real_ganesha.port)
    assert result.passed, result.detail
    assert result.detail == "NFS v4 NULL call accepted (after v3: PROG_MISMATCH (supported 4..4))"
    assert result.facts == {"nfs_version": "4"}


@pytest.mark.asyncio
async def test_probe_nfs_v3_only_fails_on_v4_only_ganesha(real_ganesha: Daemon, probe_port: ProbePort) -> None:
    result = await probe_port("nfs", real_ganesha.port, {"versions": 3})
    assert not result.passed
    assert result.detail == "RPC server did not accept an NFS NULL call: v3: PROG_MISMATCH (supported 4..4)"


@pytest.mark.asyncio
async def test_probe_nfs_emulated_v3_server_with_fragmented_replies(emulate: Emulate, probe_port: ProbePort) -> None:
    port = await emulate(serve_nfs("127.0.0.1", 0, versions=(3,), fragments=3))
    result = await probe_port("nfs", port)
    assert result.passed, result.detail
    assert result.detail == "NFS v3 NULL call accepted"


@pytest.mark.asyncio
async def test_probe_nfs_fails_on_another_rpc_program(emulate: Emulate, probe_port: ProbePort) -> None:
    port = await emulate(serve_nfs("127.0.0.1", 0, program=100000))  # a portmapper, say
    result = await probe_port("nfs", port)
    assert not result.passed
    assert result.detail == "RPC server did not accept an NFS NULL call: v3: PROG_UNAVAIL"


@pytest.mark.asyncio
async def test_probe_nfs_rejects_ssh_banner(real_sshd: Daemon, probe_port: ProbePort) -> None:
    result = await probe_port("nfs", real_sshd.port)
    assert not result.passed
    assert result.detail.startswith("not an ONC RPC server: not an RPC record mark")


def test_probe_nfs_rejects_versions_outside_nfs() -> None:
    with pytest.raises(OptionError, match="must be NFS versions 2, 3 or 4"):
        registry.build("nfs", {"versions": [3, 5]}, TlsConfig())


def test_plugin_nfs_rule_passes_on_ganesha_and_fails_on_ssh(
        pytester: pytest.Pytester, real_ganesha: Daemon, real_sshd: Daemon) -> None:
    result = run_plugin(pytester, {"storage": (2049, "nfs", real_ganesha.port), "misrouted": (2049, "nfs", real_sshd.port)})
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines_random([
        "*spec.yaml::storage[[]storage-host:2049[]] PASSED*",
        "*misrouted-host:2049 via * is open but the nfs check failed after * ms: not an ONC RPC server: not an RPC record mark*",
    ])
