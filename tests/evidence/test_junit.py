"""JUnit XML: ``activate.*`` testcase properties under xunit1, schema-valid suite properties under xunit2."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from .conftest import INTERNET_NODES, SCHEMAS, run_vantage

xmlschema = pytest.importorskip("xmlschema", reason="xmlschema (test extra) validates JUnit files against the XSDs")

PROPERTY_NAMES = ["activate.rule", "activate.role", "activate.vantage", "activate.host", "activate.address", "activate.port",
                  "activate.expect", "activate.probe", "activate.observed", "activate.elapsed_ms", "activate.reason"]
WARNING = "activate: junit_family=xunit2 forbids per-testcase <properties>*add 'junit_family = xunit1' to the [[]pytest[]] section*"


def schema(family: str) -> xmlschema.XMLSchema:
    return xmlschema.XMLSchema(str(SCHEMAS / f"junit-{family}.xsd"))


def cases_of(path: Path) -> dict[str, ET.Element]:
    return {case.attrib["name"]: case for case in ET.parse(path).getroot().iter("testcase")}


def properties(element: ET.Element) -> dict[str, str]:
    return {p.attrib["name"]: p.attrib["value"] for p in element.findall("properties/property")}


def suite_properties(path: Path) -> list[tuple[str, str]]:
    suite = ET.parse(path).getroot().find("testsuite")
    assert suite is not None
    return [(p.attrib["name"], p.attrib["value"]) for p in suite.findall("properties/property")]


@pytest.mark.parametrize("family", ["xunit1", "legacy"])
def test_junit_xunit1_testcases_carry_activate_properties_and_validate(pytester: pytest.Pytester, vantage_spec: Path,
                                                                       family: str) -> None:
    result = run_vantage(pytester, vantage_spec, "internet", "--junitxml", "j.xml", "-o", f"junit_family={family}")
    result.assert_outcomes(passed=2, failed=2, skipped=1)
    assert "forbids per-testcase" not in result.stdout.str()
    schema("xunit1").validate(str(pytester.path / "j.xml"))
    cases = cases_of(pytester.path / "j.xml")
    assert list(cases) == INTERNET_NODES
    failed = properties(cases["http-redirect[lb:80]"])
    assert list(failed) == PROPERTY_NAMES
    assert failed["activate.rule"] == "http-redirect" and failed["activate.role"] == "internet"
    assert (failed["activate.host"], failed["activate.address"], failed["activate.port"]) == ("lb", "127.0.0.1", "80")
    assert (failed["activate.expect"], failed["activate.probe"]) == ("required", "tcp")
    assert failed["activate.observed"] == "refused: connection refused (RST)"
    assert float(failed["activate.elapsed_ms"]) >= 0 and failed["activate.reason"] == "HTTP-to-HTTPS redirect"
    assert cases["http-redirect[lb:80]"].find("failure") is not None
    skipped = properties(cases["cac-mtls[lb:8443]"])
    assert skipped["activate.observed"] == "not probed" and skipped["activate.elapsed_ms"] == ""
    assert ("activate.testcase_properties", "written") in suite_properties(pytester.path / "j.xml")


def test_junit_xunit2_stays_schema_valid_and_warns_once(pytester: pytest.Pytester, vantage_spec: Path) -> None:
    result = run_vantage(pytester, vantage_spec, "internet", "--junitxml", "j.xml")
    result.assert_outcomes(passed=2, failed=2, skipped=1)
    result.stdout.fnmatch_lines([WARNING])
    assert result.stdout.str().count("forbids per-testcase") == 1
    path = pytester.path / "j.xml"
    schema("xunit2").validate(str(path))
    assert all(case.find("properties") is None for case in cases_of(path).values())
    suite = dict(suite_properties(path))
    assert suite["activate.role"] == "internet"
    assert suite["activate.spec"].startswith(f"{vantage_spec} sha256=")
    assert suite["activate.summary"].startswith("2 passed, 2 failed, 1 skipped, 0 errors")
    assert suite["activate.testcase_properties"] == "off: set junit_family = xunit1 to write them"


def test_junit_warning_shows_with_quiet_and_not_without_junitxml(pytester: pytest.Pytester, vantage_spec: Path) -> None:
    run_vantage(pytester, vantage_spec, "internet", "-q", "--junitxml", "j.xml").stdout.fnmatch_lines([WARNING])
    assert "forbids per-testcase" not in run_vantage(pytester, vantage_spec, "internet").stdout.str()


def test_junit_schemas_tell_the_families_apart(pytester: pytest.Pytester, vantage_spec: Path) -> None:
    """The xunit2 XSD really rejects what xunit1 allows, so the validations above prove something."""
    run_vantage(pytester, vantage_spec, "internet", "--junitxml", "j1.xml", "-o", "junit_family=xunit1")
    assert not schema("xunit2").is_valid(str(pytester.path / "j1.xml"))


def test_junit_testcase_names_are_stable_across_runs(pytester: pytest.Pytester, vantage_spec: Path) -> None:
    run_vantage(pytester, vantage_spec, "internet", "--junitxml", "a.xml")
    run_vantage(pytester, vantage_spec, "internet", "--junitxml", "b.xml")
    names = [[(c.attrib["classname"], c.attrib["name"]) for c in cases_of(pytester.path / f).values()] for f in ("a.xml", "b.xml")]
    assert names[0] == names[1] == [("spec.yaml", name) for name in INTERNET_NODES]


def test_junit_properties_are_redacted(pytester: pytest.Pytester, vantage_spec: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DB_PASSWORD", "pw-very-secret")
    vantage_spec.write_text(vantage_spec.read_text().replace("reason: Usage metrics, billing, activity",
                                                             'reason: "metrics (pw ${DB_PASSWORD})"'))
    run_vantage(pytester, vantage_spec, "control-plane", "--junitxml", "j.xml", "-o", "junit_family=xunit1")
    case = cases_of(pytester.path / "j.xml")["postgres[db:5432]"]
    assert properties(case)["activate.reason"] == "metrics (pw [redacted])"
