"""The terminal summary: a host x port matrix and one line of counts.

The matrix answers "which port on which host is wrong" at a glance after a
long run; pytest's own output already has every failure message. Rendering is
a pure function over (host, port, outcome) so it is tested without a terminal.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Mapping

import pytest

PRECEDENCE = ("failed", "error", "passed", "skipped")
"""A cell shared by several checks shows the first of these among them: a skip (not applicable, unproven) proves
nothing, so it never hides the ok of a check that ran on the same port."""
CELL = {"passed": ("ok", "green"), "failed": ("FAIL", "red"), "error": ("ERROR", "red"), "skipped": ("skip", "yellow")}
EMPTY = "-"
GAP = 2
LEGEND = "cells: FAIL > ERROR > ok > skip (a cell shared by several checks shows the first of them); - not checked"


@dataclass(frozen=True)
class Mark:
    """One piece of a line and the colour it is written in (None: plain)."""

    text: str
    colour: str | None = None


Line = list[Mark]


def _port_key(label: str) -> tuple[int, str]:
    first = label.split("-")[0]
    return (int(first) if first.isdigit() else 1 << 17, label)


def cells(rows: Iterable[tuple[str, str, str]]) -> dict[tuple[str, str], str]:
    """(host, port) -> the worst outcome of the checks on that cell (two rules may share one)."""
    out: dict[tuple[str, str], str] = {}
    for host, port, outcome in rows:
        previous = out.get((host, port))
        if previous is None or PRECEDENCE.index(outcome) < PRECEDENCE.index(previous):
            out[(host, port)] = outcome
    return out


def render(grid: Mapping[tuple[str, str], str], width: int) -> list[Line]:
    """The matrix as lines, split into blocks of port columns that fit ``width``."""
    hosts = list(dict.fromkeys(host for host, _ in grid))
    ports = sorted({port for _, port in grid}, key=_port_key)
    if not hosts:
        return []
    first = max(len("host"), *(len(h) for h in hosts)) + GAP
    column = {port: max(len(port), *(len(text) for text, _ in CELL.values())) + GAP for port in ports}
    blocks: list[list[str]] = [[]]
    used = first
    for port in ports:
        if blocks[-1] and used + column[port] > width:
            blocks.append([])
            used = first
        blocks[-1].append(port)
        used += column[port]
    lines: list[Line] = []
    for block in blocks:
        lines.append([Mark("host".ljust(first))] + [Mark(port.ljust(column[port])) for port in block])
        for host in hosts:
            line = [Mark(host.ljust(first))]
            for port in block:
                text, colour = CELL.get(grid.get((host, port), ""), (EMPTY, None))
                line.append(Mark(text.ljust(column[port]), colour))
            lines.append(line)
    return lines


def counts_line(counts: Mapping[str, int]) -> Line:
    """``activate: 3 required ok, 1 forbidden ok, 1 failed`` (optional, skipped, errors when any)."""
    parts = [f"{counts['required_ok']} required ok", f"{counts['forbidden_ok']} forbidden ok"]
    if counts["optional_ok"]:
        parts.append(f"{counts['optional_ok']} optional ok")
    parts.append(f"{counts['failed']} failed")
    parts += [f"{counts[k]} {name}" for k, name in (("error", "errors"), ("skipped", "skipped")) if counts[k]]
    bad = counts["failed"] or counts["error"]
    return [Mark("activate: "), Mark(", ".join(parts), "red" if bad else "green")]


def write(reporter: pytest.TerminalReporter, blocks: list[tuple[str, list[Line]]], summary: Line) -> None:
    """Write each (title, matrix) block (verbosity >= 0) and the counts (verbosity >= -1); -qq shows neither."""
    verbosity = reporter.config.get_verbosity()
    if verbosity < -1:
        return
    if verbosity >= 0 and any(lines for _, lines in blocks):
        for title, lines in blocks:
            reporter.write_sep("-", title)
            for line in lines:
                _write(reporter, line)
        _write(reporter, [Mark(LEGEND)])
    _write(reporter, summary)


def _write(reporter: pytest.TerminalReporter, line: Line) -> None:
    reporter.ensure_newline()
    for mark in line:
        reporter.write(mark.text.rstrip() if mark is line[-1] else mark.text, **({mark.colour: True} if mark.colour else {}))
    reporter.line("")
