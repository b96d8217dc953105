"""Evidence from several vantages merged into one table: a row per (rule, host, port), a column per vantage.

Rows come from the specs' rules, not only from the records, so a port that no
vantage checked still shows up (as "not run" or "not from this vantage")
instead of silently vanishing from the audit.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from .record import JSON
from .recorder import SCHEMA_VERSION, utc_now

Key = tuple[str, str, str, str]  # spec name, rule id, host, port label
CELL_TEXT = {"passed": "pass", "failed": "FAIL", "error": "ERROR", "skipped": "skip", "not-run": "not run", "n/a": "—"}
TABLE_HEAD = ("Port", "Protocol", "Location", "Direction", "Required", "Purpose")
VANTAGE_HEAD = ("Vantage", "Runner", "Run (UTC)", "Complete", "Passed", "Failed", "Skipped", "Errors", "Spec (sha256)",
                "Tool", "File")
REQUIRED_TEXT = {"required": "Yes", "optional": "Optional", "forbidden": "No (must be closed)"}


class ReportError(Exception):
    """An input file is not evidence this version can merge."""


@dataclass(frozen=True)
class Vantage:
    """One evidence file: the run of one vantage."""

    label: str
    source: Path
    document: JSON

    @property
    def role(self) -> str | None:
        role: str | None = self.document["role"]
        return role

    def specs(self) -> dict[str, JSON]:
        return {spec["name"]: spec for spec in self.document["specs"]}

    def facts(self) -> list[str]:
        """The cells of this vantage's line in the report's vantage table (see ``VANTAGE_HEAD``)."""
        doc, counts = self.document, self.document["summary"]
        specs = ", ".join(f"{s['name']} ({s['sha256'][:12]})" for s in doc["specs"])
        started, finished = (doc[k].replace("T", " ").rstrip("Z") for k in ("started", "finished"))
        same_day = started[:10] == finished[:10]
        return [self.label, doc["runner"]["hostname"], f"{started} → {finished[11:] if same_day else finished}",
                "yes" if doc["complete"] else "NO", *(str(counts[k]) for k in ("passed", "failed", "skipped", "error")),
                specs, f"{doc['tool']['name']} {doc['tool']['version']}", self.source.name]


@dataclass(frozen=True)
class Cell:
    """What one vantage says about one row."""

    status: str  # passed, failed, error, skipped, not-run, n/a
    detail: str

    @property
    def text(self) -> str:
        if self.status == "skipped" and self.detail.startswith("not applicable"):
            return "not applicable"
        return CELL_TEXT[self.status]


@dataclass(frozen=True)
class Row:
    """A line of the guide's summary table with the observed verdict per vantage."""

    key: Key
    protocol: str
    location: str
    address: str
    direction: str
    required: str
    purpose: str
    cells: tuple[Cell, ...]

    @property
    def port(self) -> str:
        return self.key[3]

    @property
    def failed(self) -> bool:
        return any(cell.status in ("failed", "error") for cell in self.cells)


@dataclass(frozen=True)
class Failure:
    """A failed or errored check and the vantage that saw it."""

    vantage: str
    record: JSON

    @property
    def title(self) -> str:
        record = self.record
        return f"{self.vantage} · {record['rule']} [{record['host']}:{record['port']}]"

    def facts(self) -> list[tuple[str, str]]:
        """What an auditor needs besides the message: where, what was expected and seen, when, which item."""
        record = self.record
        elapsed = "—" if record["elapsed_ms"] is None else f"{record['elapsed_ms']:g} ms"
        return [("Address", record["address"]), ("Expected", f"{record['expect']} ({record['probe']})"),
                ("Observed", record["observed"]), ("Elapsed", elapsed), ("Purpose", record["reason"] or "—"),
                ("Checked", record["finished"]), ("Node id", record["nodeid"])]

    @property
    def subchecks(self) -> list[JSON]:
        return [check for result in self.record["results"] if result["protocol"] for check in result["protocol"]["checks"]]


@dataclass(frozen=True)
class Report:
    """Everything a rendered report shows, in display order."""

    vantages: tuple[Vantage, ...]
    warnings: tuple[str, ...]
    failures: tuple[Failure, ...]
    rows: tuple[Row, ...]
    generated: str


