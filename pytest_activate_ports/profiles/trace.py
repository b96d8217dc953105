"""Traceability from the port guide to the built-in profile, and its markdown report.

A rule traces to a guide row when it checks the row's port (or exactly its
range) and its ``reason`` quotes the row's purpose; a forbidden range that
excepts the row's port (default deny: nothing answers but the guide's
exposed ports) checks the row's claim from the other side, and traces too. Quoting is the contract
that makes every skipped or failed item explain itself in the guide's words;
where two tables have identical rows (cloud, managed and existing clusters),
the reason must also name the table. Regenerate the committed report with::

    python -m pytest_activate_ports.profiles.trace --output docs/traceability.md
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Iterable, Sequence

import yaml

from .guide import GuideRow, parse_guide

DEFAULT_GUIDE = Path("docs/activate-network-ports.txt")


@dataclass(frozen=True)
class ProfileRule:
    """A rule of the profile as written (roles, not hosts), for tracing and documentation."""

    id: str
    sources: tuple[str, ...]
    targets: tuple[str, ...]
    ports: tuple[int, ...]
    port_range: tuple[int, int] | None
    expect: str
    probe: str
    when: str
    reason: str
    excepted: tuple[tuple[int, int, str], ...] = ()  # a range's ``except:`` entries: first, last, their ``when``

    @property
    def port_text(self) -> str:
        """``443``, ``22, 3001``, ``8192-60000`` or ``1-65535 except 443, 80 (when http_redirect)``."""
        if not self.port_range:
            return ", ".join(str(port) for port in self.ports)
        excepted = [(str(first) if first == last else f"{first}-{last}") + (f" (when {when})" if when else "")
                    for first, last, when in self.excepted]
        return f"{self.port_range[0]}-{self.port_range[1]}" + (f" except {', '.join(excepted)}" if excepted else "")

    def switched_by(self, feature: str) -> bool:
        """Does ``feature`` appear in the rule's ``when`` or in that of one of its exceptions?"""
        return any(re.search(rf"\b{re.escape(feature)}\b", when) for when in (self.when, *(e[2] for e in self.excepted)))


def _names(value: Any) -> tuple[str, ...]:
    return tuple(str(v) for v in value) if isinstance(value, list) else (str(value),)


def _span(text: object) -> tuple[int, int]:
    first, _, last = str(text).partition("-")
    return int(first), int(last or first)


def _excepted(entry: Any) -> tuple[int, int, str]:
    if isinstance(entry, dict):
        return (*_span(entry.get("port", entry.get("range"))), str(entry.get("when", "")))
    return (*_span(entry), "")


def _rule(raw: dict[str, Any]) -> ProfileRule:
    probe = raw.get("probe", "tcp")
    kind = str(probe["kind"] if isinstance(probe, dict) else probe)
    first, _, last = str(raw.get("range", "")).partition("-")
    ports = tuple(int(p) for p in raw.get("ports", [raw["port"]] if "port" in raw else []))
    return ProfileRule(
        id=str(raw["id"]),
        sources=_names(raw["from"]),
        targets=_names(raw["to"]),
        ports=ports,
        port_range=(int(first), int(last)) if last else None,
        expect=str(raw["expect"]),
        probe="closed" if raw["expect"] == "forbidden" else kind,
        when=str(raw.get("when", "")),
        reason=str(raw.get("reason", "")),
        excepted=tuple(_excepted(entry) for entry in raw.get("except", ())),
    )


def load_profile(name: str = "activate") -> dict[str, Any]:
    """The built-in profile's YAML document as plain data."""
    text = (resources.files(__package__ or "pytest_activate_ports.profiles") / f"{name}.yaml").read_text(encoding="utf-8")
    document: dict[str, Any] = yaml.safe_load(text)
    return document


def profile_rules(document: dict[str, Any]) -> tuple[ProfileRule, ...]:
    """The rules of a profile document."""
    return tuple(_rule(raw) for raw in document["rules"])


def _plain(text: str) -> str:
    return re.sub(r"\s+", " ", text.replace("\u2013", "-").replace("\u2014", "-")).strip().lower()


def _ambiguous(rows: Sequence[GuideRow]) -> set[tuple[tuple[int, int], str]]:
    counts = Counter((row.ports, _plain(row.purpose)) for row in rows)
    return {key for key, count in counts.items() if count > 1}


