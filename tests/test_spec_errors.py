"""Every spec error names its file, line and column, on one line, before any traffic."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from pytest_activate_ports.spec import SpecError, load_spec

HEAD = """\
version: 1
hosts:
  lb: {address: 127.0.0.1, roles: [control-plane]}
  db: {address: 127.0.0.2, roles: [database]}
rules:
"""


def error_of(tmp_path: Path, text: str, env: dict[str, str] | None = None) -> str:
    path = tmp_path / "spec.yaml"
    path.write_text(textwrap.dedent(text))
    with pytest.raises(SpecError) as info:
        load_spec(path, env or {})
    message = str(info.value)
    assert "\n" not in message
    return message.replace(str(path), "spec.yaml")


@pytest.mark.parametrize(
    ("rule", "marker", "message"),
    [
        ('  - {id: a, from: internet, to: lb, port: 443, expect: required, prob: tcp}',
         'prob:', "unknown key 'prob' in rule (did you mean 'probe'?)"),
        ("  - {id: a, from: internet, to: lb, port: '443', expect: required}",
         "'443'", "port must be an integer, not str '443'"),
        ('  - {id: a, from: internet, to: lb, port: 70000, expect: required}',
         '70000', 'port 70000 is outside 1..65535'),
        ('  - {id: a, from: internet, to: lb, port: 0, expect: required}',
         '0,', 'port 0 is outside 1..65535'),
        ('  - {id: a, from: internet, to: lb, range: 9000-8000, expect: required}',
         '9000', 'range 9000-8000 must satisfy 1 <= first < last <= 65535'),
        ('  - {id: a, from: internet, to: lb, range: lots, expect: required}',
         'lots', "range must look like 8192-60000, not 'lots'"),
        ('  - {id: a, from: internet, to: lb, port: 443, ports: [80], expect: required}',
         '{', "a rule needs exactly one of 'port', 'ports' or 'range' (found port, ports)"),
        ('  - {id: a, from: internt, to: lb, port: 443, expect: required}',
         'internt', "unknown role 'internt' (did you mean 'internet'?)"),
        ('  - {id: a, from: internet, to: lbb, port: 443, expect: required}',
         'lbb', "'to' names no host or role: 'lbb' (did you mean 'lb'?)"),
        ('  - {id: a, from: internet, to: lb, port: 443, expect: requird}',
         'requird', "expect must be one of: forbidden, optional, required, not 'requird' (did you mean 'required'?)"),
        ('  - {id: a, from: internet, to: lb, port: 443, expect: required, probe: htps}',
         'htps', "unknown probe 'htps'"),
        ('  - {id: a, from: internet, to: lb, port: 443, expect: required, probe: {kind: tcp, path: /}}',
         'path', "probe tcp has no option 'path'; valid options: none"),
        ('  - {id: a, from: internet, to: lb, port: 443, expect: required, probe: {kind: https, status: [200, 999]}}',
         'status', "probe https: 'status' lists 999, which is no HTTP status (100..599)"),
        ('  - {id: a, from: internet, to: lb, port: 443, expect: required, probe: {kind: mtls, reject_status: 99}}',
         'reject_status', "probe mtls: 'reject_status' lists 99, which is no HTTP status (100..599)"),
        ('  - {id: a, from: internet, to: lb, port: 443, expect: forbidden, probe: https}',
         'https', "a forbidden rule only checks that the port is closed; remove 'probe'"),
        ('  - {id: a, from: internet, to: lb, port: 443, expect: forbidden, probe: {kind: tls}}',
         '{kind', "a forbidden rule only checks that the port is closed; remove 'probe'"),
        ('  - {id: a, from: ci-runner, to: lb, port: 443, expect: required}',
         'ci-runner', "unknown role 'ci-runner'; one of: control-plane, database, internet; "
                      "a vantage role that no host has is declared at the top level: roles: [ci-runner]"),
        ('  - {id: a, from: internet, to: lb, port: 443, expect: required, state: filtered}',
         'filtered', "'state' only applies to expect: forbidden"),
        ('  - {id: a, from: internet, to: lb, port: 443, expect: required, when: cac}',
         'cac}', "unknown feature 'cac' in 'when'"),
        ("  - {id: 'a b', from: internet, to: lb, port: 443, expect: required}",
         "'a b'", "rule id 'a b' may only contain letters, digits, '_', '.' and '-'"),
        ('  - {id: a, from: internet, to: lb, ports: [443, 443], expect: required}',
         '443]', 'port 443 is listed twice'),
        ('  - {id: a, from: internet, to: lb, expect: required}',
         '{', "a rule needs exactly one of 'port', 'ports' or 'range'"),
        ('  - {id: a, to: lb, port: 443, expect: required}',
         '{', "rule is missing required key 'from'"),
        ('  - {id: a, from: internet, to: lb, range: 1-9, sample: 1, expect: required}',
         '1, exp', "sample (or 'all') 1 is outside 2..65535"),
        ("  - {id: a, from: internet, to: lb, port: 443, expect: required, when: 'cac_auth and'}",
         "'cac", "condition 'cac_auth and' ends too early"),
    ],
)
def test_spec_rule_error_is_located(tmp_path: Path, rule: str, marker: str, message: str) -> None:
    assert_located(tmp_path, HEAD, rule, marker, message)


def assert_located(tmp_path: Path, head: str, rule: str, marker: str, message: str) -> None:
    """The spec is ``head`` then the one-line ``rule``: the error's line is the rule's, its column the ``marker``'s."""
    line, column = head.count("\n") + 1, rule.index(marker) + 1
    assert error_of(tmp_path, head + rule + "\n").startswith(f"spec.yaml:{line}:{column}: {message}")


