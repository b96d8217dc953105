"""The merged report as GitHub-flavoured Markdown (for a CI job summary or a merge request comment).

Banners, HTTP reason phrases, certificate names and even spec names may come
from a peer or a hostile file, and Markdown passes HTML through: every value
is made inert text here (HTML-escaped, Markdown punctuation escaped, control
characters dropped) before it meets an auditor's wiki or merge request.
"""

from __future__ import annotations

import html
import re
import unicodedata

from .merge import TABLE_HEAD, VANTAGE_HEAD, Failure, Report, Row, vantage_facts

_MARKDOWN = re.compile(r"([\\`*_\[\]|~#])")


def printable(value: str) -> str:
    """``value`` on one line without control characters (C0, C1, bidirectional overrides and other format marks)."""
    return " ".join("".join(" " if unicodedata.category(c) in ("Cc", "Cf") else c for c in value).split())


def inert(value: str) -> str:
    """Inert Markdown text for a cell or a line: printable, HTML-escaped, Markdown punctuation backslash-escaped."""
    return _MARKDOWN.sub(r"\\\1", html.escape(printable(value), quote=False))


def table(head: list[str], rows: list[list[str]]) -> list[str]:
    return inert_table([inert(h) for h in head], [[inert(c) for c in row] for row in rows])


def inert_table(head: list[str], rows: list[list[str]]) -> list[str]:
    """A table of cells already made inert by :func:`inert`."""
    return ["| " + " | ".join(head) + " |", "|" + "---|" * len(head), *("| " + " | ".join(row) + " |" for row in rows)]


def _failure(failure: Failure) -> list[str]:
    record = failure.record
    lines = [f"### {record['outcome'].upper()} {inert(failure.title)}", "", inert(record["message"]), ""]
    lines += [f"- **{label}:** {inert(value)}" for label, value in failure.facts()]
    if failure.subchecks:
        result = {True: "pass", False: "FAIL", None: "unverified"}
        lines += ["", *table(["Sub-check", "Result", "Detail"],
                              [[c["name"], result[c["passed"]], c["detail"]] for c in failure.subchecks])]
    return [*lines, ""]


def _summary(row: Row) -> list[str]:
    """The row's inert cells; failed and errored verdicts in bold."""
    spec, rule, _, port = row.key
    described = [port, row.protocol, f"{row.location} {row.address}".strip(), row.direction, row.required,
                 f"{row.purpose or '—'} ({spec} · {rule})"]
    verdicts = [f"**{inert(c.text)}**" if c.status in ("failed", "error") else inert(c.text) for c in row.cells]
    return [*map(inert, described), *verdicts]


def render(report: Report) -> str:
    """The whole document."""
    from .diff import render_md  # diff renders its Markdown with this module's helpers

    labels = [v.label for v in report.vantages]
    lines = ["# ACTIVATE network port report", "",
             f"Generated {report.generated} from {len(labels)} vantage(s): {inert(', '.join(labels))}. "
             f"{len(report.rows)} checks, {len(report.failures)} failed.", "",
             *(render_md(report.changes, f"Changes since {report.changes.old.when}") if report.changes else []),
             "## Vantages", "", *table(list(VANTAGE_HEAD), [vantage_facts(v) for v in report.vantages]), ""]
    if report.warnings:
        lines += ["## Warnings", ""]
        for warning in report.warnings:
            lines += [f"> **Warning:** {inert(warning)}", ""]
    if report.check_warnings:
        lines += [f"## Check warnings ({len(report.check_warnings)})", ""]
        lines += [f"- **{inert(w.title)}:** {inert(w.text)}" for w in report.check_warnings]
        lines += [""]
    lines += [f"## Failures ({len(report.failures)})", ""]
    for failure in report.failures:
        lines += _failure(failure)
    if not report.failures:
        lines += ["No check failed from any vantage.", ""]
    head = [inert(h) for h in (*TABLE_HEAD, *labels)]
    lines += ["## Port summary", "", *inert_table(head, [_summary(r) for r in report.rows]), ""]
    return "\n".join(lines)
