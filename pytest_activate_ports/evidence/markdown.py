"""The merged report as GitHub-flavoured Markdown (for a CI job summary or a merge request comment)."""

from __future__ import annotations

from .merge import TABLE_HEAD, VANTAGE_HEAD, Failure, Report, Row


def _text(value: str) -> str:
    """A table cell: pipes escaped, line breaks flattened (either would break the table)."""
    return " ".join(value.replace("\\", "\\\\").replace("|", "\\|").split())


def _table(head: list[str], rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(_text(h) for h in head) + " |", "|" + "---|" * len(head),
            *("| " + " | ".join(_text(c) for c in row) + " |" for row in rows)]


def _failure(failure: Failure) -> list[str]:
    record = failure.record
    lines = [f"### {record['outcome'].upper()} {failure.title}", "", _text(record["message"]), ""]
    lines += [f"- **{label}:** {_text(value)}" for label, value in failure.facts()]
    if failure.subchecks:
        result = {True: "pass", False: "FAIL", None: "unverified"}
        lines += ["", *_table(["Sub-check", "Result", "Detail"],
                              [[c["name"], result[c["passed"]], c["detail"]] for c in failure.subchecks])]
    return [*lines, ""]


def _summary(row: Row) -> list[str]:
    spec, rule, _, port = row.key
    marks = {"failed": "**FAIL**", "error": "**ERROR**"}
    return [port, row.protocol, f"{row.location} {row.address}".strip(), row.direction, row.required,
            f"{row.purpose or '—'} ({spec} · {rule})", *(marks.get(cell.status, cell.text) for cell in row.cells)]


def render(report: Report) -> str:
    """The whole document."""
    labels = [v.label for v in report.vantages]
    lines = ["# ACTIVATE network port report", "",
             f"Generated {report.generated} from {len(labels)} vantage(s): {', '.join(labels)}. "
             f"{len(report.rows)} checks, {len(report.failures)} failed.", "",
             "## Vantages", "", *_table(list(VANTAGE_HEAD), [v.facts() for v in report.vantages]), ""]
    if report.warnings:
        lines += ["## Warnings", ""]
        for warning in report.warnings:
            lines += [f"> **Warning:** {_text(warning)}", ""]
    lines += [f"## Failures ({len(report.failures)})", ""]
    for failure in report.failures:
        lines += _failure(failure)
    if not report.failures:
        lines += ["No check failed from any vantage.", ""]
    lines += ["## Port summary", "", *_table([*TABLE_HEAD, *labels], [_summary(r) for r in report.rows]), ""]
    return "\n".join(lines)