@pytest.mark.parametrize("probe", ["tcp", "{kind: tcp}"])
def test_spec_forbidden_rule_accepts_the_tcp_probe(tmp_path: Path, probe: str) -> None:
    """tcp is the identity for closedness: saying it on a forbidden rule changes nothing."""
    path = tmp_path / "spec.yaml"
    path.write_text(HEAD + f"  - {{id: a, from: internet, to: db, port: 5432, expect: forbidden, probe: {probe}}}\n")
    assert load_spec(path, {}).rules[0].probe.kind == "tcp"


def test_spec_declared_vantage_role_is_known(tmp_path: Path) -> None:
    path = tmp_path / "spec.yaml"
    path.write_text("version: 1\nroles: [ci-runner]\n" + HEAD.removeprefix("version: 1\n")
                    + "  - {id: a, from: ci-runner, to: lb, port: 443, expect: required}\n")
    assert load_spec(path, {}).rules[0].sources == ("ci-runner",)


PROFILED = """\
version: 1
profile: activate
roles: [ci-runner, bastion]
hosts:
  lb: {address: 127.0.0.1, roles: [%s]}
"""


@pytest.mark.parametrize(("role", "message"), [
    ("control-plan", "spec.yaml:5:36: unknown role 'control-plan' of host 'lb' (did you mean 'control-plane'?): neither the profile "
                     "nor a rule names it; a role of your own is declared at the top level: roles: [control-plan]"),
    ("control-plane, dtabase", "spec.yaml:5:51: unknown role 'dtabase' of host 'lb': neither the profile nor a rule names it; "
                               "a role of your own is declared at the top level: roles: [dtabase]"),
])
def test_spec_unknown_host_role_with_the_profile_is_located(tmp_path: Path, role: str, message: str) -> None:
    assert error_of(tmp_path, PROFILED % role) == message


@pytest.mark.parametrize("role", ["bastion", "ci-runner", "control-plane-internal", "jumphost"])
def test_spec_host_role_declared_or_named_by_a_rule_is_known(tmp_path: Path, role: str) -> None:
    path = tmp_path / "spec.yaml"
    path.write_text(PROFILED % role + f"rules:\n  - {{id: own, from: internet, to: {role}, port: 22, expect: required}}\n")
    assert load_spec(path, {}).hosts["lb"].roles == (role,)


def test_spec_host_role_declared_at_the_top_level_needs_no_rule(tmp_path: Path) -> None:
    """A role only the user's own tests use (``activate_hosts(role=...)``) is declared, not a typo."""
    path = tmp_path / "spec.yaml"
    path.write_text(PROFILED % "bastion")
    assert load_spec(path, {}).hosts["lb"].roles == ("bastion",)


