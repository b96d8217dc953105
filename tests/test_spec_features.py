"""Feature values fit their feature: versions where a condition orders them, booleans where one tests them.

A value that does not fit is a located spec error (``spec.yaml:LINE:COL``) or, on the
command line, a usage error naming the feature and what fits; never a crash while a
condition is evaluated, never a silent "true".
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import pytest

from pytest_activate_ports.spec import load_spec

from .test_spec_errors import error_of

SpecWriter = Callable[[str], Path]

OWN = """\
version: 1
features: {{v: {v}, cac: {cac}, edition: enterprise}}
hosts:
  lb: {{address: 127.0.0.1, roles: [control-plane]}}
rules:
  - {{id: new, from: internet, to: lb, port: {port}, expect: optional, when: v >= 7.9}}
  - {{id: cac, from: internet, to: lb, port: {port}, expect: optional, when: cac}}
  - {{id: ed, from: internet, to: lb, port: {port}, expect: optional, when: edition == enterprise}}
"""


def own(v: str = '"7.4"', cac: str = "false", port: int = 1) -> str:
    return OWN.format(v=v, cac=cac, port=port)


def profiled(features: str) -> str:
    return f"version: 1\nprofile: activate\nfeatures: {{{features}}}\nhosts:\n  lb: {{address: 127.0.0.1, roles: [control-plane]}}\n"


@pytest.mark.parametrize("value", ["eight", "true", "'7.x'"])
def test_spec_profile_version_feature_must_hold_a_version(tmp_path: Path, value: str) -> None:
    shown = {"eight": "'eight'", "true": "True", "'7.x'": "'7.x'"}[value]
    assert error_of(tmp_path, profiled(f"platform_version: {value}")) == (
        f"spec.yaml:3:30: feature 'platform_version' holds a version such as \"7.4\" "
        f"(rule 'legacy-api' compares it: when: platform_version < 8), not {shown}")


def test_spec_own_feature_compared_as_a_version_must_hold_one(tmp_path: Path) -> None:
    assert error_of(tmp_path, own(v="eight")) == (
        "spec.yaml:2:15: feature 'v' holds a version such as \"7.4\" (rule 'new' compares it: when: v >= 7.9), not 'eight'")


def test_spec_ordering_a_feature_against_a_non_version_is_located(tmp_path: Path) -> None:
    text = own().replace("v >= 7.9", "v >= eight")
    assert error_of(tmp_path, text) == (
        "spec.yaml:6:72: '>=' compares versions, and 'eight' is not one (write a version such as 7.4) "
        "in condition 'v >= eight'")


@pytest.mark.parametrize("value", ["maybe", "'maybe'", "2"])
def test_spec_boolean_feature_rejects_other_values(tmp_path: Path, value: str) -> None:
    message = error_of(tmp_path, profiled(f"cac_auth: {value}"))
    assert message.startswith("spec.yaml:3:22: feature 'cac_auth' is true or false (rule 'lb-cac-mtls' tests it: when: cac_auth); "
                              "write true/false, yes/no, on/off or 1/0, not ")


def test_spec_own_feature_tested_alone_is_a_boolean(tmp_path: Path) -> None:
    assert error_of(tmp_path, own(cac="maybe")).startswith("spec.yaml:2:27: feature 'cac' is true or false (rule 'cac' tests it")


@pytest.mark.parametrize(("value", "expected"), [("'yes'", True), ("'No'", False), ("1", True), ("'0'", False), ("on", True)])
def test_spec_boolean_feature_given_as_text_is_a_boolean(tmp_path: Path, value: str, expected: bool) -> None:
    path = tmp_path / "spec.yaml"
    path.write_text(profiled(f"cac_auth: {value}"))
    assert load_spec(path, {}).features["cac_auth"] is expected


def test_spec_free_feature_keeps_any_value(tmp_path: Path) -> None:
    path = tmp_path / "spec.yaml"
    path.write_text(own().replace("edition: enterprise", "edition: 7 dwarves"))
    assert load_spec(path, {}).features["edition"] == "7 dwarves"


@pytest.mark.parametrize(("override", "message"), [
    ("platform_version=eight", "ERROR: --activate-feature platform_version=eight: feature 'platform_version' holds a version "
                               "such as \"7.4\" (rule 'legacy-api' compares it: when: platform_version < 8), not 'eight'"),
    ("platform_version", "ERROR: --activate-feature platform_version=true: feature 'platform_version' holds a version*"),
    ("cac_auth=maybe", "ERROR: --activate-feature cac_auth=maybe: feature 'cac_auth' is true or false "
                       "(rule 'lb-cac-mtls' tests it: when: cac_auth); write true/false, yes/no, on/off or 1/0, not 'maybe'"),
])
def test_plugin_feature_override_that_does_not_fit_is_a_usage_error(pytester: pytest.Pytester, write_spec: SpecWriter,
                                                                   override: str, message: str) -> None:
    spec = write_spec(profiled("cac_auth: false"))
    result = pytester.runpytest("--activate-spec", str(spec), "--activate-role", "internet", "--activate-feature", override)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])
    assert "Traceback" not in result.stderr.str() + result.stdout.str()


@pytest.mark.parametrize(("overrides", "skipped"), [
    (["v=7.10"], {"cac"}),  # a version stays text: 7.10 is after 7.9 (a float would make it 7.1)
    (["v=7.4", "cac=YES"], {"new"}),
    (["cac=1", "edition=community"], {"new", "ed"}),
    (["cac=No"], {"new", "cac"}),
])
def test_plugin_feature_override_is_typed_by_its_feature(pytester: pytest.Pytester, write_spec: SpecWriter,
                                                         overrides: list[str], skipped: set[str]) -> None:
    spec = write_spec(own())
    args = [arg for override in overrides for arg in ("--activate-feature", override)]
    items, _ = pytester.inline_genitems("--activate-spec", str(spec), *args)
    assert {item.name.split("[")[0] for item in items if item.get_closest_marker("skip")} == skipped