def covers(rule: ProfileRule, row: GuideRow, ambiguous: bool = False) -> bool:
    """Does ``rule`` check ``row``'s port and quote its purpose (and its table, if ambiguous)?"""
    first, last = row.ports
    if first == last:
        exposed = rule.expect == "forbidden" and any(e[:2] == (first, first) for e in rule.excepted)
        same_port = first in rule.ports or exposed
    else:
        same_port = rule.port_range == (first, last)
    reason = _plain(rule.reason)
    quoted = _plain(row.purpose) in reason and (not ambiguous or _plain(row.table) in reason)
    return same_port and quoted


def trace(rows: Sequence[GuideRow], rules: Sequence[ProfileRule]) -> list[tuple[GuideRow, tuple[ProfileRule, ...]]]:
    """Each guide row with the rules that cover it (possibly none)."""
    twins = _ambiguous(rows)
    return [(row, tuple(r for r in rules if covers(r, row, (row.ports, _plain(row.purpose)) in twins))) for row in rows]


def _table(header: Sequence[str], lines: Iterable[Sequence[str]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(cell.replace("|", "\\|") for cell in line) + " |" for line in lines]
    return out


def _rule_cells(rule: ProfileRule) -> list[str]:
    return [f"`{rule.id}`", ", ".join(rule.sources), ", ".join(rule.targets), rule.port_text, rule.expect,
            rule.probe, f"`{rule.when}`" if rule.when else "always"]


def render(guide: str, document: dict[str, Any]) -> str:
    """The traceability report (markdown) for the guide's text and a profile document."""
    rows = parse_guide(guide)
    rules = profile_rules(document)
    traced = trace(rows, rules)
    covered = {rule.id for _, found in traced for rule in found}
    out = [
        "# Traceability: ACTIVATE port guide → `profile: activate`",
        "",
        "Generated by `python -m pytest_activate_ports.profiles.trace --output docs/traceability.md`;",
        "a test fails when this file is out of date or a guide row has no rule.",
        f"The guide ([copy](activate-network-ports.txt)) has {len(rows)} table rows; the profile has {len(rules)} rules.",
        "A rule traces to a row when it checks the row's port and its reason quotes the row's purpose.",
        "",
    ]
    columns = ["Guide line", "Port", "Purpose (guide)", "Rule", "From", "To", "Ports", "Expect", "Probe", "When"]
    for title in dict.fromkeys(row.table for row in rows):
        lines: list[list[str]] = []
        for row, found in (pair for pair in traced if pair[0].table == title):
            head = [str(row.line), row.cell("Port"), row.purpose]
            lines += [(head if i == 0 else ["", "", ""]) + _rule_cells(rule) for i, rule in enumerate(found)] or [
                head + ["**no rule**"] + [""] * 6]
        out += [f"## {title}", "", *_table(columns, lines), ""]
    extra = [rule for rule in rules if rule.id not in covered]
    if extra:
        out += ["## Rules that quote no guide row", "", *_table(columns[3:], [_rule_cells(r) for r in extra]), ""]
    out += ["## Roles", "", *_table(["Role", "Description", "Rules from it", "Rules to it"], [
        [f"`{role}`", str(text), str(sum(role in r.sources for r in rules)), str(sum(role in r.targets for r in rules))]
        for role, text in document["roles"].items()]), ""]
    out += ["## Features", "", *_table(["Feature", "Default", "Rules it switches"], [
        [f"`{name}`", f"`{value}`", ", ".join(f"`{r.id}`" for r in rules if r.switched_by(name))]
        for name, value in document["features"].items()]), ""]
    return "\n".join(out)


def main(argv: Sequence[str] | None = None) -> int:
    """Write (or ``--check``) the traceability report."""
    parser = argparse.ArgumentParser(prog="python -m pytest_activate_ports.profiles.trace", description=__doc__.splitlines()[0])
    parser.add_argument("--guide", type=Path, default=DEFAULT_GUIDE, help=f"the port guide (default {DEFAULT_GUIDE})")
    parser.add_argument("--output", type=Path, help="write the report here (default: standard output)")
    parser.add_argument("--check", action="store_true", help="exit 1 if --output differs from what would be written")
    args = parser.parse_args(argv)
    report = render(args.guide.read_text(encoding="utf-8"), load_profile())
    if args.output is None:
        print(report)
        return 0
    if args.check:
        current = args.output.read_text(encoding="utf-8") if args.output.is_file() else ""
        if current != report:
            print(f"{args.output} is out of date; regenerate it with --output {args.output}")
            return 1
        return 0
    args.output.write_text(report, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