def test_spec_duplicate_id_names_first_definition(tmp_path: Path) -> None:
    text = HEAD + "  - {id: a, from: internet, to: lb, port: 443, expect: required}\n" \
                  "  - {id: a, from: internet, to: lb, port: 80, expect: optional}\n"
    assert error_of(tmp_path, text) == "spec.yaml:7:10: duplicate rule id 'a' (first defined at line 6)"


def test_spec_unset_variable_is_named(tmp_path: Path) -> None:
    text = HEAD.replace("127.0.0.2", '"${DB_HOST}"') + "  - {id: a, from: internet, to: db, port: 5432, expect: forbidden}\n"
    assert error_of(tmp_path, text) == (
        "spec.yaml:4:17: environment variable DB_HOST is not set (use ${DB_HOST:-default} for a default)")


def test_spec_variables_expand_with_defaults_and_types(tmp_path: Path) -> None:
    """An unquoted ``${PG_PORT}`` becomes an int, as if the number were written literally."""
    path = tmp_path / "spec.yaml"
    path.write_text(HEAD.replace("127.0.0.2", '"${DB_HOST:-10.0.0.5}"') + textwrap.dedent("""\
          - id: a
            from: internet
            to: db
            port: ${PG_PORT}
            expect: forbidden
    """))
    spec = load_spec(path, {"PG_PORT": "5433", "API_TOKEN": "s3cret"})
    assert spec.hosts["db"].address == "10.0.0.5"
    assert spec.rules[0].ports == (5433,)


def test_spec_unknown_top_level_key_suggests(tmp_path: Path) -> None:
    assert error_of(tmp_path, "version: 1\nhost: {}\n") == (
        "spec.yaml:2:1: unknown key 'host' in the spec (did you mean 'hosts'?); "
        "valid keys: version, name, profile, roles, features, hosts, tls, rules")


def test_spec_yaml_syntax_error_is_located(tmp_path: Path) -> None:
    assert error_of(tmp_path, "version: 1\nhosts: [a,\n").startswith("spec.yaml:3:1: invalid YAML")


def test_spec_wrong_version_and_empty_file(tmp_path: Path) -> None:
    assert error_of(tmp_path, "version: 2\n") == "spec.yaml:1:10: unsupported spec version 2; this plugin reads version 1"
    assert error_of(tmp_path, "") == "spec.yaml:1:1: the spec is empty; expected a mapping with 'version: 1'"


def test_spec_missing_tls_file_is_located(tmp_path: Path) -> None:
    text = "version: 1\ntls:\n  ca: certs/ca.pem\n"
    assert error_of(tmp_path, text) == f"spec.yaml:3:7: tls.ca: no such file {tmp_path}/certs/ca.pem"


def test_spec_alias_bomb_is_refused_quickly(tmp_path: Path) -> None:
    levels = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    levels += [f"a{i}: &a{i} [{', '.join(f'*a{i - 1}' for _ in range(10))}]" for i in range(1, 9)]
    message = error_of(tmp_path, "version: 1\n" + "\n".join(levels) + "\n")
    assert "alias bomb" in message


def test_plugin_reports_spec_error_on_one_line(pytester: pytest.Pytester) -> None:
    spec = pytester.path / "spec.yaml"
    spec.write_text(HEAD + "  - {id: a, from: internet, to: lb, port: 99999, expect: required}\n")
    result = pytester.runpytest("--activate-spec", str(spec))
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines(["*spec.yaml:6:43: port 99999 is outside 1..65535"])
    assert "Traceback" not in result.stdout.str()
    assert "SpecError" not in result.stdout.str()


def test_spec_port_map_key_with_a_non_ascii_digit_is_an_error(tmp_path: Path) -> None:
    text = "version: 1\nhosts:\n  lb: {address: 127.0.0.1, port_map: {\u00b2: 8443}}\nrules:\n" \
           "  - {id: a, from: internet, to: lb, port: 443, expect: required}\n"
    assert error_of(tmp_path, text).startswith("spec.yaml:3:")
