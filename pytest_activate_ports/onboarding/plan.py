"""``activate-ports plan``: what a spec would check from each vantage, before any traffic.

    activate-ports plan spec.yaml
    activate-ports plan spec.yaml --activate-role internet --activate-host lb=10.0.0.5 --format md

The spec is validated exactly as pytest collection validates it (the same
``file:line:col`` errors, exit 2) and planned by the plugin's own planner with
the same ``--activate-*`` overrides; nothing is dialled and no name is
resolved. Per vantage it lists the checks that would run (rule, host,
address, port and the port dialled through ``port_map``, expectation, probe)
and those not applicable with the reason, then the hosts no check targets and
the rules that match no host.

A vantage is a role today (``--activate-role``, repeatable: without it every
role some rule runs from). :func:`build` plans a list of roles, so
``--activate-vantage ROLE=WHERE`` needs only to add each role's WHERE to its
:class:`Vantage` and header.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

import pytest

from ..checks import Check
from ..evidence.text import inert, printable, table
from ..options import DEFAULT_PER_HOST, DEFAULT_TIMEOUT, Settings, _pairs
from ..run import ActivateRun
from ..spec import Spec, SpecError, load_spec
from ..spec.model import ClosedState, Expect, FeatureValue

COLUMNS = ("rule", "host", "address", "port", "dialled", "expect", "probe")


@dataclass(frozen=True)
class Vantage:
    """One vantage's share of the spec: checks to run, checks not applicable, rules for no host."""

    role: str
    checks: tuple[Check, ...]
    without_hosts: tuple[str, ...]

    @property
    def running(self) -> list[Check]:
        return [check for check in self.checks if not check.skip_reason]

    @property
    def skipped(self) -> list[Check]:
        return [check for check in self.checks if check.skip_reason]


def _row(check: Check, features: Mapping[str, FeatureValue]) -> dict[str, str]:
    rule, host = check.rule, check.host
    port = check.label
    if rule.port_range is not None:
        excepted = rule.port_range.exceptions(features)
        if excepted:
            port += f" except {', '.join(map(str, excepted))}"
        checked = rule.port_range.last - rule.port_range.first + 1 - sum(e.last - e.first + 1 for e in excepted)
        if len(check.ports) < checked:
            port += f" ({len(check.ports)} sampled)"
    dialled = ", ".join(str(host.dial_port(p)) for p in check.ports) if any(host.dial_port(p) != p for p in check.ports) else check.label
    expect = rule.expect.value
    if rule.expect is Expect.FORBIDDEN and rule.closed_state is not ClosedState.ANY:
        expect += f" ({rule.closed_state.value})"
    probe = "closed" if rule.expect is Expect.FORBIDDEN else rule.probe.kind
    return {"rule": rule.id, "host": host.name, "address": host.address, "port": port, "dialled": dialled,
            "expect": expect, "probe": probe}


@dataclass(frozen=True)
class SpecPlan:
    """The plan of one spec across the vantages asked for."""

    spec: Spec
    vantages: tuple[Vantage, ...]

    @property
    def idle_hosts(self) -> list[str]:
        """Hosts that no check of any planned vantage targets."""
        targeted = {check.host.name for vantage in self.vantages for check in vantage.checks}
        return [name for name in self.spec.hosts if name not in targeted]

    @property
    def without_hosts(self) -> list[str]:
        """Rules (of the planned vantages) whose targets matched no host."""
        return list(dict.fromkeys(rule for vantage in self.vantages for rule in vantage.without_hosts))

    def as_json(self) -> dict[str, object]:
        """Plain data for tooling: ``--format json``."""
        return {
            "spec": str(self.spec.path), "name": self.spec.name, "sha256": self.spec.sha256,
            "vantages": [{"role": v.role,
                          "checks": [{"name": c.name, **_row(c, self.spec.features),
                                      "dialled_ports": [c.host.dial_port(p) for p in c.ports]} for c in v.running],
                          "not_applicable": [{"name": c.name, **_row(c, self.spec.features), "reason": _because(c)}
                                             for c in v.skipped],
                          "rules_without_hosts": list(v.without_hosts)} for v in self.vantages],
            "hosts_without_checks": self.idle_hosts,
            "rules_without_hosts": self.without_hosts,
        }


def build(path: Path, roles: Sequence[str], settings: Settings) -> SpecPlan:
    """Load ``path`` and plan it for each of ``roles`` (every vantage of the spec when empty).

    Raises:
        SpecError: the spec is invalid (located, as at collection).
        pytest.UsageError: an override or a role names nothing in the spec.
    """
    spec = load_spec(path)
    vantages: list[Vantage] = []
    planned = spec
    for role in roles or spec.vantages():
        # The plugin's own run object applies the overrides, checks the role and plans: one planner.
        run = ActivateRun(dataclasses.replace(settings, role=role))
        run.specs[path] = spec
        run.prepare()
        planned = run.specs[path]
        vantages.append(Vantage(role, run.plans[path].checks, run.plans[path].without_hosts))
    return SpecPlan(planned, tuple(vantages))


