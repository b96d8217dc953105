"""``activate-ports init``: write a commented starter spec on ``profile: activate``.

    activate-ports init -o spec.yaml --host lb=activate.acme.example --feature cac_auth=true
    activate-ports init -o -            # to standard output

The spec names every role of the profile with the guide's words for where such
a host sits, one host per role that rules check (address from ``${ENV:-...}``
with a placeholder that never resolves, or the ``--host`` value), every
feature with the rules it switches (each rule's reason quotes the port guide),
the ``tls:`` section with what each file must be, and one rule override. As
written it loads, and ``pytest --collect-only`` works from every vantage.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
import textwrap
from importlib import resources
from pathlib import Path
from typing import Any, Mapping, Sequence

import pytest
import yaml

from ..cli import installed_version
from ..options import _pairs
from ..profiles import trace
from ..spec import SpecError, load_spec
from ..spec.model import FeatureValue
from ..suggest import did_you_mean, one_of

HOST_NAMES = {"control-plane": "lb", "storage": "nfs", "cluster-controller": "slurm-controller", "cluster-node": "slurm-node"}
"""Host name for a role's host where the role's own name would not be what people call it."""
OVERRIDE = "internet-no-postgres"
WIDTH = 110


def schema_path() -> Path:
    """Where the installed package keeps the spec's JSON Schema."""
    return Path(str(resources.files("pytest_activate_ports") / "spec" / "schema.json"))


def host_name(role: str) -> str:
    """The starter spec's host name for the host of ``role``."""
    return HOST_NAMES.get(role, role)


def placeholder(name: str) -> str:
    """``${ACTIVATE_LB_ADDRESS:-lb.activate.invalid}``: ``.invalid`` never resolves (RFC 6761), so no stranger is probed."""
    return f"${{ACTIVATE_{name.upper().replace('-', '_')}_ADDRESS:-{name}.activate.invalid}}"


def _comment(text: str, indent: str = "", hang: int = 3) -> list[str]:
    return textwrap.wrap(text, WIDTH, initial_indent=f"{indent}# ", subsequent_indent=f"{indent}#{' ' * hang}",
                         break_long_words=False, break_on_hyphens=False)


def _scalar(value: FeatureValue) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value) if isinstance(value, str) else str(value)


def _feature_notes(profile_text: str) -> dict[str, str]:
    """The profile's own comment on each feature (``cac_auth: false  # DoD CAC ...``)."""
    block = profile_text.split("\nfeatures:\n", 1)[1].split("\n\n", 1)[0]
    return dict(re.findall(r"^  ([A-Za-z0-9_]+):[^#\n]*#\s*(.+)$", block, re.MULTILINE))


def _rule_line(rule: trace.ProfileRule) -> str:
    when = f" when {rule.when}" if rule.when else ""
    return f"{rule.id} ({', '.join(rule.sources)} -> {', '.join(rule.targets)} {rule.port_text}, {rule.expect}{when}): {rule.reason}"


def _header(vantages: Sequence[str]) -> list[str]:
    return [
        f"# yaml-language-server: $schema={schema_path()}",
        f"# A starter spec for your ACTIVATE deployment, written by `activate-ports init` (pytest-activate-ports {installed_version()}).",
        "# It brings every rule of the ACTIVATE network port guide (`profile: activate`; each rule's reason quotes",
        "# the guide, docs/traceability.md maps every guide row to its rules). Next steps:",
        "#   1. give each host below its address (or export the variable in its ${...}); delete the hosts you do not have",
        "#   2. set the features to what your deployment does",
        "#   3. activate-ports plan spec.yaml          # what would be checked from where: no traffic",
        "#   4. from a machine in each network location (vantage), e.g. the internet:",
        "#        pytest --activate-spec spec.yaml --activate-role internet --junitxml=internet.xml --activate-evidence internet.json",
        f"#      vantages: {', '.join(vantages)}",
        "#   5. activate-ports report internet.json ... -o report.html   # one report across vantages",
        "version: 1",
        "name: my-activate",
        "profile: activate",
        "",
    ]


def _roles(roles: Mapping[str, str], vantage_only: Sequence[str]) -> list[str]:
    lines = ["# Vantages: network locations pytest runs from (--activate-role); they need no host entry."]
    for role in vantage_only:
        lines += _comment(f"  {role}: {roles[role]}", hang=5)
    lines += ["# A vantage of your own (a CI runner, a bastion) is declared here, then named in rules' `from:`:",
              "# roles: [ci-runner]", ""]
    return lines


def _features(values: Mapping[str, FeatureValue], notes: Mapping[str, str], rules: Sequence[trace.ProfileRule]) -> list[str]:
    lines = ["# Features switch the profile's conditional rules (`when:`); a rule switched off is reported skipped",
             "# with its reason. Each lists the rules it switches, in the guide's words.", "features:"]
    for name, value in values.items():
        switched = [rule for rule in rules if rule.switched_by(name)]
        lines += _comment(f"{name}: {notes.get(name, '')}", "  ")
        for rule in switched:
            lines += _comment(f"- {_rule_line(rule)}", "  ")
        lines += [f"  {name}: {_scalar(value)}", ""]
    return lines


