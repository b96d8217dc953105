"""``activate-ports diff``: what changed between two evidence files, regressions first.

    activate-ports diff last-week.json today.json
    activate-ports diff last-week.json today.json --format md >> "$GITHUB_STEP_SUMMARY"

Checks are matched by vantage role, spec name, rule, host and port (node ids
change with the spec's path and with xdist groups; these do not). A port that
was closed last week and is open today is the finding an auditor wants
first, so regressions lead and decide the exit status: 1 when any check
that passed before does not pass now (a check a cut-short run never reported
counts: missing proof is no proof), 0 otherwise, 2 on unreadable input.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from ..results import PortSet
from .text import inert, printable, table
from .read import EvidenceError, Vantage, key_of, load
from .record import JSON
from .writer import write_atomic

DiffKey = tuple[str, str, str, str, str]  # role, spec name, rule id, host, port label
KINDS = {"regressed": "Regressed", "fixed": "Fixed", "outcome": "Outcome changed", "observed": "Observation changed",
         "added": "Added", "removed": "Removed"}
"""Kinds of change in the order they are listed."""
VOLATILE_FACTS = frozenset({"days_left", "quiet_ms"})
"""Facts that change on every run (a countdown, a timing): an expiry crossing the warning shows as a warning."""
FORMATS = {".md": "md", ".markdown": "md", ".json": "json"}


@dataclass(frozen=True)
class Change:
    """One check that differs between the runs."""

    kind: str  # a key of KINDS
    key: DiffKey
    old: JSON | None
    new: JSON | None
    what: tuple[str, ...]  # what differs, each in a few words

    @property
    def name(self) -> str:
        role, _, rule, host, port = self.key
        return f"{role} · {rule}[{host}:{port}]"

    def state(self, record: JSON | None) -> str:
        return "—" if record is None else f"{record['outcome']}: {record['observed']}"


@dataclass(frozen=True)
class Side:
    """One run (one evidence file, or several for ``report --baseline``) as the comparison names it."""

    files: tuple[str, ...]
    started: str
    roles: tuple[str, ...]
    incomplete: tuple[str, ...]  # files with complete: false

    @classmethod
    def of(cls, vantages: Sequence[Vantage]) -> Side:
        files = {str(v.source): v.document for v in vantages}
        return cls(tuple(files), min(doc["started"] for doc in files.values()), tuple(v.role or "-" for v in vantages),
                   tuple(path for path, doc in files.items() if not doc["complete"]))

    @property
    def when(self) -> str:
        return self.started.replace("T", " ")[:19] + " UTC"

    def describe(self) -> str:
        return f"{', '.join(self.files)} ({self.when}, {', '.join(self.roles)})"


@dataclass(frozen=True)
class Diff:
    """Every change between two runs, with what is true of the runs as a whole."""

    old: Side
    new: Side
    changes: tuple[Change, ...]
    notes: tuple[str, ...]
    compared: int

    @property
    def regressed(self) -> bool:
        return any(change.kind == "regressed" for change in self.changes)

    def counts(self) -> str:
        numbers = {kind: sum(c.kind == kind for c in self.changes) for kind in KINDS}
        return (f"{numbers['regressed']} regressed, {numbers['fixed']} fixed, {numbers['outcome'] + numbers['observed']} "
                f"changed, {numbers['added']} added, {numbers['removed']} removed "
                f"({self.compared} check{'' if self.compared == 1 else 's'} in both runs)")


def _records(vantages: Sequence[Vantage]) -> dict[DiffKey, JSON]:
    return {(v.role or "-", *key_of(r)): r for v in vantages for r in v.records}


def _states(record: JSON) -> str:
    if record.get("range"):  # a range is summed up: its attempts per state
        counts = record["range"]["counts"]
        return ", ".join(f"{state} {counts[state]}" for state in sorted(counts)) or "not probed"
    states = [result["state"] for result in record["results"]]
    if len(states) <= 1:
        return states[0] if states else "not probed"
    return ", ".join(f"{state} {states.count(state)}" for state in sorted(set(states)))


def _facts(record: JSON) -> dict[str, str]:
    facts: dict[str, str] = {}
    for result in record["results"]:
        if result["protocol"]:
            facts.update((k, v) for k, v in result["protocol"]["facts"].items() if k not in VOLATILE_FACTS)
    return facts


def _offending(record: JSON) -> dict[str, str]:
    """A range's offending ports by state (as runs): which ports broke the rule is the news, not only how many."""
    found: dict[str, list[str]] = {}
    for offence in record["range"]["offending"] if record.get("range") else ():
        found.setdefault(offence["state"], []).append(offence["ports"])
    return {state: str(PortSet.union(PortSet.parse(runs) for runs in found[state])) for state in found}