def _because(check: Check) -> str:
    return (check.skip_reason or "").removeprefix("not applicable: ")


def _text_table(rows: list[dict[str, str]]) -> list[str]:
    # Addresses may come from the environment: no escape sequence reaches the terminal.
    shown = [dict(zip(COLUMNS, COLUMNS)), *({c: printable(row[c]) for c in COLUMNS} for row in rows)]
    widths = {c: max(len(row[c]) for row in shown) for c in COLUMNS}
    return ["  " + "  ".join(row[c].ljust(widths[c]) for c in COLUMNS).rstrip() for row in shown]


def render_text(plan: SpecPlan) -> str:
    """The terminal rendering."""
    total = sum(len(v.running) for v in plan.vantages)
    lines = [f"plan of {plan.spec.path} ({plan.spec.name}): {len(plan.vantages)} vantage(s), {total} checks, "
             f"{sum(len(v.skipped) for v in plan.vantages)} not applicable; nothing was dialled"]
    for vantage in plan.vantages:
        lines += ["", f"from {vantage.role}: {len(vantage.running)} checks, {len(vantage.skipped)} not applicable"]
        if vantage.running:
            lines += _text_table([_row(check, plan.spec.features) for check in vantage.running])
        if vantage.skipped:
            lines += ["  not applicable:", *(f"    {check.name}: {printable(_because(check))}" for check in vantage.skipped)]
    lines += ["", f"hosts with no checks: {', '.join(plan.idle_hosts) or 'none'}",
              f"rules matching no host: {', '.join(plan.without_hosts) or 'none'}"]
    return "\n".join(lines) + "\n"


def render_markdown(plan: SpecPlan) -> str:
    """The reviewer's rendering (a merge request comment, a CI job summary)."""
    lines = [f"# Plan of {inert(plan.spec.name)}", "",
             f"Spec {inert(str(plan.spec.path))}, {len(plan.vantages)} vantage(s); nothing was dialled.", ""]
    for vantage in plan.vantages:
        lines += [f"## From {inert(vantage.role)}", "",
                  f"{len(vantage.running)} checks, {len(vantage.skipped)} not applicable.", ""]
        if vantage.running:
            rows = [_row(check, plan.spec.features) for check in vantage.running]
            lines += [*table(list(COLUMNS), [[row[column] for column in COLUMNS] for row in rows]), ""]
        if vantage.skipped:
            lines += ["Not applicable:", "", *table(["check", "reason"], [[c.name, _because(c)] for c in vantage.skipped]), ""]
    lines += ["## Left out", "", f"- Hosts with no checks: {inert(', '.join(plan.idle_hosts) or 'none')}",
              f"- Rules matching no host: {inert(', '.join(plan.without_hosts) or 'none')}", ""]
    return "\n".join(lines)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="activate-ports plan", description=__doc__.split("\n\n")[2].replace("\n", " "))
    parser.add_argument("spec", type=Path, help="the spec (YAML)")
    parser.add_argument("--activate-role", action="append", default=[], metavar="ROLE",
                        help="plan only this vantage (repeatable; default: every role some rule runs from)")
    parser.add_argument("--activate-host", action="append", default=[], metavar="NAME=ADDR", help="override a host's address, as pytest's")
    parser.add_argument("--activate-feature", action="append", default=[], metavar="NAME[=VALUE]",
                        help="override a feature toggle (NAME alone means true), as pytest's")
    parser.add_argument("--format", choices=("text", "md", "json"), default="text", help="output format (default: text)")
    return parser


def main(argv: Sequence[str]) -> int:
    """Entry point of the ``plan`` subcommand: 0 when planned, 2 on a spec or usage error."""
    parser = _parser()
    args = parser.parse_args(list(argv))
    try:
        settings = Settings(specs=(args.spec,), role=None, hosts=_pairs("--activate-host", args.activate_host, True),
                            features=_pairs("--activate-feature", args.activate_feature, False),
                            timeout=DEFAULT_TIMEOUT, concurrency=1, per_host=DEFAULT_PER_HOST, evidence=None, spec_glob=None)
        plan = build(args.spec, args.activate_role, settings)
    except SpecError as exc:
        print(exc, file=sys.stderr)
        return 2
    except pytest.UsageError as exc:
        parser.error(str(exc))
    if args.format == "json":
        sys.stdout.write(json.dumps(plan.as_json(), indent=2) + "\n")
    else:
        sys.stdout.write(render_markdown(plan) if args.format == "md" else render_text(plan))
    return 0
