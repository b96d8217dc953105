"""Options, usage errors, collection and selection: what a pytest user expects."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import pytest

from .servers import Listener

SpecWriter = Callable[[str], Path]


def two_roles(port: int) -> str:
    return f"""
        version: 1
        features: {{cac_auth: false}}
        hosts:
          lb: {{address: 127.0.0.1, roles: [control-plane]}}
          db: {{address: 127.0.0.1, roles: [database]}}
        rules:
          - {{id: ui, from: internet, to: lb, ports: [{port}, {port + 1}], expect: optional}}
          - {{id: pg, from: control-plane, to: db, port: {port}, expect: optional}}
    """


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--activate-timeout", "soon"], "ERROR: --activate-timeout must be a number, not 'soon'"),
        (["--activate-timeout", "0"], "ERROR: --activate-timeout must be at least 0.001, not 0"),
        (["--activate-concurrency", "-3"], "ERROR: --activate-concurrency must be at least 1, not -3"),
        (["--activate-host", "lb"], "ERROR: --activate-host expects NAME=ADDR, got 'lb'"),
        (["--activate-host", "lbb=10.0.0.1"], "ERROR: --activate-host: unknown host 'lbb' (did you mean 'lb'?); one of: db, lb"),
        (["--activate-feature", "cac=1"], "ERROR: --activate-feature: unknown feature 'cac'*one of: cac_auth"),
        (["--activate-role", "internt"], "ERROR: --activate-role: unknown role 'internt' (did you mean 'internet'?); roles with rules: internet, control-plane"),
        ([], "ERROR: the spec has rules from several vantages; choose one with --activate-role: one of: control-plane, internet"),
    ],
)
def test_plugin_bad_option_is_a_usage_error(pytester: pytest.Pytester, write_spec: SpecWriter,
                                            args: list[str], message: str) -> None:
    spec = write_spec(two_roles(1))
    role = [] if any(a.startswith("--activate-role") for a in args) or not args else ["--activate-role", "internet"]
    result = pytester.runpytest("--activate-spec", str(spec), *role, *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])


def test_plugin_missing_spec_file_is_a_usage_error(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--activate-spec", "nope.yaml")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: --activate-spec: no such file: nope.yaml"])


def test_plugin_collect_only_sends_no_traffic(pytester: pytest.Pytester, write_spec: SpecWriter, listener: Listener) -> None:
    spec = write_spec(two_roles(listener.port))
    result = pytester.runpytest("--activate-spec", str(spec), "--activate-role", "internet", "--collect-only", "-q")
    result.stdout.fnmatch_lines([f"spec.yaml::ui[[]lb:{listener.port}[]]", f"spec.yaml::ui[[]lb:{listener.port + 1}[]]"])
    assert listener.settled(0) == 0


def test_plugin_header_counts_checks_and_other_roles(pytester: pytest.Pytester, write_spec: SpecWriter, listener: Listener) -> None:
    spec = write_spec(two_roles(listener.port))
    result = pytester.runpytest("--activate-spec", str(spec), "--activate-role", "internet", "--collect-only")
    result.stdout.fnmatch_lines(["activate: spec spec.yaml, role internet, 2 checks, 0 not applicable, 1 rule for other roles not collected"])


def test_plugin_header_counts_one_check_in_the_singular(pytester: pytest.Pytester, write_spec: SpecWriter) -> None:
    spec = write_spec("""
        version: 1
        roles: [nowhere]
        hosts:
          lb: {address: 127.0.0.1, roles: [control-plane]}
        rules:
          - {id: ui, from: internet, to: lb, port: 1, expect: optional}
          - {id: pg, from: control-plane, to: nowhere, port: 1, expect: optional}
    """)
    result = pytester.runpytest("--activate-spec", str(spec), "--activate-role", "control-plane", "--collect-only")
    result.stdout.fnmatch_lines(["activate: spec spec.yaml, role control-plane, 0 checks, 0 not applicable, "
                                 "1 rule for other roles not collected, 1 rule matches no host (pg)"])
    result = pytester.runpytest("--activate-spec", str(spec), "--activate-role", "internet", "--collect-only")
    result.stdout.fnmatch_lines(["activate: spec spec.yaml, role internet, 1 check, 0 not applicable, 1 rule for other roles not collected"])


CONFLICT = """
    version: 1
    features: {cac: false}
    hosts:
      lb: {address: 127.0.0.1, roles: [control-plane]}
      bastion: {address: 127.0.0.2}
      db: {address: 127.0.0.3, roles: [database]}
    rules:
      - {id: ui, from: internet, to: lb, ports: [1, 2], expect: required}
      - {id: no-ui, from: internet, to: control-plane, ports: [2, 3], expect: forbidden}
      - {id: inner, from: control-plane, to: control-plane, port: 3, expect: required}
      - {id: cac-only, from: internet, to: lb, port: 3, expect: required, when: cac}
