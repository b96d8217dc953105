"""The namespace lab: the profile from every vantage inside its namespace; correct lab passes, mistakes fail exactly."""

from __future__ import annotations

from typing import Iterator

import pytest

from pytest_activate_ports.emulate import deployment
from pytest_activate_ports.emulate.vantage import VantageRun

from .lab import LAB_MISCONFIGURATIONS, Lab, LabError, unavailable


@pytest.fixture(scope="module", params=["correct", "misconfigured"])
def lab_runs(request: pytest.FixtureRequest) -> Iterator[tuple[str, list[VantageRun]]]:
    """Build the lab (correct or misconfigured), probe it from every vantage, always tear it down."""
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


def _table(runs: list[VantageRun]) -> str:
    return "\n".join(f"{run.role:<24} exit {run.exit_code}: " + ", ".join(
        f"{len(run.named(o))} {o}" for o in ("passed", "failed", "skipped", "error")) for run in runs)


def test_lab_verdicts_from_every_vantage(lab_runs: tuple[str, list[VantageRun]]) -> None:
    variant, runs = lab_runs
    assert {run.role for run in runs} == {"internet", "control-plane-internal", "agent", "workspace", "cluster-node",
                                          "cluster-controller"}
    failed = {name for run in runs for name in run.named("failed") | run.named("error")}
    expected = {item for name in LAB_MISCONFIGURATIONS for item in deployment.MISCONFIGURATIONS[name].fails}
    print(f"\nlab, {variant}:\n{_table(runs)}")
    if variant == "correct":
        assert failed == set(), _table(runs) + "\n" + "\n".join(run.output for run in runs if run.exit_code)
        assert all(run.exit_code == 0 for run in runs)
        assert sum(len(run.named("passed")) for run in runs) == 52
    else:
        assert failed == expected, _table(runs) + "\n" + "\n".join(run.output for run in runs)


def test_lab_firewall_drops_and_rejects(lab_runs: tuple[str, list[VantageRun]]) -> None:
    _, runs = lab_runs
    internet = next(run for run in runs if run.role == "internet")
    assert internet.observed["internet-no-vault[lb:8200]"].startswith("filtered"), internet.observed
    assert internet.observed["internet-no-cluster-services[slurm-controller:6817]"].startswith("refused"), internet.observed
