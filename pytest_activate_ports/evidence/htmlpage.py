"""The merged report as one static HTML page: inline CSS, no scripts, no external assets.

Evidence is archived and opened years later, possibly offline: the page must
render from the file alone. Every value is escaped; it all came from a network.
"""

from __future__ import annotations

import html
from importlib import resources

from . import picture
from .diff import KINDS, Diff
from .merge import TABLE_HEAD, VANTAGE_HEAD, Cell, Failure, Report, Row, vantage_facts
from .text import visible


def escape(value: str) -> str:
    """HTML-escaped, and without the control characters a peer may have sent (an escape sequence in a title)."""
    return html.escape(visible(value))


def _css() -> str:
    return resources.files(__package__ or "pytest_activate_ports.evidence").joinpath("report.css").read_text(encoding="utf-8")


def _row(cells: list[str], tag: str = "td") -> str:
    return "<tr>" + "".join(f"<{tag}>{escape(cell)}</{tag}>" for cell in cells) + "</tr>"


def _status_class(status: str) -> str:
    return status.replace("/", "")


def _cell(cell: Cell) -> str:
    title = "\n".join((cell.detail, *cell.warnings))
    return f'<td class="cell {_status_class(cell.status)}" title="{escape(title)}">{escape(cell.text)}</td>'


def _summary_row(row: Row) -> str:
    spec, rule, host, port = row.key
    classes = ' class="row-failed"' if row.failed else ""
    return (f'<tr{classes} data-rule="{escape(rule)}" data-host="{escape(host)}" data-port="{escape(port)}">'
            f'<td class="port">{escape(port)}</td><td>{escape(row.protocol)}</td>'
            f"<td>{escape(row.location)}<small>{escape(row.address)}</small></td>"
            f"<td>{escape(row.direction)}</td><td>{escape(row.required)}</td>"
            f"<td>{escape(row.purpose or '—')}<small>{escape(spec)} · {escape(rule)}</small></td>"
            + "".join(_cell(cell) for cell in row.cells) + "</tr>")


def _failure(failure: Failure) -> str:
    record = failure.record
    status = record["outcome"]
    facts = "".join(f"<dt>{escape(k)}</dt><dd>{escape(v)}</dd>" for k, v in failure.facts())
    parts = [f'<article class="failure" data-nodeid="{escape(record["nodeid"])}">',
             f'<h3><span class="badge {status}">{escape(Cell(status, "").text)}</span>{escape(failure.title)}</h3>',
             f'<p class="message">{escape(record["message"])}</p>', f"<dl>{facts}</dl>"]
    if failure.subchecks:
        parts.append('<table class="subchecks"><thead>' + _row(["Sub-check", "Result", "Detail"], "th") + "</thead><tbody>")
        for check in failure.subchecks:
            result = {True: ("passed", "pass"), False: ("failed", "FAIL"), None: ("skipped", "unverified")}[check["passed"]]
            parts.append(f'<tr><td>{escape(check["name"])}</td><td class="cell {result[0]}">{result[1]}</td>'
                         f'<td>{escape(check["detail"])}</td></tr>')
        parts.append("</tbody></table>")
    parts.append("</article>")
    return "".join(parts)


def _changes(diff: Diff) -> str:
    """What changed since the baseline: regressions first, each with what was seen before and now."""
    parts = [f'<section id="changes"><h2>Changes since {escape(diff.old.when)}</h2>',
             f'<p class="meta">Baseline {escape(diff.old.describe())}. {escape(diff.counts())}.</p>']
    if diff.notes:
        parts.append('<ul class="notes">' + "".join(f"<li>{escape(note)}</li>" for note in diff.notes) + "</ul>")
    if diff.changes:
        parts.append('<div class="scroll"><table class="changes"><thead>'
                     + _row(["Change", "Check", "Before", "Now", "What changed"], "th") + "</thead><tbody>")
        parts += [f'<tr class="change-{c.kind}">' + "".join(f"<td>{escape(v)}</td>" for v in (
                  KINDS[c.kind], c.name, c.state(c.old), c.state(c.new), "; ".join(c.what))) + "</tr>" for c in diff.changes]
        parts.append("</tbody></table></div>")
    return "".join(parts) + "</section>"


def render(report: Report) -> str:
    """The whole page."""
    vantages = ", ".join(v.label for v in report.vantages)
    body = [
        "<header><h1>ACTIVATE network port report</h1>",
        f'<p class="meta">Generated {escape(report.generated)} from {len(report.vantages)} vantage(s): {escape(vantages)}. '
        f"{len(report.rows)} checks, {len(report.failures)} failed.</p></header>",
        f'<section id="picture"><div class="scroll">{picture.render(report)}</div></section>',
        _changes(report.changes) if report.changes else "",
        '<section id="vantages"><h2>Vantages</h2><div class="scroll"><table class="vantages"><thead>'
        + _row(list(VANTAGE_HEAD), "th") + "</thead><tbody>" + "".join(_row(vantage_facts(v)) for v in report.vantages)
        + "</tbody></table></div></section>",
    ]
    if report.warnings:
        body.append('<section id="warnings" class="warnings"><h2>Warnings</h2><ul>'
                    + "".join(f"<li>{escape(w)}</li>" for w in report.warnings) + "</ul></section>")
    if report.check_warnings:
        body.append(f'<section id="check-warnings" class="warnings"><h2>Check warnings ({len(report.check_warnings)})</h2><ul>'
                    + "".join(f"<li><strong>{escape(w.title)}</strong>: {escape(w.text)}</li>" for w in report.check_warnings)
                    + "</ul></section>")
    body.append(f'<section id="failures"><h2>Failures ({len(report.failures)})</h2>')
    body.append("".join(_failure(f) for f in report.failures) or '<p class="none">No check failed from any vantage.</p>')
    body.append("</section>")
    head = _row([*TABLE_HEAD, *(v.label for v in report.vantages)], "th")
    body.append(f'<section id="summary"><h2>Port summary</h2><div class="scroll"><table id="port-summary" class="summary">'
                f"<thead>{head}</thead><tbody>" + "".join(_summary_row(r) for r in report.rows) + "</tbody></table></div></section>")
    body.append("<footer>Cells: pass / FAIL / ERROR / skip (unproven) / not applicable (when false) / not run / "
                "— (not checked from that vantage); ⚠ the check raised a warning. Hover a cell for what was observed.</footer>")
    return ('<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>ACTIVATE port report: {escape(vantages)}</title><style>{_css()}</style></head>"
            f"<body>{''.join(body)}</body></html>\n")
