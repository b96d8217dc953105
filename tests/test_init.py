"""``activate-ports init``: a commented starter spec that loads and collects from every vantage as written."""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path

import pytest

from pytest_activate_ports.onboarding import init
from pytest_activate_ports.profiles import trace
from pytest_activate_ports.spec import load_spec

from .commands import run_command

VANTAGES = ("internet", "control-plane-internal", "agent", "workspace", "cluster-node", "cluster-controller")


def run_init(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    return run_command(init.main, capsys, *args)


@pytest.fixture
def starter(tmp_path: Path) -> Path:
    path = tmp_path / "spec.yaml"
    assert init.main(["-o", str(path)]) == 0
    return path


def test_init_output_loads_with_placeholders_that_never_resolve(starter: Path) -> None:
    spec = load_spec(starter, environ={})
    assert spec.name == "my-activate" and len(spec.rules) == len(trace.profile_rules(trace.load_profile()))
    for host in spec.hosts.values():
        if not host.address.endswith(".invalid"):
            assert ipaddress.ip_address(host.address) in ipaddress.ip_network("127.0.0.0/8"), host


def test_init_has_a_host_for_every_role_rules_check(starter: Path) -> None:
    spec = load_spec(starter, environ={})
    rules = trace.profile_rules(trace.load_profile())
    targets = {role for rule in rules for role in rule.targets}
    assert {role for host in spec.hosts.values() for role in host.roles} == targets
    for rule in spec.rules:
        assert rule.targets, f"{rule.id} matches no host of the starter spec"


def test_init_addresses_come_from_the_environment(starter: Path) -> None:
    spec = load_spec(starter, environ={"ACTIVATE_POSTGRES_ADDRESS": "127.0.0.9"})
    assert spec.hosts["postgres"].address == "127.0.0.9"
    assert spec.hosts["lb"].address == "lb.activate.invalid"


def test_init_explains_every_role_feature_and_tls_file(starter: Path) -> None:
    text = starter.read_text()
    document = trace.load_profile()
    flat = " ".join(line.lstrip("# ").strip() for line in text.splitlines())
    for role, where in document["roles"].items():
        assert f"{role}: {where}" in flat, role
    for feature in document["features"]:
        assert re.search(rf"^  {feature}: ", text, re.MULTILINE), feature
    # what each feature switches, in the guide's words (the rule's reason)
    assert "- lb-cac-mtls (internet -> control-plane 8443, required when cac_auth): CAC/Smart Card authentication" in flat
    for key in ("ca", "server_ca", "client_cert", "client_key", "min_version", "expiry_warn_days"):
        assert re.search(rf"^#   {key}: ", text, re.MULTILINE), key


def test_init_references_the_published_schema(starter: Path) -> None:
    first = starter.read_text().splitlines()[0]
    assert first == f"# yaml-language-server: $schema={init.schema_path()}"
    assert init.schema_path().is_file()


def test_init_collects_from_every_vantage_as_written(pytester: pytest.Pytester) -> None:
    spec = pytester.path / "spec.yaml"
    assert init.main(["-o", str(spec)]) == 0
    for role in VANTAGES:
        result = pytester.runpytest("-p", "no:hypothesispytest", "--activate-spec", str(spec), "--activate-role", role, "--collect-only", "-q")
        assert result.ret == pytest.ExitCode.OK, (role, result.stdout.str())
        assert re.search(r"^\d+ tests? collected", result.stdout.str(), re.MULTILINE), role


def test_init_host_values_replace_placeholders(tmp_path: Path) -> None:
    path = tmp_path / "spec.yaml"
    assert init.main(["-o", str(path), "--host", "lb=127.0.0.77", "--host", "slurm-controller=[::1]"]) == 0
    spec = load_spec(path, environ={})
    assert spec.hosts["lb"].address == "127.0.0.77" and spec.hosts["slurm-controller"].address == "::1"
    assert 'address: "127.0.0.77"' in path.read_text()


def test_init_feature_values_are_written(tmp_path: Path) -> None:
    path = tmp_path / "spec.yaml"
    assert init.main(["-o", str(path), "--feature", "cac_auth=true", "--feature", "platform_version=8.1", "--feature", "email"]) == 0
    spec = load_spec(path, environ={})
    assert spec.features["cac_auth"] is True and spec.features["email"] is True
    assert str(spec.features["platform_version"]) == "8.1"


def test_init_unknown_host_or_feature_is_a_usage_error(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = run_init(capsys, "-o", str(tmp_path / "s.yaml"), "--host", "lbb=127.0.0.2")
    assert code == 2 and "error: unknown host 'lbb' (did you mean 'lb'?)" in err
    code, _, err = run_init(capsys, "-o", str(tmp_path / "s.yaml"), "--feature", "cac-auth=true")
    assert code == 2 and "error: unknown feature 'cac-auth' (did you mean 'cac_auth'?)" in err
    code, _, err = run_init(capsys, "-o", "-", "--host", "lb")
    assert code == 2 and "--host expects NAME=ADDR, got 'lb'" in err
    assert not (tmp_path / "s.yaml").exists()


def test_init_value_that_would_not_load_is_refused(capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ACTIVATE_INIT_UNSET", raising=False)
    code, _, err = run_init(capsys, "-o", str(tmp_path / "s.yaml"), "--host", "lb=${ACTIVATE_INIT_UNSET}")
    assert code == 2 and "the spec would not load: environment variable ACTIVATE_INIT_UNSET is not set" in err
    assert not (tmp_path / "s.yaml").exists()


def test_init_refuses_to_overwrite_without_force(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "spec.yaml"
    path.write_text("mine\n")
    code, _, err = run_init(capsys, "-o", str(path))
    assert code == 2 and f"{path} exists; use --force to overwrite it" in err
    assert path.read_text() == "mine\n"
    code, _, err = run_init(capsys, "-o", str(path), "--force")
    assert code == 0 and path.read_text().startswith("# yaml-language-server")


def test_init_dash_writes_standard_output(capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    code, out, err = run_init(capsys, "-o", "-", "--host", "lb=127.0.0.5")
    assert code == 0 and err == "" and out == init.render({"lb": "127.0.0.5"})
    assert list(tmp_path.iterdir()) == []


def test_init_default_output_is_spec_yaml(capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    code, _, err = run_init(capsys)
    assert code == 0 and (tmp_path / "spec.yaml").is_file() and "next: activate-ports plan spec.yaml" in err


def test_init_example_override_replaces_the_profile_rule_when_uncommented(starter: Path) -> None:
    text = starter.read_text()
    head, _, override = text.partition("# rules:\n")
    uncommented = head + "rules:\n" + "".join(line[2:] + "\n" for line in override.splitlines())
    starter.write_text(uncommented)
    spec = load_spec(starter, environ={})
    rule = next(rule for rule in spec.rules if rule.id == init.OVERRIDE)
    assert rule.closed_state.value == "filtered"
    assert [r.id for r in spec.rules].count(init.OVERRIDE) == 1


def test_init_names_hosts_as_the_emulated_deployment_does() -> None:
    from pytest_activate_ports.emulate import deployment

    for name, roles in deployment.HOSTS.items():
        assert [init.host_name(role) for role in roles] == [name]