"""


def test_plugin_port_both_required_and_forbidden_is_reported(pytester: pytest.Pytester, write_spec: SpecWriter) -> None:
    """One warning per contradicting pair from one vantage; another vantage or an inapplicable rule is no contradiction."""
    spec = write_spec(CONFLICT)
    result = pytester.runpytest("--activate-spec", str(spec), "--activate-role", "internet", "--collect-only")
    message = (f"{spec}:10:5: rule 'no-ui' forbids lb:2 from internet, which rule 'ui' ({spec}:9:5) requires open; "
               "both cannot pass, so one of them is wrong")
    result.stdout.fnmatch_lines([f"activate: warning: {message}",
                                 f"activate: warning: {spec}:6:3: host 'bastion' is checked by no rule: "
                                 "it has no roles and no rule names it in to:",
                                 f"activate: warning: {spec}:7:3: host 'db' is checked by no rule: "
                                 "no rule names it or its roles (database) in to:"])
    assert result.stdout.str().count("forbids") == 1  # not lb:3: other vantage (inner), or not applicable (cac-only)
    assert result.ret == pytest.ExitCode.OK


def test_plugin_unproven_skip_points_at_the_spec_rule(pytester: pytest.Pytester, write_spec: SpecWriter, filtered_port: int) -> None:
    spec = write_spec(f"""
        version: 1
        hosts:
          lb: {{address: 127.0.0.1}}
        rules:
          - {{id: hidden, from: internet, to: lb, port: {filtered_port}, expect: forbidden}}
    """)
    result = pytester.runpytest("--activate-spec", str(spec), "--activate-timeout", "0.2", "-rs")
    result.stdout.fnmatch_lines(["SKIPPED [[]1[]] spec.yaml:6: unproven:*"])


def test_plugin_deselected_items_are_not_probed(pytester: pytest.Pytester, write_spec: SpecWriter, listener: Listener) -> None:
    spec = write_spec(two_roles(listener.port))
    result = pytester.runpytest("--activate-spec", str(spec), "--activate-role", "internet", "-k", f"lb and {listener.port + 1}")
    result.assert_outcomes(passed=1, deselected=1)
    assert listener.settled(0) == 0  # only the +1 port (closed) was probed


def test_plugin_markers_select_by_expectation_and_probe(pytester: pytest.Pytester, write_spec: SpecWriter, listener: Listener) -> None:
    spec = write_spec(two_roles(listener.port))
    result = pytester.runpytest("--activate-spec", str(spec), "--activate-role", "control-plane",
                                "-m", "activate_optional and activate_tcp", "--strict-markers")
    result.assert_outcomes(passed=1)
    assert listener.settled(1) == 1


def test_plugin_items_share_one_mark_object_per_name(pytester: pytest.Pytester, write_spec: SpecWriter, listener: Listener) -> None:
    """Marks are immutable, so a big spec must not pay for a copy of each on every item."""
    spec = write_spec(two_roles(listener.port))
    items, _ = pytester.inline_genitems("--activate-spec", str(spec), "--activate-role", "internet")
    first, second = items
    assert [mark.name for mark in first.iter_markers()] == ["activate_optional", "activate_tcp"]
    assert all(a is b for a, b in zip(first.own_markers, second.own_markers, strict=True))
    assert first.keywords["activate_tcp"] is second.keywords["activate_tcp"]


def test_plugin_ini_settings_apply_and_command_line_wins(pytester: pytest.Pytester, write_spec: SpecWriter, listener: Listener) -> None:
    spec = write_spec(two_roles(listener.port))
    pytester.makeini(f"""
        [pytest]
        asyncio_default_fixture_loop_scope = function
        activate_spec = {spec.name}
        activate_role = control-plane
        activate_timeout = nonsense
    """)
    pytester.runpytest().stderr.fnmatch_lines(["ERROR: --activate-timeout must be a number, not 'nonsense'"])
    result = pytester.runpytest("--activate-timeout", "1", "--activate-role", "internet")
    result.assert_outcomes(passed=2)


def test_plugin_spec_runs_beside_user_asyncio_tests(pytester: pytest.Pytester, write_spec: SpecWriter, listener: Listener) -> None:
    """The engine's private loop must not clash with pytest-asyncio's loops in user tests."""
    spec = write_spec(two_roles(listener.port))
    test_file = pytester.makepyfile(test_user="""
        import asyncio
        import pytest

        @pytest.mark.asyncio
        async def test_user_coroutine():
            await asyncio.sleep(0)
            assert asyncio.get_running_loop().is_running()

        @pytest.mark.activate_hosts(role="database")
        def test_user_host_parametrized(activate_host, activate_role):
            assert activate_host.name == "db" and activate_role == "internet"
    """)
    result = pytester.runpytest(str(test_file), "--activate-spec", str(spec), "--activate-role", "internet", "-v")
    result.assert_outcomes(passed=4)


def test_plugin_spec_glob_collects_yaml_given_as_path(pytester: pytest.Pytester, write_spec: SpecWriter, listener: Listener) -> None:
    spec = write_spec(two_roles(listener.port), name="ports_prod.yaml")
    pytester.makeini("""
        [pytest]
        asyncio_default_fixture_loop_scope = function
        activate_spec_glob = ports_*.yaml
        activate_role = internet
    """)
    pytester.runpytest(str(spec)).assert_outcomes(passed=2)


def test_plugin_activate_result_gives_a_users_test_the_probe_outcome(pytester: pytest.Pytester, write_spec: SpecWriter,
                                                                      listener: Listener) -> None:
    spec = write_spec(two_roles(listener.port))
    test_file = pytester.makepyfile(test_user=f"""
        import pytest

        def test_source_address_is_recorded(activate_result):
            result = activate_result("ui", "lb", {listener.port}).results[0]
            assert result.state.value == "open" and result.source.startswith("127.0.0.1:")

        def test_unknown_check_is_a_lookup_error(activate_result):
            with pytest.raises(LookupError, match="no probed check pg"):
                activate_result("pg", "db")
    """)
    result = pytester.runpytest("--activate-spec", str(spec), str(test_file), "--activate-role", "internet")
    result.assert_outcomes(passed=4)
