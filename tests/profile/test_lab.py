"""The namespace lab: the profile from every vantage inside its namespace; correct lab passes, mistakes fail exactly."""

from __future__ import annotations

import json
from typing import Iterator

import pytest

from pytest_activate_ports.emulate import deployment
from pytest_activate_ports.emulate.pytest_run import OUTCOMES, PytestRun

from .lab import LAB_MISCONFIGURATIONS, ZONES, Lab, LabError, unavailable

ROLES = ("internet", "control-plane-internal", "agent", "workspace", "cluster-node", "cluster-controller")


@pytest.fixture(scope="module", params=["correct", "misconfigured"])
def lab_run(request: pytest.FixtureRequest) -> Iterator[tuple[str, PytestRun]]:
    """Build the lab (correct or misconfigured), probe it from every vantage in one run, always tear it down."""
    reason = unavailable()
    if reason:
        pytest.skip(reason)
    lab = Lab()
    request.addfinalizer(lab.close)
    misconfigured = request.param == "misconfigured"
    try:
        lab.build(misconfigured)
        lab.start_services(misconfigured)
    except LabError as exc:
        pytest.fail(f"the lab did not come up: {exc}")
    yield request.param, lab.probe_from_every_vantage(request.param)


def _table(run: PytestRun) -> str:
    return "\n".join(f"{role:<24} " + ", ".join(f"{n} {o}" for n, o in zip(run.counts(role), OUTCOMES)) for role in ROLES)


def test_lab_verdicts_from_every_vantage_in_one_run(lab_run: tuple[str, PytestRun]) -> None:
    variant, run = lab_run
    assert {item.role for item in run.items.values()} == set(ROLES), run.output
    failed = run.named("failed") | run.named("error")
    expected = {item for name in LAB_MISCONFIGURATIONS for item in deployment.MISCONFIGURATIONS[name].fails}
    print(f"\nlab, {variant} (pytest exit code {run.exit_code}):\n{_table(run)}")
    if variant == "correct":
        assert failed == set(), _table(run) + "\n" + run.output
        assert run.exit_code == 0
        assert len(run.named("passed")) == 52
    else:
        assert failed == expected, _table(run) + "\n" + run.output


def test_lab_firewall_drops_and_rejects(lab_run: tuple[str, PytestRun]) -> None:
    _, run = lab_run
    observed = {name: item.observed for name, item in run.items.items() if item.role == "internet"}
    assert observed["internet-no-vault[lb:8200]"].startswith("filtered"), observed
    assert observed["internet-no-cluster-services[slurm-controller:6817]"].startswith("refused"), observed


def test_lab_each_vantage_dials_from_inside_its_namespace(lab_run: tuple[str, PytestRun]) -> None:
    _, run = lab_run
    inside = {role: {zone.address, *zone.hosts.values()} for zone in ZONES for role in zone.vantages}
    sources: dict[str, set[str]] = {}
    for record in json.loads(run.evidence.read_text())["records"]:
        sources.setdefault(record["role"], set()).update(
            result["source"].rpartition(":")[0] for result in record.get("results", []) if result.get("source"))
    for role, seen in sources.items():
        assert seen <= inside[role], (role, seen)  # each prober dialled from its own namespace's addresses
    # A port range records counts, not its dials: the controller's one check (a range) has no source to show.
    assert set(sources) == set(ROLES) and all(sources[role] for role in ROLES if role != "cluster-controller"), sources
