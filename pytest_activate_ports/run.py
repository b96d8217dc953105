"""One pytest session's view of the specs: loaded, overridden, planned for the vantage."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from .checks import Note, Plan, plan, unchecked_hosts
from .options import Settings
from .spec import Spec, SpecError, load_spec
from .spec.features import FeatureValueError, typed_value
from .spec.model import FeatureValue, bare_address
from .suggest import counted, did_you_mean, one_of

if TYPE_CHECKING:
    from .probing import Probing


class ActivateRun:
    """Specs of this session and their plans; spec errors wait for collection to be reported."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.specs: dict[Path, Spec] = {}
        self.errors: dict[Path, SpecError] = {}
        self.plans: dict[Path, Plan] = {}
        self.role: str | None = settings.role
        self.vantages: dict[str, str] = {}  # role -> WHERE of each vantage; empty: one local vantage, `role`
        self.shown: dict[str, str] = {}  # role -> WHERE as output and evidence show it: credentials removed
        self._seen: dict[tuple[str, str], str] = {}  # (host, role) -> its address from that vantage (NAME@ROLE=ADDR)
        self.probing: Probing | None = None  # while the run loop runs: the checks' jobs and their engine

    def load(self, path: Path) -> None:
        """Load one spec (recording a SpecError for its collector rather than raising)."""
        try:
            self.specs[path] = load_spec(path)
        except SpecError as exc:
            self.errors[path] = exc

    def prepare(self) -> None:
        """Apply ``--activate-host``/``--activate-feature``, settle the role, and plan every spec.

        Raises:
            pytest.UsageError: an override names nothing, or the role is missing or unknown.
        """
        self._override()
        self._settle_role()
        roles = self.roles
        self.plans = {path: self._seen_from(plan(spec, roles)) for path, spec in self.specs.items()}

    @property
    def roles(self) -> tuple[str, ...]:
        """The vantage roles this run probes from."""
        return tuple(self.vantages) or ((self.role,) if self.role else ())

    def _seen_from(self, planned: Plan) -> Plan:
        """``planned`` with each ``--activate-host NAME@ROLE=ADDR`` applied to the checks ``ROLE`` probes.

        A host may have another address from another vantage (a load balancer's
        public name from the internet, its private one from the pods).
        """
        seen = self._seen
        if not seen:
            return planned
        checks = tuple(dataclasses.replace(check, host=dataclasses.replace(check.host, address=bare_address(seen[key])))
                       if (key := (check.host.name, check.role or "")) in seen else check for check in planned.checks)
        return dataclasses.replace(planned, checks=checks)

    def _override(self) -> None:
        hosts = {name for spec in self.specs.values() for name in spec.hosts}
        roles = {r for spec in self.specs.values() for r in spec.roles}
        self._seen = {}
        for key, address in self.settings.hosts.items():
            name, scoped, role = key.partition("@")
            if self.specs and name not in hosts:
                raise pytest.UsageError(f"--activate-host: unknown host {name!r}{did_you_mean(name, hosts)}; {one_of(hosts)}")
            if scoped and self.specs and role not in roles:
                raise pytest.UsageError(f"--activate-host {name}@{role}: unknown role {role!r}{did_you_mean(role, roles)}; "
                                        f"{one_of(roles)}")
            if scoped:
                self._seen[name, role] = address
        features = {name for spec in self.specs.values() for name in spec.features}
        for name in self.settings.features:
            if self.specs and name not in features:
                raise pytest.UsageError(f"--activate-feature: unknown feature {name!r}{did_you_mean(name, features)}; {one_of(features)}")
        for path, spec in self.specs.items():
            new_hosts = {name: dataclasses.replace(host, address=bare_address(self.settings.hosts.get(name, host.address)))
                         for name, host in spec.hosts.items()}
            new_features = {**spec.features, **{k: _feature(spec, k, v) for k, v in self.settings.features.items() if k in spec.features}}
            self.specs[path] = dataclasses.replace(spec, hosts=new_hosts, features=new_features)
            # Rules hold host names, not Host objects, so nothing else needs rebuilding.

    def _settle_role(self) -> None:
        if not self.specs:
            return
        vantages = {v: None for spec in self.specs.values() for v in spec.vantages()}
        known = {r for spec in self.specs.values() for r in spec.roles}
        if self.settings.repeated_roles:
            raise pytest.UsageError(f"--activate-role is given {len(self.settings.repeated_roles)} times "
                                    f"({', '.join(self.settings.repeated_roles)}); a run is on one vantage: "
                                    f"give it once, one run per vantage role ({', '.join(vantages)})")
        if self.settings.vantages:
            self._settle_vantages(vantages, known)
        elif self.role is None:
            if len(vantages) > 1:
                raise pytest.UsageError(
                    f"the spec has rules from several vantages; choose one with --activate-role: {one_of(vantages)}")
            self.role = next(iter(vantages), None)
        else:
            _check_vantage("--activate-role", self.role, known, vantages)

    def _settle_vantages(self, vantages: dict[str, None], known: set[str]) -> None:
        """``--activate-vantage`` roles (and ``--activate-role``, probed from here) are each a vantage with rules."""
        given, here = dict(self.settings.vantages), self.settings.role
        if here is not None and here in given:
            raise pytest.UsageError(f"--activate-role {here} is also given as --activate-vantage {here}={given[here]}; "
                                    f"name each role once (--activate-vantage {here}=local probes it from here)")
        chosen = {**({here: "local"} if here is not None else {}), **given}
        for role in chosen:
            _check_vantage("--activate-vantage" if role in given else "--activate-role", role, known, vantages)
        from .where import shown_where  # execnet is imported only when vantages are given

        self.vantages = chosen
        self.shown = {role: where if where == "local" else shown_where(where) for role, where in chosen.items()}
        self.role = None  # several vantages: each check carries its own role

    def header(self) -> str | None:
        """The report lines: spec, role, checks, not applicable; then one line per note."""
        if not self.specs and not self.errors:
            return None
        names = ", ".join(str(p.name) for p in (*self.specs, *self.errors))
        checks = sum(len(p.checks) - p.not_applicable for p in self.plans.values())
        na = sum(p.not_applicable for p in self.plans.values())
        other = sum(p.other_roles for p in self.plans.values())
        where = f"vantages {', '.join(f'{role} ({shown})' for role, shown in self.shown.items())}" \
            if self.shown else f"role {self.role or '-'}"
        line = f"activate: spec {names}, {where}, {counted(checks, 'check')}, {na} not applicable"
        if other:
            line += f", {counted(other, 'rule')} for other roles not collected"
        empty = [rule for p in self.plans.values() for rule in p.without_hosts]
        if empty:
            line += f", {counted(len(empty), 'rule')} {'matches' if len(empty) == 1 else 'match'} no host ({', '.join(empty[:5])})"
        return "\n".join([line, *(f"activate: warning: {note}" for path in self.specs for note in self.notes(path))])

    def notes(self, path: Path) -> tuple[Note, ...]:
        """What the spec at ``path`` likely did not mean: rules that contradict each other, hosts nothing checks."""
        if path not in self.specs:
            return ()
        return (*(self.plans[path].conflicts if path in self.plans else ()), *unchecked_hosts(self.specs[path]))


def _check_vantage(option: str, role: str, known: set[str], vantages: dict[str, None]) -> None:
    """``role`` (given with ``option``) must be a role some rule runs from."""
    if role not in known:
        raise pytest.UsageError(f"{option}: unknown role {role!r}{did_you_mean(role, known)}; "
                                f"roles with rules: {', '.join(vantages)}")
    if role not in vantages:
        raise pytest.UsageError(f"{option}: no rule runs from {role!r} (it is a target, not a vantage); "
                                f"roles with rules: {', '.join(vantages)}")


def _feature(spec: Spec, name: str, text: str) -> FeatureValue:
    """An ``--activate-feature`` value as the spec's type for that feature demands."""
    try:
        return typed_value(name, text, spec.feature_types.get(name))
    except FeatureValueError as exc:
        raise pytest.UsageError(f"--activate-feature {name}={text}: {exc}") from None


RUN = pytest.StashKey[ActivateRun]()  # the session's one place for settings, specs and plans
