"""mTLS sub-checks end to end: a real CAC-style listener, the evidence record, and the report's failure entry."""

from __future__ import annotations

import asyncio
import ssl
import threading
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
import trustme

from pytest_activate_ports.emulate.tls import listening_port, serve_tls, server_context
from pytest_activate_ports.evidence.report import main

from .conftest import run_vantage

SUBCHECKS = ["server-certificate", "no-client-cert-rejected", "untrusted-client-cert-rejected", "client-cert-accepted"]


class ThreadedTlsListener:
    """A TLS listener on its own loop thread: the pytest run under test blocks the test's thread meanwhile."""

    def __init__(self, context: ssl.SSLContext) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.server = asyncio.run_coroutine_threadsafe(serve_tls("127.0.0.1", 0, context), self.loop).result(5)
        self.port = listening_port(self.server)

    def close(self) -> None:
        async def stop() -> None:
            self.server.close()
            await self.server.wait_closed()
            handlers = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
            for task in handlers:
                task.cancel()
            await asyncio.gather(*handlers, return_exceptions=True)
        asyncio.run_coroutine_threadsafe(stop(), self.loop).result(5)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join()
        self.loop.close()


@pytest.fixture
def cac_listener(request: pytest.FixtureRequest, localhost_cert: trustme.LeafCert) -> Iterator[tuple[int, trustme.CA]]:
    """An 8443 listener trusting a client CA; ``indirect`` param ``"optional"`` makes it not demand a certificate."""
    client_ca = trustme.CA(organization_name="evidence test client CA")
    verify = ssl.CERT_OPTIONAL if getattr(request, "param", "required") == "optional" else ssl.CERT_REQUIRED
    listener = ThreadedTlsListener(server_context(localhost_cert, client_ca=client_ca, verify=verify))
    yield listener.port, client_ca
    listener.close()


@pytest.fixture
def cac_spec(pytester: pytest.Pytester, cac_listener: tuple[int, trustme.CA], ca: trustme.CA,
             write_spec: Callable[[str], Path]) -> Path:
    port, client_ca = cac_listener
    leaf = client_ca.issue_cert("jane.doe@example.mil")
    ca.cert_pem.write_to_path(str(pytester.path / "ca.pem"))
    leaf.cert_chain_pems[0].write_to_path(str(pytester.path / "client.pem"))
    leaf.private_key_pem.write_to_path(str(pytester.path / "client.key"))
    return write_spec(f"""
        version: 1
        name: cac
        hosts:
          lb: {{address: 127.0.0.1, roles: [control-plane], port_map: {{8443: {port}}}}}
        tls: {{ca: ca.pem, client_cert: client.pem, client_key: client.key}}
        rules:
          - id: cac-mtls
            from: internet
            to: lb
            port: 8443
            expect: required
            probe: mtls
            reason: CAC/Smart Card authentication (mTLS)
    """)


def subchecks(record: dict[str, Any]) -> dict[str, bool | None]:
    [result] = record["results"]
    return {check["name"]: check["passed"] for check in result["protocol"]["checks"]}


def test_evidence_records_every_mtls_subcheck_of_an_enforcing_listener(
        pytester: pytest.Pytester, cac_spec: Path, validate: Callable[[Path], dict[str, Any]]) -> None:
    run_vantage(pytester, cac_spec, "internet", "--activate-evidence", "e.json", "--activate-timeout", "5").assert_outcomes(passed=1)
    [record] = validate(pytester.path / "e.json")["records"]
    assert record["outcome"] == "passed" and record["probe"] == "mtls"
    assert subchecks(record) == dict.fromkeys(SUBCHECKS, True)
    assert record["results"][0]["protocol"]["facts"]["tls_version"].startswith("TLSv1.")


@pytest.mark.parametrize("cac_listener", ["optional"], indirect=True)
def test_report_shows_which_mtls_subcheck_failed(pytester: pytest.Pytester, cac_spec: Path,
                                                 validate: Callable[[Path], dict[str, Any]],
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    run_vantage(pytester, cac_spec, "internet", "--activate-evidence", "e.json", "--activate-timeout", "5").assert_outcomes(failed=1)
    [record] = validate(pytester.path / "e.json")["records"]
    assert subchecks(record)["no-client-cert-rejected"] is False
    assert subchecks(record)["client-cert-accepted"] is True
    assert main([str(pytester.path / "e.json"), "--format", "md"]) == 0
    out = capsys.readouterr().out
    assert "| Sub-check | Result | Detail |" in out
    assert "| no-client-cert-rejected | FAIL |" in out and "| client-cert-accepted | pass |" in out
