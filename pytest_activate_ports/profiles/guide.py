"""The tables of the ACTIVATE network port guide, parsed into rows.

The guide is the source of truth the built-in profile is checked against: a
test parses every table and fails if some row has no rule. The guide's text has
lost its section headings, so tables are named here in the order they appear;
a guide with a different number of tables is an error that asks for this list
to be reviewed, rather than a silent mismatch.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

TITLES = (
    "Control plane external ports",
    "Databases",
    "Message queue",
    "Secrets",
    "Platform services",
    "Cloud clusters",
    "Managed clusters",
    "Existing clusters",
    "Cloud cluster NFS",
    "Cloud cluster Slurm",
    "Cloud cluster general",
    "Workspaces",
    "Platform storage",
    "Email",
    "Standard deployment",
    "Summary",
)
_SEPARATOR = re.compile(r"\|(\s*-+\s*\|)+")
_PORTS = re.compile(r"(\d+)(?:\s*[-\u2013]\s*(\d+))?")


class GuideError(ValueError):
    """The guide's text does not have the shape this module knows."""


@dataclass(frozen=True)
class GuideRow:
    """One row of one table of the guide."""

    table: str  # the table's title (see TITLES)
    line: int  # 1-based line in the guide
    cells: tuple[tuple[str, str], ...]  # (column header, text) in the guide's order

    def cell(self, column: str) -> str:
        """The text under ``column`` ("" when the table has no such column)."""
        return dict(self.cells).get(column, "")

    @property
    def ports(self) -> tuple[int, int]:
        """First and last port of the row (equal for a single port)."""
        match = _PORTS.fullmatch(self.cell("Port").strip())
        if not match:
            raise GuideError(f"line {self.line}: cannot read the port {self.cell('Port')!r}")
        first = int(match.group(1))
        return first, int(match.group(2) or first)

    @property
    def purpose(self) -> str:
        """The last column: what the port is for (``Purpose`` or ``Notes``)."""
        return self.cells[-1][1]


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def parse_guide(text: str) -> tuple[GuideRow, ...]:
    """Every row of every table of the guide, in order.

    A table starts at a line followed by a ``|---|`` separator; tables may
    follow each other without prose in between.

    Raises:
        GuideError: a row does not fit its header, or the number of tables changed.
    """
    lines = text.splitlines()
    tables: list[tuple[list[str], list[tuple[int, list[str]]]]] = []
    for index, line in enumerate(lines):
        if not line.startswith("|") or _SEPARATOR.fullmatch(line.strip()):
            continue
        if index + 1 < len(lines) and _SEPARATOR.fullmatch(lines[index + 1].strip()):
            tables.append((_cells(line), []))
        elif tables and len(_cells(line)) == len(tables[-1][0]):
            tables[-1][1].append((index + 1, _cells(line)))
        else:
            raise GuideError(f"line {index + 1}: a table row that does not fit its header: {line!r}")
    if len(tables) != len(TITLES):
        raise GuideError(f"the guide has {len(tables)} tables, expected {len(TITLES)}; review TITLES in {__name__}")
    return tuple(GuideRow(title, line, tuple(zip(header, cells)))
                 for title, (header, rows) in zip(TITLES, tables) for line, cells in rows)
