"""Evidence from several vantages merged into one table: a row per (rule, host, port), a column per vantage.

Rows come from the specs' rules, not only from the records, so a port that no
vantage checked still shows up (as "not run" or "not from this vantage")
instead of silently vanishing from the audit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Sequence

from .read import Key, Vantage, key_of
from .record import JSON
from .recorder import utc_now

if TYPE_CHECKING:
    from .diff import Diff

CELL_TEXT = {"passed": "pass", "failed": "FAIL", "error": "ERROR", "skipped": "skip", "not-run": "not run", "n/a": "—"}
TABLE_HEAD = ("Port", "Protocol", "Location", "Direction", "Required", "Purpose")
VANTAGE_HEAD = ("Vantage", "Runner", "Run (UTC)", "Complete", "Passed", "Failed", "Skipped", "Errors", "Spec (sha256)",
                "Tool", "File")
REQUIRED_TEXT = {"required": "Yes", "optional": "Optional", "forbidden": "No (must be closed)"}


def vantage_facts(vantage: Vantage) -> list[str]:
    """The cells of a vantage's line in the report's vantage table (see ``VANTAGE_HEAD``)."""
    doc, counts = vantage.document, vantage.counts()
    specs = ", ".join(f"{s['name']} ({s['sha256'][:12]})" for s in doc["specs"])
    started, finished = (doc[k].replace("T", " ").rstrip("Z") for k in ("started", "finished"))
    same_day = started[:10] == finished[:10]
    return [vantage.label, vantage.runner, f"{started} → {finished[11:] if same_day else finished}",
            "yes" if doc["complete"] else "NO", *(str(counts[k]) for k in ("passed", "failed", "skipped", "error")),
            specs, f"{doc['tool']['name']} {doc['tool']['version']}", vantage.source.name]


@dataclass(frozen=True)
class Cell:
    """What one vantage says about one row."""

    status: str  # passed, failed, error, skipped, not-run, n/a
    detail: str
    warnings: tuple[str, ...] = ()

    @property
    def text(self) -> str:
        if self.status == "skipped" and self.detail.startswith("not applicable"):
            return "not applicable"
        return CELL_TEXT[self.status] + (" ⚠" if self.warnings else "")


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
    expect: str
    sources: tuple[str, ...]  # the vantage roles the rule runs from
    host_roles: tuple[str, ...]

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
class CheckWarning:
    """A warning a check raised although it may have passed (a certificate about to expire, a standalone MongoDB)."""

    vantage: str
    record: JSON
    text: str

    @property
    def title(self) -> str:
        return f"{self.vantage} · {self.record['rule']} [{self.record['host']}:{self.record['port']}]"


@dataclass(frozen=True)
class Report:
    """Everything a rendered report shows, in display order."""

    vantages: tuple[Vantage, ...]
    warnings: tuple[str, ...]
    failures: tuple[Failure, ...]
    rows: tuple[Row, ...]
    generated: str
    check_warnings: tuple[CheckWarning, ...] = ()
    changes: Diff | None = None  # against the baseline, when one was given


def _cell(vantage: Vantage, records: dict[Key, JSON], key: Key, sources: Sequence[str]) -> Cell:
    record = records.get(key)
    if record is not None:
        return Cell(record["outcome"], record["message"] or record["observed"], tuple(record["warnings"]))
    if key[0] not in vantage.specs():
        return Cell("n/a", f"{vantage.label} did not run spec {key[0]}")
    if vantage.role not in sources:
        return Cell("n/a", f"not checked from {vantage.label}: the rule runs from {', '.join(sources)}")
    return Cell("not-run", f"{vantage.label} selected no result for it (deselected, interrupted or not collected)")


def _host(spec: JSON, host: str) -> JSON:
    info: JSON = spec["hosts"].get(host, {"address": "", "roles": []})
    return info


def _describe(spec: JSON, rule: JSON, host: str) -> tuple[str, str, str, str, str]:
    """(location, address, direction, required, purpose) as the guide's summary table words them."""
    info = _host(spec, host)
    roles = ", ".join(info["roles"])
    location = f"{host} ({roles})" if roles else host
    direction = f"{', '.join(rule['from'])} → {roles or host}"
    required = REQUIRED_TEXT[rule["expect"]]
    if rule["expect"] == "forbidden" and rule["state"] != "any":
        required = f"No (must be {rule['state']})"
    if rule["when"]:
        required = f"Conditional ({rule['when']}): {required}"
    return location, info["address"], direction, required, rule["reason"]


def merge(vantages: Sequence[Vantage], notes: Sequence[str] = ()) -> Report:
    """One report from the vantages' evidence, failures listed first; ``notes`` (from reading) lead the warnings."""
    records = [{key_of(r): r for r in v.records} for v in vantages]
    rows: dict[Key, Row] = {}
    for vantage in vantages:
        for spec in vantage.document["specs"]:
            for rule in spec["rules"]:
                for host in rule["to"]:
                    for port in rule["ports"]:
                        key = (spec["name"], rule["id"], host, port)
                        if key not in rows:
                            cells = tuple(_cell(v, r, key, rule["from"]) for v, r in zip(vantages, records))
                            rows[key] = Row(key, rule["probe"], *_describe(spec, rule, host), cells, rule["expect"],
                                            tuple(rule["from"]), tuple(_host(spec, host)["roles"]))
    for vantage, by_key in zip(vantages, records):
        for key, record in by_key.items():  # evidence whose spec list was cut short still shows every item
            if key not in rows:
                cells = tuple(_cell(v, r, key, [vantage.role or "-"]) for v, r in zip(vantages, records))
                rows[key] = Row(key, record["probe"], record["host"], record["address"], "", REQUIRED_TEXT[record["expect"]],
                                record["reason"], cells, record["expect"], (vantage.role or "-",), ())
    failures = tuple(Failure(v.label, r) for v in vantages for r in v.records if r["outcome"] in ("failed", "error"))
    check_warnings = tuple(CheckWarning(v.label, r, w) for v in vantages for r in v.records for w in r["warnings"])
    return Report(tuple(vantages), (*notes, *_warnings(vantages)), failures, tuple(rows.values()), utc_now(), check_warnings)


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
    for evidence in {id(v.evidence): v.evidence for v in vantages}.values():
        doc: Any = evidence.document
        who = f"{', '.join(role or '-' for role in evidence.roles)} ({evidence.source.name})"
        if not doc["complete"]:
            out.append(f"{who} is incomplete (exit status {doc['exit_status']}): "
                       f"{len(doc['not_run'])} selected checks never ran, {len(doc['collection_errors'])} collection errors")
        if doc["deselected"]:
            out.append(f"{who} deselected {len(doc['deselected'])} checks (-k/-m/--deselect)")
    return out
