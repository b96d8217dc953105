"""How long one ``mtls`` probe takes against a loopback CAC listener: the median of 20, printed, never asserted.

Run ``pytest tests/tls/test_mtls_timing.py -s`` to see the figures. The
listener runs outside the probing event loop (a thread, or ``openssl
s_server`` in its own process) so server-side crypto is not billed to the probe.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import trustme

from pytest_activate_ports.emulate.tls import serve_tls, server_context

from ..probe_harness import BackgroundLoop, run_probe
from .conftest import Pki
from .daemons import s_server

ROUNDS = 20


async def median_ms(pki: Pki, port: int) -> float:
    probe = pki.probe("mtls")
    elapsed = []
    for _ in range(ROUNDS):
        started = time.perf_counter()
        result = await run_probe(probe, port)
        elapsed.append((time.perf_counter() - started) * 1000)
        assert result.passed, result.detail
    return statistics.median(elapsed)


def report(capsys: pytest.CaptureFixture[str], record_property: Callable[[str, object], None], server: str, ms: float) -> None:
    record_property(f"mtls_median_ms_{server}", f"{ms:.1f}")
    with capsys.disabled():
        print(f"\nmtls probe against {server}: median of {ROUNDS} = {ms:.1f} ms")


def test_mtls_probe_time_against_an_asyncio_listener(
        pki: Pki, localhost_cert: trustme.LeafCert, capsys: pytest.CaptureFixture[str],
        record_property: Callable[[str, object], None]) -> None:
    context = server_context(localhost_cert, client_ca=pki.client_ca)
    with BackgroundLoop() as background:
        port = background.serve(lambda: serve_tls("127.0.0.1", 0, context))
        ms = asyncio.run(median_ms(pki, port))
    report(capsys, record_property, "an asyncio/ssl listener (TLS 1.3)", ms)


def test_mtls_probe_time_against_openssl_s_server(
        pki: Pki, localhost_cert: trustme.LeafCert, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        record_property: Callable[[str, object], None]) -> None:
    localhost_cert.private_key_and_cert_chain_pem.write_to_path(str(tmp_path / "server.pem"))
    pki.client_ca.cert_pem.write_to_path(str(tmp_path / "client-ca.pem"))
    daemon = s_server(tmp_path, tmp_path / "server.pem", tmp_path / "client-ca.pem", "-Verify", "1", "-verify_return_error")
    try:
        ms = asyncio.run(median_ms(pki, daemon.port))
    finally:
        daemon.stop()
    report(capsys, record_property, "openssl s_server -Verify 1 (TLS 1.3)", ms)