def load(paths: Sequence[Path]) -> list[Vantage]:
    """Read evidence files; labels are the roles, made unique with the runner's host name."""
    documents: list[tuple[Path, JSON]] = []
    for path in paths:
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ReportError(f"{path}: cannot read evidence: {exc}") from None
        if not isinstance(document, dict) or document.get("schema_version") != SCHEMA_VERSION:
            found = document.get("schema_version") if isinstance(document, dict) else None
            raise ReportError(f"{path}: not an activate evidence file of schema_version {SCHEMA_VERSION} (found {found!r})")
        documents.append((path, document))
    roles = [str(doc["role"] or "-") for _, doc in documents]
    return [Vantage(role if roles.count(role) == 1 else f"{role} @ {doc['runner']['hostname']} ({path.name})", path, doc)
            for role, (path, doc) in zip(roles, documents)]


def _key(record: JSON) -> Key:
    return (record["spec"], record["rule"], record["host"], record["port"])


def _cell(vantage: Vantage, records: dict[Key, JSON], key: Key, sources: Sequence[str]) -> Cell:
    record = records.get(key)
    if record is not None:
        return Cell(record["outcome"], record["message"] or record["observed"])
    if key[0] not in vantage.specs():
        return Cell("n/a", f"{vantage.label} did not run spec {key[0]}")
    if vantage.role not in sources:
        return Cell("n/a", f"not checked from {vantage.label}: the rule runs from {', '.join(sources)}")
    return Cell("not-run", f"{vantage.label} selected no result for it (deselected, interrupted or not collected)")


def _describe(spec: JSON, rule: JSON, host: str) -> tuple[str, str, str, str, str]:
    """(location, address, direction, required, purpose) as the guide's summary table words them."""
    info = spec["hosts"].get(host, {"address": "", "roles": []})
    roles = ", ".join(info["roles"])
    location = f"{host} ({roles})" if roles else host
    direction = f"{', '.join(rule['from'])} → {roles or host}"
    required = REQUIRED_TEXT[rule["expect"]]
    if rule["expect"] == "forbidden" and rule["state"] != "any":
        required = f"No (must be {rule['state']})"
    if rule["when"]:
        required = f"Conditional ({rule['when']}): {required}"
    return location, info["address"], direction, required, rule["reason"]


def merge(vantages: Sequence[Vantage]) -> Report:
    """One report from the vantages' evidence, failures listed first."""
    records = [{_key(r): r for r in v.document["records"]} for v in vantages]
    rows: dict[Key, Row] = {}
    for vantage in vantages:
        for spec in vantage.document["specs"]:
            for rule in spec["rules"]:
                for host in rule["to"]:
                    for port in rule["ports"]:
                        key = (spec["name"], rule["id"], host, port)
                        if key not in rows:
                            cells = tuple(_cell(v, r, key, rule["from"]) for v, r in zip(vantages, records))
                            rows[key] = Row(key, rule["probe"], *_describe(spec, rule, host), cells)
    for vantage, by_key in zip(vantages, records):
        for key, record in by_key.items():  # evidence whose spec list was cut short still shows every item
            if key not in rows:
                cells = tuple(_cell(v, r, key, [vantage.role or "-"]) for v, r in zip(vantages, records))
                rows[key] = Row(key, record["probe"], record["host"], record["address"], "", REQUIRED_TEXT[record["expect"]],
                                record["reason"], cells)
    failures = tuple(Failure(v.label, r) for v in vantages for r in v.document["records"] if r["outcome"] in ("failed", "error"))
    return Report(tuple(vantages), tuple(_warnings(vantages)), failures, tuple(rows.values()), utc_now())


def _warnings(vantages: Sequence[Vantage]) -> list[str]:
    """Spec hash consistency first (results of different specs are not comparable), then partial runs."""
    out: list[str] = []
    hashes: dict[str, dict[str, list[str]]] = {}
    for vantage in vantages:
        for name, spec in vantage.specs().items():
            hashes.setdefault(name, {}).setdefault(spec["sha256"], []).append(vantage.label)
    for name, by_hash in hashes.items():
        if len(by_hash) > 1:
            used = "; ".join(f"{', '.join(labels)} used sha256 {sha[:12]}" for sha, labels in by_hash.items())
            out.append(f"spec {name!r} differs between vantages ({used}): their results are not comparable; "
                       f"rerun every vantage with the same spec file")
        missing = [v.label for v in vantages if name not in v.specs()]
        if missing:
            out.append(f"spec {name!r} was not run from {', '.join(missing)}")
    for vantage in vantages:
        doc: Any = vantage.document
        if not doc["complete"]:
            out.append(f"{vantage.label} ({vantage.source.name}) is incomplete (exit status {doc['exit_status']}): "
                       f"{len(doc['not_run'])} selected checks never ran, {len(doc['collection_errors'])} collection errors")
        if doc["deselected"]:
            out.append(f"{vantage.label} deselected {len(doc['deselected'])} checks (-k/-m/--deselect)")
    return out
