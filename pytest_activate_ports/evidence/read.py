"""Reading evidence files back for ``activate-ports report`` and ``diff``: checked, one line per problem.

A file holds the run of one vantage (document-level ``role``) or of several
(each record may carry its own ``role``); either way it is split into one
:class:`Vantage` per role, so every reader shows one column per vantage.
Files are kept for years and passed around by hand, so a reader meets old
files, newer ones, JUnit XML given by mistake and files someone edited: each
is refused with a sentence naming the file, never a traceback.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, Sequence

from .record import JSON
from .recorder import SCHEMA_VERSION

TOOL = "pytest-activate-ports"
Key = tuple[str, str, str, str]  # spec name, rule id, host, port label


class EvidenceError(Exception):
    """An input file is not evidence this version can read."""


@dataclass(frozen=True)
class Evidence:
    """One evidence file as read."""

    source: Path
    document: JSON

    @property
    def roles(self) -> list[str | None]:
        """The vantages in this file: the document's role first, then any a record names."""
        roles: dict[str | None, None] = {}
        if self.document["role"] is not None or not self.document["records"]:
            roles[self.document["role"]] = None
        roles.update((role_of(record, self.document), None) for record in self.document["records"])
        return list(roles)


@dataclass(frozen=True)
class Vantage:
    """What one role's checks saw, from one evidence file: a column of the report, a side of a diff."""

    label: str
    role: str | None
    evidence: Evidence
    records: tuple[JSON, ...]

    @property
    def source(self) -> Path:
        return self.evidence.source

    @property
    def document(self) -> JSON:
        return self.evidence.document

    def specs(self) -> dict[str, JSON]:
        return {spec["name"]: spec for spec in self.document["specs"]}

    def counts(self) -> dict[str, int]:
        """Records by outcome (the document's summary counts the whole file, whatever its vantages)."""
        counts = dict.fromkeys(("passed", "failed", "skipped", "error"), 0)
        for record in self.records:
            counts[record["outcome"]] += 1
        return counts

    @property
    def runner(self) -> str:
        """Where the checks were dialled from: the record's vantage when it says, else the runner's host name."""
        where = next((r["vantage"] for r in self.records if r.get("vantage")), None)
        if isinstance(where, dict):
            return " ".join(str(where[k]) for k in ("where", "hostname") if where.get(k))
        return str(where) if where else str(self.document["runner"]["hostname"])


def role_of(record: JSON, document: JSON) -> str | None:
    """A record's vantage role: its own when it carries one (multi-vantage runs), else the document's."""
    role: str | None = record.get("role") or document["role"]
    return role


def key_of(record: JSON) -> Key:
    return (record["spec"], record["rule"], record["host"], record["port"])


@cache
def _required() -> dict[str, list[str]]:
    """The keys the published schema requires of a document, a spec and a record."""
    text = resources.files(__package__ or "pytest_activate_ports.evidence").joinpath("schema.json").read_text(encoding="utf-8")
    schema: Any = json.loads(text)
    return {"document": schema["required"], "spec": schema["$defs"]["spec"]["required"],
            "rule": schema["$defs"]["rule"]["required"], "record": schema["$defs"]["record"]["required"]}


def read(path: Path) -> Evidence:
    """One file, checked far enough that the readers can rely on its shape."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise EvidenceError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise EvidenceError(f"{path}: not an evidence file: not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise EvidenceError(f"{path}: not an evidence file: not JSON ({exc.msg} at line {exc.lineno} column {exc.colno})") from None
    tool = document.get("tool") if isinstance(document, dict) else None
    if not isinstance(tool, dict) or tool.get("name") != TOOL or "schema_version" not in document:
        raise EvidenceError(f"{path}: not an activate-ports evidence file (written by pytest --activate-evidence)")
    version = document["schema_version"]
    if isinstance(version, int) and version > SCHEMA_VERSION:
        raise EvidenceError(f"{path}: evidence schema_version {version} is newer than this activate-ports reads "
                            f"({SCHEMA_VERSION}): upgrade pytest-activate-ports")
    if version != SCHEMA_VERSION:
        raise EvidenceError(f"{path}: evidence schema_version {version!r} is not one this activate-ports reads ({SCHEMA_VERSION})")
    _check(path, document)
    return Evidence(path, document)


def _lacking(items: object, keys: list[str], where: str) -> list[str]:
    """Required keys missing from a list of objects (an item that is not an object lacks them all)."""
    if not isinstance(items, list):
        return [where]
    return [f"{where}[{i}].{k}" for i, item in enumerate(items) for k in keys if not isinstance(item, dict) or k not in item]


def _check(path: Path, document: JSON) -> None:
    required = _required()
    lacking = [k for k in required["document"] if k not in document]
    if not lacking:
        lacking = _lacking(document["specs"], required["spec"], "specs") + _lacking(document["records"], required["record"], "records")
    if not lacking:
        lacking = [k for i, spec in enumerate(document["specs"]) for k in _lacking(spec["rules"], required["rule"], f"specs[{i}].rules")]
    if lacking:
        more = f" and {len(lacking) - 3} more" if len(lacking) > 3 else ""
        raise EvidenceError(f"{path}: damaged evidence file: missing {', '.join(lacking[:3])}{more}")


def load(paths: Sequence[Path]) -> tuple[list[Vantage], list[str]]:
    """The vantages of the files, and notes about how they were taken.

    A file given twice is read once. One role found in several files (two
    runs from the same vantage, or a copied file) stays two columns, labelled
    with their files, and a note says so: which run is right is for the
    reader to decide, not for the merge.
    """
    files: dict[Path, Evidence] = {}
    notes: list[str] = []
    for path in paths:
        real = path.resolve()
        if real in files:
            notes.append(f"{path} was given more than once; it is read once")
        else:
            files[real] = read(path)
    names = [evidence.source.name for evidence in files.values()]
    shown = {real: e.source.name if names.count(e.source.name) == 1 else str(e.source) for real, e in files.items()}
    found: dict[str | None, list[Path]] = {}
    for real, evidence in files.items():
        for role in evidence.roles:
            found.setdefault(role, []).append(real)
    for role, where in found.items():
        if len(where) > 1:
            notes.append(f"role {role or '-'} was checked in {len(where)} different files ({', '.join(shown[p] for p in where)}): "
                         f"shown as separate columns; pass one file per vantage to compare vantages")
    vantages = []
    for real, evidence in files.items():
        for role in evidence.roles:
            label = (role or "-") if len(found[role]) == 1 else f"{role or '-'} ({shown[real]})"
            records = tuple(r for r in evidence.document["records"] if role_of(r, evidence.document) == role)
            vantages.append(Vantage(label, role, evidence, records))
    return vantages, notes