def _hosts(roles: Mapping[str, str], targets: Sequence[str], addresses: Mapping[str, str],
           rules: Sequence[trace.ProfileRule]) -> list[str]:
    lines = ["# One host per role that rules check. `port_map` dials another port than the guide's (a port-forward);",
             "# rules, test ids and evidence keep the guide's port. Hosts may share an address and carry several roles.",
             "hosts:"]
    for role in targets:
        name = host_name(role)
        ports = sorted({port for rule in rules if role in rule.targets for port in rule.ports})
        ranges = sorted({rule.port_text for rule in rules if role in rule.targets and rule.port_range})
        sources = sorted({source for rule in rules if role in rule.targets for source in rule.sources})
        lines += _comment(f"{role}: {roles[role]}", "  ")
        lines += _comment(f"checked on {', '.join(map(str, ports)) or ''}{', ' if ports and ranges else ''}{', '.join(ranges)}"
                          f" from {', '.join(sources)}", "  ")
        lines += [f"  {name}:", f"    address: {json.dumps(addresses.get(name, placeholder(name)))}", f"    roles: [{role}]"]
        if role == "control-plane":
            lines += ["    # port_map: {443: 18443, 80: 18080}"]
        lines += [""]
    return lines


TLS = """\
# TLS probes (https, tls, wss, mtls, postgres) verify certificates against the system trust store unless told
# otherwise. Paths are relative to this file, ${ENV} is allowed, every file must exist; PEM throughout.
# tls:
#   ca: certs/ca.pem                  # the CA that issued the 443 certificate (leave out if publicly trusted)
#   server_ca: certs/dod-roots.pem    # the CA bundle that issued the 8443 (CAC) certificate, if not tls.ca
#   client_cert: certs/cac-test.pem   # a test identity the 8443 listener must accept (needed with cac_auth)
#   client_key: certs/cac-test.key    # its private key, unencrypted; keep it out of version control
#   min_version: TLS1.2               # fail TLS listeners that still accept an older version
#   expiry_warn_days: 14              # warn when a server certificate expires within this many days
"""


def _override(raw_rules: Sequence[Mapping[str, Any]]) -> list[str]:
    rule = dict(next(r for r in raw_rules if r["id"] == OVERRIDE), state="filtered")
    body = yaml.safe_dump([rule], sort_keys=False, width=WIDTH, allow_unicode=True)
    return ["", "# Your own rules add to the profile's; one with a profile rule's id replaces it. For example, demand",
            "# that the public address drops PostgreSQL (a hardened perimeter) rather than merely refusing it:",
            "# rules:", *(f"#   {line}" for line in body.splitlines())]


def render(hosts: Mapping[str, str] | None = None, features: Mapping[str, FeatureValue] | None = None) -> str:
    """The starter spec's text, with ``hosts`` (name -> address) and ``features`` (name -> value) filled in.

    Raises:
        ValueError: a host or feature the starter spec does not have (the message names the choices).
    """
    document = trace.load_profile()
    rules = trace.profile_rules(document)
    roles: dict[str, str] = document["roles"]
    targets = [role for role in roles if any(role in rule.targets for rule in rules)]
    vantages = [role for role in roles if any(role in rule.sources for rule in rules)]
    names = [host_name(role) for role in targets]
    values: dict[str, FeatureValue] = dict(document["features"])
    for given, known, what in ((hosts or {}, names, "host"), (features or {}, values, "feature")):
        for name in given:
            if name not in known:
                raise ValueError(f"unknown {what} {name!r}{did_you_mean(name, known)}; {one_of(known)}")
    values.update(features or {})
    profile_text = (resources.files("pytest_activate_ports") / "profiles" / "activate.yaml").read_text(encoding="utf-8")
    lines = [*_header(vantages), *_roles(roles, [r for r in vantages if r not in targets]),
             *_features(values, _feature_notes(profile_text), rules), *_hosts(roles, targets, hosts or {}, rules),
             TLS.rstrip("\n"), *_override(document["rules"])]
    return "\n".join(lines) + "\n"


def _typed(text: str) -> FeatureValue:
    """A ``--feature`` value typed as the same text written in the spec would be."""
    value = yaml.safe_load(text) if text.strip() else text
    return value if isinstance(value, (bool, int, float, str)) else text


def _check(text: str) -> None:
    """Load the starter spec as pytest will, so a bad ``--host``/``--feature`` value is refused here, not there."""
    with tempfile.TemporaryDirectory(prefix="activate-init-") as folder:
        path = Path(folder) / "spec.yaml"
        path.write_text(text, encoding="utf-8")
        try:
            load_spec(path)
        except SpecError as exc:
            line = text.splitlines()[exc.line - 1].strip()
            raise ValueError(f"the spec would not load: {exc.message} (at: {line})") from None


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="activate-ports init", description=__doc__.split("\n\n")[0].split(": ", 1)[1])
    parser.add_argument("-o", "--output", default="spec.yaml", help="file to write, '-' for standard output (default: spec.yaml)")
    parser.add_argument("--host", action="append", default=[], metavar="NAME=ADDR", help="a host's address (repeatable)")
    parser.add_argument("--feature", action="append", default=[], metavar="NAME=VALUE", help="a feature's value (repeatable)")
    parser.add_argument("--force", action="store_true", help="overwrite an existing file")
    return parser


def main(argv: Sequence[str]) -> int:
    """Entry point of the ``init`` subcommand."""
    parser = _parser()
    args = parser.parse_args(list(argv))
    try:
        hosts = _pairs("--host", args.host, True)
        features = {name: _typed(value) for name, value in _pairs("--feature", args.feature, False).items()}
        text = render(hosts, features)
        _check(text)
    except (pytest.UsageError, ValueError) as exc:
        parser.error(str(exc))
    if args.output == "-":
        sys.stdout.write(text)
        return 0
    path = Path(args.output)
    try:
        with path.open("w" if args.force else "x", encoding="utf-8") as out:
            out.write(text)
    except FileExistsError:
        parser.error(f"{path} exists; use --force to overwrite it")
    except OSError as exc:
        parser.error(f"cannot write {path}: {exc.strerror}")
    print(f"activate-ports init: wrote {path}; next: activate-ports plan {path}", file=sys.stderr)
    return 0
