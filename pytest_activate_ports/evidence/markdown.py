"""The merged report as GitHub-flavoured Markdown (for a CI job summary or a merge request comment).

Every value goes through :mod:`.text` (HTML-escaped, Markdown punctuation
escaped, control characters dropped): much of it came from a network.
"""

from __future__ import annotations

from .diff import render_md
from .merge import TABLE_HEAD, VANTAGE_HEAD, Failure, Report, Row, vantage_facts
from .text import inert, inert_table, table

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