def _warnings(record: JSON) -> dict[str, str]:
    """Warnings by their text with numbers masked: "expires in 4.9 days", then 3.9, is one warning; its coming or going is news."""
    return {re.sub(r"\d+(\.\d+)?", "#", warning): warning for warning in record["warnings"]}


def _what(old: JSON, new: JSON) -> list[str]:
    what = [] if old["outcome"] == new["outcome"] else [f"{old['outcome']} → {new['outcome']}"]
    if _states(old) != _states(new):
        what.append(f"state {_states(old)} → {_states(new)}")
    offending_before, offending_after = _offending(old), _offending(new)
    for state in sorted(offending_before.keys() | offending_after.keys()):
        if offending_before.get(state) != offending_after.get(state):
            what.append(f"{state} ports {offending_before.get(state, '(none)')} → {offending_after.get(state, '(none)')}")
    before, after = _facts(old), _facts(new)
    if old["outcome"] != new["outcome"]:
        before = after = {}  # what was seen before and now is shown whole; facts would repeat it piecemeal
    for fact in sorted(before.keys() | after.keys()):
        if before.get(fact) != after.get(fact):
            what.append(f"{fact} {before.get(fact, '(none)')!r} → {after.get(fact, '(none)')!r}")
    before_w, after_w = _warnings(old), _warnings(new)
    what += [f"new warning: {after_w[w]}" for w in sorted(after_w.keys() - before_w.keys())]
    what += [f"warning gone: {before_w[w]}" for w in sorted(before_w.keys() - after_w.keys())]
    return what


def _kind(old: JSON | None, new: JSON | None, new_side: Side) -> str:
    if new is None:
        return "regressed" if old is not None and old["outcome"] == "passed" and new_side.incomplete else "removed"
    if old is None:
        return "added"
    if old["outcome"] == "passed" and new["outcome"] != "passed":
        return "regressed"
    if old["outcome"] in ("failed", "error") and new["outcome"] == "passed":
        return "fixed"
    return "observed" if old["outcome"] == new["outcome"] else "outcome"


def compare(old_vantages: Sequence[Vantage], new_vantages: Sequence[Vantage]) -> Diff:
    """The changes from ``old_vantages`` to ``new_vantages``, regressions first."""
    old, new = _records(old_vantages), _records(new_vantages)
    sides = Side.of(old_vantages), Side.of(new_vantages)
    changes = []
    for key in [*old, *(k for k in new if k not in old)]:
        before, after = old.get(key), new.get(key)
        if before is not None and after is not None:
            what = _what(before, after)
            if what:
                changes.append(Change(_kind(before, after, sides[1]), key, before, after, tuple(what)))
        else:
            kind = _kind(before, after, sides[1])
            gone = "not reported by the incomplete new run" if kind == "regressed" else \
                "not in the new run" if after is None else "not in the old run"
            changes.append(Change(kind, key, before, after, (gone,)))
    changes.sort(key=lambda change: list(KINDS).index(change.kind))
    return Diff(*sides, tuple(changes), tuple(_notes(old_vantages, new_vantages, sides)), len(old.keys() & new.keys()))


def _notes(old: Sequence[Vantage], new: Sequence[Vantage], sides: tuple[Side, Side]) -> list[str]:
    """Spec and tool changes first (they explain added and removed checks), then incomplete runs."""
    specs = [{s["name"]: s["sha256"] for v in side for s in v.document["specs"]} for side in (old, new)]
    notes = [f"spec {name} changed: sha256 {specs[0][name][:12]} → {specs[1][name][:12]}"
             for name in specs[0] if name in specs[1] and specs[0][name] != specs[1][name]]
    notes += [f"spec {name} only in the {which} run" for which, mine, other in (("old", 0, 1), ("new", 1, 0))
              for name in specs[mine] if name not in specs[other]]
    tools = [sorted({v.document["tool"]["version"] for v in side}) for side in (old, new)]
    if tools[0] != tools[1]:
        notes.append(f"tool version changed: {', '.join(tools[0])} → {', '.join(tools[1])}")
    for which, side in zip(("old", "new"), sides):
        notes += [f"the {which} run {path} is incomplete (complete: false): only the checks it reported are compared"
                  for path in side.incomplete]
    return notes


