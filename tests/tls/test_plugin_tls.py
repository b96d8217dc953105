"""The plugin end to end: a CAC spec with https on 443 and mtls on 8443 against loopback listeners."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme

from pytest_activate_ports.emulate.tls import serve_tls, server_context

from ..probe_harness import BackgroundLoop
from .conftest import Pki


@pytest.fixture
def background() -> Iterator[BackgroundLoop]:
    with BackgroundLoop() as loop:
        yield loop


def write_spec(pytester: pytest.Pytester, pki: Pki, web: int, cac: int, *, identity: bool = True,
               probe: str = "mtls") -> Path:
    for name, path in (("ca.pem", pki.config.ca), ("client.pem", pki.config.client_cert), ("client.key", pki.config.client_key)):
        assert path is not None
        (pytester.path / name).write_bytes(path.read_bytes())
    client = "  client_cert: client.pem\n  client_key: client.key\n" if identity else ""
    return pytester.makefile(".yaml", cac=f"""\
version: 1
name: cac-loopback
hosts:
  cp: {{address: 127.0.0.1, roles: [control-plane], port_map: {{443: {web}, 8443: {cac}}}}}
tls:
  ca: ca.pem
{client}rules:
  - id: ui-https
    from: internet
    to: control-plane
    port: 443
    expect: required
    probe: {{kind: https, min_version: TLS1.2}}
  - id: cac-mtls
    from: internet
    to: control-plane
    port: 8443
    expect: optional
    probe: {probe}
    reason: CAC / smart card authentication
""")


def run(pytester: pytest.Pytester, spec: Path, *args: str) -> pytest.RunResult:
    return pytester.runpytest("--activate-spec", str(spec), "--activate-role", "internet",
                              "--activate-timeout", "2", "-rA", *args)


def listeners(background: BackgroundLoop, localhost_cert: trustme.LeafCert, client_ca: trustme.CA,
              verify: ssl.VerifyMode) -> tuple[int, int]:
    web = server_context(localhost_cert)
    cac = server_context(localhost_cert, client_ca=client_ca, verify=verify)
    return (background.serve(lambda: serve_tls("127.0.0.1", 0, web)),
            background.serve(lambda: serve_tls("127.0.0.1", 0, cac)))


def test_plugin_cac_spec_passes_against_an_enforcing_listener(
        pytester: pytest.Pytester, pki: Pki, localhost_cert: trustme.LeafCert, background: BackgroundLoop) -> None:
    spec = write_spec(pytester, pki, *listeners(background, localhost_cert, pki.client_ca, ssl.CERT_REQUIRED))
    result = run(pytester, spec)
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["PASSED cac.yaml::cac-mtls[[]cp:8443[]]*"])


def test_plugin_cac_spec_fails_when_client_certificates_are_optional(
        pytester: pytest.Pytester, pki: Pki, localhost_cert: trustme.LeafCert, background: BackgroundLoop) -> None:
    spec = write_spec(pytester, pki, *listeners(background, localhost_cert, pki.client_ca, ssl.CERT_OPTIONAL))
    result = run(pytester, spec)
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines([
        "*optional mtls: cp:8443 via * is open but the mtls check failed after * ms: "
        "no-client-cert-rejected FAILED: answered without a client certificate: HTTP/1.1 200 OK*"])


def test_plugin_cac_spec_without_a_client_identity_fails_as_not_verified(
        pytester: pytest.Pytester, pki: Pki, localhost_cert: trustme.LeafCert, background: BackgroundLoop) -> None:
    spec = write_spec(pytester, pki, *listeners(background, localhost_cert, pki.client_ca, ssl.CERT_REQUIRED),
                      identity=False)
    result = run(pytester, spec)
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*client-cert-accepted NOT VERIFIED: not verified: tls.client_cert/tls.client_key "
                                 "are not configured*"])


def test_plugin_output_and_evidence_never_contain_the_client_key(
        pytester: pytest.Pytester, pki: Pki, localhost_cert: trustme.LeafCert, background: BackgroundLoop) -> None:
    key_lines = pki.client.private_key_pem.bytes().decode().splitlines()[1:-1]
    for verify in (ssl.CERT_REQUIRED, ssl.CERT_NONE):
        spec = write_spec(pytester, pki, *listeners(background, localhost_cert, pki.client_ca, verify),
                          probe="{kind: mtls, acceptable_ca: [CN=DoD Root CA 3]}")
        evidence = pytester.path / "evidence.json"
        result = run(pytester, spec, "-vv", "--activate-evidence", str(evidence), "--junitxml", "junit.xml",
                     "-o", "junit_family=xunit1")
        outputs = "\n".join([*result.outlines, *result.errlines, evidence.read_text(),
                             (pytester.path / "junit.xml").read_text()])
        assert "acceptable-ca-listed" in outputs  # the run really reported the mtls sub-checks
        assert not [line for line in key_lines if line in outputs]
