"""A pass with a warning (a certificate about to expire) is said in the terminal, JUnit and evidence, not only under -rA."""

from __future__ import annotations

import contextlib
import datetime
import json
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme

from pytest_activate_ports.emulate.tls import serve_tls, server_context

from ..probe_harness import BackgroundLoop

WARNING = "certificate expires in"


@contextlib.contextmanager
def tls_spec(pytester: pytest.Pytester, ca: trustme.CA, leaf: trustme.LeafCert) -> Iterator[Path]:
    """A spec whose one port (443) is a TLS listener presenting ``leaf``, for as long as the context lasts."""
    ca.cert_pem.write_to_path(str(pytester.path / "ca.pem"))
    with BackgroundLoop() as loop:
        port = loop.serve(lambda: serve_tls("127.0.0.1", 0, server_context(leaf)))
        yield pytester.makefile(".yaml", spec=f"""\
version: 1
hosts:
  lb: {{address: 127.0.0.1, port_map: {{443: {port}}}}}
tls: {{ca: ca.pem}}
rules:
  - {{id: ui, from: internet, to: lb, port: 443, expect: required, probe: tls}}
""")


@pytest.fixture
def spec(pytester: pytest.Pytester, ca: trustme.CA) -> Iterator[Path]:
    """A spec whose one TLS port presents a certificate that expires in five days."""
    now = datetime.datetime.now(datetime.timezone.utc)
    leaf = ca.issue_cert("localhost", "127.0.0.1", not_before=now - datetime.timedelta(days=60),
                         not_after=now + datetime.timedelta(days=5))
    with tls_spec(pytester, ca, leaf) as path:
        yield path


def test_evidence_expiry_warning_is_one_terminal_line_by_default(pytester: pytest.Pytester, spec: Path) -> None:
    result = pytester.runpytest("--activate-spec", str(spec))
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*activate warnings: 1*", f"WARNING spec.yaml::ui[[]lb:443[]]: *{WARNING} 5.0 days*"])
    assert pytester.runpytest("--activate-spec", str(spec), "-q").stdout.str().count(f"{WARNING} 5.0 days") == 1
    assert WARNING not in pytester.runpytest("--activate-spec", str(spec), "-qq").stdout.str()


def test_evidence_no_warning_section_without_warnings(pytester: pytest.Pytester, ca: trustme.CA) -> None:
    """The twin: a certificate far from expiry gives a plain pass and no warnings section."""
    with tls_spec(pytester, ca, ca.issue_cert("localhost", "127.0.0.1")) as spec:
        result = pytester.runpytest("--activate-spec", str(spec))
    result.assert_outcomes(passed=1)
    assert "activate warnings" not in result.stdout.str()


@pytest.mark.parametrize("family", ["xunit1", "xunit2"])
def test_evidence_expiry_warning_is_a_junit_property(pytester: pytest.Pytester, spec: Path, family: str) -> None:
    result = pytester.runpytest("--activate-spec", str(spec), "--junitxml=out.xml", "-o", f"junit_family={family}",
                                "--activate-evidence", "out.json")
    result.assert_outcomes(passed=1)
    tree = ET.parse(pytester.path / "out.xml")
    suite = [p.get("value", "") for p in tree.findall("./testsuite/properties/property[@name='activate.warning']")]
    assert len(suite) == 1 and suite[0].startswith("spec.yaml::ui[lb:443]: ") and WARNING in suite[0]
    case = [p.get("value", "") for p in tree.findall(".//testcase/properties/property[@name='activate.warning']")]
    assert len(case) == (1 if family == "xunit1" else 0)  # xunit2 forbids testcase properties
    (record,) = json.loads((pytester.path / "out.json").read_text())["records"]
    assert len(record["warnings"]) == 1 and WARNING in record["warnings"][0]


def test_evidence_expiry_warning_is_in_system_out_when_junit_logs_it(pytester: pytest.Pytester, spec: Path) -> None:
    pytester.runpytest("--activate-spec", str(spec), "--junitxml=out.xml", "-o", "junit_logging=system-out")
    (case,) = ET.parse(pytester.path / "out.xml").iter("testcase")
    out = case.find("system-out")
    assert out is not None and out.text is not None
    assert "activate warning: 127.0.0.1:" in out.text and WARNING in out.text