def render_text(diff: Diff) -> str:
    """For a terminal or a log: one line per change; peer text on one line, without control characters."""
    lines = [f"activate-ports diff: {printable(diff.old.describe())} → {printable(diff.new.describe())}",
             *(f"note: {printable(note)}" for note in diff.notes), diff.counts()]
    for kind, title in KINDS.items():
        chosen = [c for c in diff.changes if c.kind == kind]
        if chosen:
            lines += ["", f"{title.upper()} ({len(chosen)})"]
            for change in chosen:
                lines.append(f"  {printable(change.name)}: {printable('; '.join(change.what))}")
                if change.old is not None and change.new is not None and kind != "observed":
                    lines += [f"    was {printable(change.state(change.old))}", f"    now {printable(change.state(change.new))}"]
    return "\n".join(lines) + "\n"


def render_md(diff: Diff, title: str | None = None) -> list[str]:
    """A Markdown section (``title`` defaults to the runs compared); every value made inert."""
    lines = [f"## {inert(title or f'Changes: {diff.old.describe()} → {diff.new.describe()}')}", ""]
    for note in diff.notes:
        lines += [f"> **Note:** {inert(note)}", ""]
    lines += [inert(diff.counts()), ""]
    rows = [[KINDS[c.kind], c.name, c.state(c.old), c.state(c.new), "; ".join(c.what)] for c in diff.changes]
    if rows:
        lines += [*table(["Change", "Check", "Before", "Now", "What changed"], rows), ""]
    return lines


def to_json(diff: Diff) -> JSON:
    """Plain data for tools; text stays as recorded (JSON escapes what must be escaped)."""
    def side(s: Side) -> JSON:
        return {"files": list(s.files), "started": s.started, "roles": list(s.roles), "incomplete": list(s.incomplete)}

    def record(r: JSON | None) -> JSON | None:
        return None if r is None else {"outcome": r["outcome"], "observed": r["observed"], "nodeid": r["nodeid"]}

    return {"old": side(diff.old), "new": side(diff.new), "regressed": diff.regressed, "notes": list(diff.notes),
            "compared": diff.compared,
            "changes": [{"kind": c.kind, **dict(zip(("role", "spec", "rule", "host", "port"), c.key)),
                         "old": record(c.old), "new": record(c.new), "what": list(c.what)} for c in diff.changes]}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="activate-ports diff", description=__doc__.split("\n\n")[0].split(": ", 1)[1])
    parser.add_argument("old", type=Path, metavar="OLD.json", help="the earlier evidence file")
    parser.add_argument("new", type=Path, metavar="NEW.json", help="the later evidence file")
    parser.add_argument("--format", choices=("text", "md", "json"),
                        help="output format (default: from the -o suffix, .md or .json; otherwise text)")
    parser.add_argument("-o", "--output", type=Path, help="file to write (default: standard output)")
    return parser


def main(argv: Sequence[str]) -> int:
    """Entry point of the ``diff`` subcommand: 1 when a check regressed, 0 otherwise, 2 on unreadable input."""
    args = _parser().parse_args(list(argv))
    fmt = args.format or (FORMATS.get(args.output.suffix.lower(), "text") if args.output is not None else "text")
    try:
        diff = compare(load([args.old])[0], load([args.new])[0])
    except EvidenceError as exc:
        print(f"activate-ports diff: {exc}", file=sys.stderr)
        return 2
    if fmt == "text":
        text = render_text(diff)
    elif fmt == "md":
        text = "\n".join(["# Evidence diff", "", *render_md(diff)])
    else:
        text = json.dumps(to_json(diff), indent=2, ensure_ascii=False) + "\n"
    if args.output is None:
        sys.stdout.write(text)
    else:
        write_atomic(args.output, text)
        print(f"activate-ports diff: wrote {args.output} ({diff.counts()})", file=sys.stderr)
    return 1 if diff.regressed else 0
