"""TLS checks run by a shipped prober that has neither the spec's files nor trustme: the material travels as PEM.

A vantage is another machine: the files a spec's ``tls:`` and ``ca:`` options
name do not exist there, and its Python has only the standard library. So
the jobs here are written, their files deleted, and the prober started from
another working directory with ``python -I -S``, where importing trustme (or
anything outside the standard library) fails. Real asyncio/ssl listeners on
loopback answer, each check both ways.
"""

from __future__ import annotations

import re
import ssl
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme

from pytest_activate_ports import ship
from pytest_activate_ports.checks import plan
from pytest_activate_ports.emulate.http_services import serve_vault
from pytest_activate_ports.emulate.tls import serve_tls, server_context
from pytest_activate_ports.outcomes import Outcomes
from pytest_activate_ports.probing import job_of
from pytest_activate_ports.results import CheckOutcome, Job, PortState
from pytest_activate_ports.spec import load_spec
from pytest_activate_ports.untrusted import untrusted_client
from pytest_activate_ports.vantages import ProcessProber

from .probe_harness import BackgroundLoop

STDLIB_ONLY = f"popen//python={sys.executable} -I -S"  # no site-packages: no trustme, no cryptography


@pytest.fixture
def background() -> Iterator[BackgroundLoop]:
    with BackgroundLoop() as loop:
        yield loop


def lenient_cac(leaf: trustme.LeafCert, client_ca: trustme.CA) -> ssl.SSLContext:
    """A CAC listener that demands a client certificate but also trusts the prober's stranger (a misconfigured
    trust store): only a prober that really presents the untrusted identity it was handed catches it."""
    context = server_context(leaf, client_ca=client_ca)
    context.load_verify_locations(cadata=untrusted_client().cert.text)
    context.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN  # the stranger's own certificate is the anchor
    return context


def vault_context(internal: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    internal.issue_cert("127.0.0.1").configure_cert(context)
    return context


def run_shipped(jobs: list[Job], where: str) -> list[CheckOutcome]:
    outcomes = Outcomes()
    prober = ProcessProber(5.0, 16, 8, outcomes, where)
    prober.start()
    prober.submit(jobs)
    try:
        return [outcomes.wait(job) for job in jobs]
    finally:
        prober.close()


def test_prober_shipped_runs_tls_checks_from_contents_alone(
        tmp_path: Path, ca: trustme.CA, localhost_cert: trustme.LeafCert, background: BackgroundLoop,
        monkeypatch: pytest.MonkeyPatch) -> None:
    client_ca, internal, stranger_ca = trustme.CA(), trustme.CA(organization_name="vault internal CA"), trustme.CA()
    enforcing = background.serve(lambda: serve_tls("127.0.0.1", 0, server_context(localhost_cert, client_ca=client_ca)))
    lenient = background.serve(lambda: serve_tls("127.0.0.1", 0, lenient_cac(localhost_cert, client_ca)))
    web = background.serve(lambda: serve_tls("127.0.0.1", 0, server_context(localhost_cert)))
    vault = background.serve(lambda: serve_vault("127.0.0.1", 0, ssl=vault_context(internal)))

    folder = tmp_path / "spec"
    folder.mkdir()
    client = client_ca.issue_cert("jane.doe@example.mil", common_name="DOE.JANE.Q.1234567890")
    ca.cert_pem.write_to_path(str(folder / "ca.pem"))
    client.cert_chain_pems[0].write_to_path(str(folder / "client.pem"))
    client.private_key_pem.write_to_path(str(folder / "client.key"))
    internal.cert_pem.write_to_path(str(folder / "vault-ca.pem"))
    stranger_ca.cert_pem.write_to_path(str(folder / "other-ca.pem"))
    spec = folder / "spec.yaml"
    spec.write_text(f"""\
version: 1
hosts: {{h: {{address: 127.0.0.1}}}}
tls: {{ca: ca.pem, client_cert: client.pem, client_key: client.key}}
rules:
  - {{id: mtls-enforced, from: internet, to: h, port: {enforcing}, expect: required, probe: mtls}}
  - {{id: mtls-lenient, from: internet, to: h, port: {lenient}, expect: required, probe: mtls}}
  - {{id: https-trusted, from: internet, to: h, port: {web}, expect: required, probe: https}}
  - {{id: https-untrusted, from: internet, to: h, port: {vault}, expect: required, probe: https}}
  - {{id: vault-own-ca, from: internet, to: h, port: {vault}, expect: required, probe: {{kind: vault, tls: true, ca: vault-ca.pem}}}}
  - {{id: vault-wrong-ca, from: internet, to: h, port: {vault}, expect: required, probe: {{kind: vault, tls: true, ca: other-ca.pem}}}}
""")
    checks = plan(load_spec(spec), "internet").checks
    jobs = [job_of(check, key) for key, check in enumerate(checks)]
    for path in folder.iterdir():  # the job is written: from here on, nothing of the spec's folder exists
        path.unlink()
    folder.rmdir()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)

    answers = {}
    for rule, outcome in zip((check.rule.id for check in checks), run_shipped(jobs, STDLIB_ONLY)):
        [attempt] = outcome.results
        assert attempt.state is PortState.OPEN and attempt.protocol is not None, (rule, attempt.detail)
        answers[rule] = attempt.protocol

    assert answers["mtls-enforced"].passed, answers["mtls-enforced"].detail
    assert answers["mtls-enforced"].detail.startswith("mTLS enforced: server-certificate: verifies against tls.ca (ca.pem)")
    lenient_checks = {check.name: check.passed for check in answers["mtls-lenient"].checks}
    assert lenient_checks == {"server-certificate": True, "no-client-cert-rejected": True,
                              "untrusted-client-cert-rejected": False, "client-cert-accepted": True}
    assert ("untrusted-client-cert-rejected FAILED: answered with a client certificate from an untrusted CA"
            in answers["mtls-lenient"].detail)

    assert answers["https-trusted"].passed, answers["https-trusted"].detail
    assert not answers["https-untrusted"].passed
    assert answers["https-untrusted"].detail.startswith("certificate verify failed: unable to get local issuer certificate "
                                                        "(against tls.ca (ca.pem))")

    assert answers["vault-own-ca"].passed, answers["vault-own-ca"].detail
    assert "over TLS, certificate verified against ca (vault-ca.pem)" in answers["vault-own-ca"].detail
    assert not answers["vault-wrong-ca"].passed
    assert "(against ca (other-ca.pem))" in answers["vault-wrong-ca"].detail


def test_prober_shipped_sources_never_import_trustme() -> None:
    """The untrusted client is made on the pytest side; what is shipped to a vantage imports no trustme."""
    importing = [name for name, (_, source) in ship.sources().items()
                 if re.search(r"^\s*(import|from)\s+(trustme|cryptography)\b", source, re.MULTILINE)]
    assert importing == []
