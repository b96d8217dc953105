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
def _schema() -> Any:
    text = resources.files(__package__ or "pytest_activate_ports.evidence").joinpath("schema.json").read_text(encoding="utf-8")
    return json.loads(text)


TYPES: dict[str, Any] = {"object": dict, "array": list, "string": str, "boolean": bool, "null": type(None),
                         "integer": int, "number": (int, float)}


def problems(value: Any, schema: Any, where: str = "") -> list[str]:
    """Where ``value`` breaks the shape the published schema gives it: types, enums, required keys, items.

    The part of JSON Schema the readers rely on (no patterns or ranges), so
    that a damaged file is refused in one line instead of failing deep inside
    a report; the package itself does not depend on a JSON Schema library.
    """
    if "$ref" in schema:
        schema = _schema()["$defs"][schema["$ref"].rsplit("/", 1)[1]]
    if "oneOf" in schema:
        options = [problems(value, option, where) for option in schema["oneOf"]]
        return [] if [] in options else options[-1]
    kinds = schema.get("type")
    if kinds is not None:
        wanted = tuple(TYPES[k] for k in ([kinds] if isinstance(kinds, str) else kinds))
        if not isinstance(value, wanted) or (isinstance(value, bool) and bool not in wanted):
            return [f"{where or 'the document'} is not {' or '.join([kinds] if isinstance(kinds, str) else kinds)}"]
    if ("enum" in schema and value not in schema["enum"]) or ("const" in schema and value != schema["const"]):
        return [f"{where} is {value!r}"]
    found: list[str] = []
    if isinstance(value, dict):
        found += [f"{where}.{key}".lstrip(".") + " is missing" for key in schema.get("required", ()) if key not in value]
        extra = schema.get("additionalProperties")
        for key, item in value.items():
            sub = schema.get("properties", {}).get(key, extra if isinstance(extra, dict) else None)
            if sub is not None:
                found += problems(item, sub, f"{where}.{key}".lstrip("."))
    elif isinstance(value, list) and "items" in schema:
        for index, item in enumerate(value):
            found += problems(item, schema["items"], f"{where}[{index}]")
    return found


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


def _check(path: Path, document: JSON) -> None:
    found = problems(document, _schema())
    if found:
        more = f" and {len(found) - 3} more" if len(found) > 3 else ""
        raise EvidenceError(f"{path}: damaged evidence file: {'; '.join(found[:3])}{more}")


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
