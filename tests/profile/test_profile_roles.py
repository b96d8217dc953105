"""From each vantage, ``profile: activate`` collects every guide row that applies there, and features switch rules."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import pytest
import trustme

from pytest_activate_ports.checks import Plan, plan
from pytest_activate_ports.profiles import trace
from pytest_activate_ports.profiles.guide import parse_guide
from pytest_activate_ports.spec import Spec, SpecError, load_spec

from .conftest import EXAMPLES, NO_HYPOTHESIS

ITEMS_PER_ROLE = {
    "internet": 26,
    "control-plane-internal": 18,
    "agent": 5,
    "workspace": 3,
    "cluster-node": 6,
    "cluster-controller": 1,
}


def expected_items(spec: Spec, role: str, guide_text: str, profile_document: dict[str, Any]) -> set[str]:
    """``rule[host:port]`` for every guide row's rule that runs from ``role``, over the spec's hosts."""
    names: set[str] = set()
    for _, rules in trace.trace(parse_guide(guide_text), trace.profile_rules(profile_document)):
        for rule in (r for r in rules if role in r.sources):
            hosts = [h.name for h in spec.hosts.values() if set(h.roles) & set(rule.targets)]
            labels = ["-".join(map(str, rule.port_range))] if rule.port_range else [str(p) for p in rule.ports]
            names.update(f"{rule.id}[{host}:{label}]" for host in hosts for label in labels)
    return names


@pytest.mark.parametrize("role", ITEMS_PER_ROLE)
def test_profile_collects_every_guide_row_of_each_vantage(
        role: str, pytester: pytest.Pytester, spec_in_pytester: Callable[[str], Path], full_spec: Spec,
        guide_text: str, profile_document: dict[str, Any]) -> None:
    spec = spec_in_pytester("activate-full.yaml")
    result = pytester.runpytest(*NO_HYPOTHESIS, "--activate-spec", str(spec), "--activate-role", role, "--collect-only", "-q")
    collected = {line.split("::", 1)[1] for line in result.outlines if line.startswith("activate-full.yaml::")}
    assert collected == expected_items(full_spec, role, guide_text, profile_document)
    assert len(collected) == ITEMS_PER_ROLE[role]
    result.stdout.fnmatch_lines([f"activate: spec activate-full.yaml, role {role}, *"])


def test_every_profile_role_is_a_vantage_or_has_a_host_in_the_full_example(full_spec: Spec, profile_document: dict[str, Any]) -> None:
    rules = trace.profile_rules(profile_document)
    vantages = {source for rule in rules for source in rule.sources}
    with_hosts = {role for host in full_spec.hosts.values() for role in host.roles}
    assert set(profile_document["roles"]) == vantages | with_hosts
    assert all(profile_document["roles"][role] for role in profile_document["roles"])


def _skipped(plan: Plan) -> dict[str, str]:
    return {check.rule.id: check.skip_reason for check in plan.checks if check.skip_reason}


def _active(plan: Plan) -> set[str]:
    return {check.rule.id for check in plan.checks if not check.skip_reason}


@pytest.mark.parametrize(("role", "features", "off", "on"), [
    ("internet", {"cac_auth": True}, {"lb-cac-mtls-if-open"}, {"lb-cac-mtls"}),
    ("internet", {"cac_auth": False}, {"lb-cac-mtls"}, {"lb-cac-mtls-if-open"}),
    ("internet", {"http_redirect": False}, {"lb-http-redirect"}, {"lb-http-redirect-if-open"}),
    ("internet", {"managed_databases": True}, set(), {"internet-no-managed-postgres", "internet-no-managed-mongodb"}),
    ("internet", {"cloud_clusters": False}, {"internet-no-cluster-services"}, set()),
    ("internet", {}, {"internet-default-deny"}, set()),  # off by default: a sweep of 65,535 ports is asked for
    ("internet", {"default_deny": True}, set(), {"internet-default-deny"}),
    ("control-plane-internal", {"ssh_via_tunnel_only": True}, {"cluster-ssh"}, {"workspace-ssh"}),
    ("control-plane-internal", {"nfs_storage": False, "email": False}, {"storage-nfs", "smtp-starttls"}, set()),
    ("control-plane-internal", {"rabbitmq_management": True}, set(), {"rabbitmq-management", "rabbitmq-amqp"}),
    ("workspace", {"ssh_via_tunnel_only": True}, {"cloud-cluster-ssh", "managed-cluster-ssh", "existing-cluster-ssh"}, set()),
    ("workspace", {"managed_clusters": False}, {"managed-cluster-ssh"}, {"cloud-cluster-ssh", "existing-cluster-ssh"}),
    ("agent", {"existing_clusters": False}, {"existing-cluster-agent-443"}, {"agent-tunnel", "cloud-cluster-agent-443"}),
    ("cluster-node", {"slurm": False}, {"slurmctld", "slurmdbd", "slurm-mysql", "slurm-srun"}, {"cluster-nfs", "cluster-app-ports"}),
    ("cluster-node", {"cloud_clusters": False}, {"cluster-nfs", "slurmctld", "slurm-srun", "cluster-app-ports"}, set()),
])
def test_features_switch_rules(role: str, features: dict[str, bool], off: set[str], on: set[str],
                               full_plan: Callable[..., Plan]) -> None:
    plan = full_plan(role, **features)
    assert off <= set(_skipped(plan)), _skipped(plan)
    assert on <= _active(plan)


def test_a_rule_switched_off_is_skipped_with_the_guides_reason(full_plan: Callable[..., Plan]) -> None:
    skipped = _skipped(full_plan("internet", http_redirect=False))
    assert skipped["lb-http-redirect"] == (
        "not applicable: when 'http_redirect' is false (http_redirect=False): HTTP-to-HTTPS redirect (summary: HTTP redirect)")


def test_feature_override_on_the_command_line_reports_the_skip(
        pytester: pytest.Pytester, spec_in_pytester: Callable[[str], Path]) -> None:
    spec = spec_in_pytester("activate-full.yaml")
    result = pytester.runpytest(*NO_HYPOTHESIS, "--activate-spec", str(spec), "--activate-role", "cluster-node",
                                "--activate-feature", "slurm=false", "-rs", "-k", "slurmctld")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["*not applicable: when 'cloud_clusters and slurm' is false (cloud_clusters=True, "
                                 "slurm=False): Slurmctld (Slurm controller daemon)*"])


@pytest.mark.parametrize(("version", "legacy_required"), [
    ("7", True), ("7.4", True), ("7.10.3", True), ("8", False), ("8.0.1", False), ("10", False), ("v9.1", False),
])
def test_legacy_api_4006_flips_at_platform_version_8(version: str, legacy_required: bool, full_plan: Callable[..., Plan]) -> None:
    plan = full_plan("control-plane-internal", platform_version=version)
    assert ("legacy-api" in _active(plan)) is legacy_required
    assert ("legacy-api-removed" in _active(plan)) is not legacy_required
    assert ("legacy-api-removed" if legacy_required else "legacy-api") in _skipped(plan)


def test_profile_rules_run_from_a_vantage_and_expect_what_the_guide_says(full_spec: Spec) -> None:
    rules = {rule.id: rule for rule in full_spec.rules}
    assert rules["legacy-api-removed"].expect.value == "forbidden"
    assert {rules[r].probe.kind for r in ("lb-https", "lb-wss-tunnel", "lb-http-redirect", "lb-cac-mtls")} == {
        "https", "wss", "http-redirect", "mtls"}
    plain_tcp = [r.id for r in full_spec.rules if r.probe.kind == "tcp" and r.port_range is None and r.expect.value != "forbidden"]
    assert plain_tcp == [], "every single-port rule speaks its service's protocol"
    assert rules["slurm-srun"].port_range is not None and (rules["slurm-srun"].port_range.first, rules["slurm-srun"].port_range.last) == (8192, 60000)
    forbidden_from_internet = {port for rule in full_spec.rules if rule.sources == ("internet",)
                               and rule.expect.value == "forbidden" and rule.targets == ("lb",) for port in rule.ports}
    assert forbidden_from_internet == {5432, 27017, 5672, 15672, 8200, 3000, 4006, 8888, 22, 3001, 3003, 3004, 2049}


def test_minimal_example_checks_the_public_address_only() -> None:
    spec = load_spec(EXAMPLES / "minimal.yaml", environ={"ACTIVATE_HOST": "activate.acme.example"})
    assert [host.address for host in spec.hosts.values()] == ["activate.acme.example"]
    checks = plan(spec, "internet").checks
    assert len(checks) == 20 and {check.host.name for check in checks} == {"lb"}


def test_cac_example_overrides_the_profile_rule_by_id(tmp_path: Path) -> None:
    trustme.CA().cert_pem.write_to_path(str(tmp_path / "ca.pem"))  # the probes read it: a CA must hold one
    for name in ("cac-client.pem", "cac-client.key"):
        (tmp_path / name).write_text("placeholder\n")  # read as they are, loaded only by a probe; no key material here
    spec = load_spec(EXAMPLES / "cac.yaml", environ={"ACTIVATE_TLS_DIR": str(tmp_path), "ACTIVATE_CAC_CA": "CAC test root"})
    rules = [rule for rule in spec.rules if rule.id == "lb-cac-mtls"]
    assert len(rules) == 1 and "DoD PKE" in rules[0].reason and rules[0].when is not None
    assert spec.features["cac_auth"] is True and spec.tls.client_cert == tmp_path / "cac-client.pem"
    assert len(spec.rules) == len(load_spec(EXAMPLES / "minimal.yaml", environ={}).rules)


def test_a_spec_may_only_set_features_the_profile_declares(write_spec: Callable[[str], Path]) -> None:
    path = write_spec("version: 1\nprofile: activate\nfeatures:\n  cac_autth: true\nhosts: {lb: {address: 127.0.0.1, roles: [control-plane]}}\n")
    with pytest.raises(SpecError, match=r"spec.yaml:4:3: unknown feature 'cac_autth'.*did you mean 'cac_auth'"):
        load_spec(path, environ={})
