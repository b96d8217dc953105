"""The deployment at a glance: an inline SVG of every checked path, vantage -> host, coloured by verdict.

Vantages stand on the left, the target hosts grouped by role on the right,
and one arrow per path carries the ports checked on it. Every arrow ends in a
slot of its own on the host's side, and its label sits on the straight last
stretch before that slot, so labels never overlap however many paths a host
has; the vantages are ordered by where their arrows land (the barycentre
heuristic of layered graph drawing) and each fans its arrows out in target
order, which keeps crossings few. Drawn by this code on purpose: a report is
opened offline years later and must not need graphviz or a script.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from html import escape

from .text import printable
from .matrix import PRECEDENCE
from .merge import Cell, Report, Row

VERDICT = {"failed": "fail", "error": "error", "passed": "pass", "skipped": "not checked"}
"""The path's colour is its worst check's, in the terminal matrix's precedence (a skip never hides a pass)."""
COLOUR = {"pass": "#1a7f37", "fail": "#b42318", "error": "#bc4c00", "not checked": "#8c959f"}
LABEL_FILL = {**COLOUR, "pass": "#1f2328"}  # passing ports in plain text, so the ones that failed stand out
WIDTH, LEFT_W, RIGHT_W, LABEL_W, MARGIN = 1000, 190, 210, 250, 10
SLOT_IN, SLOT_OUT, HOST_PAD, HOST_GAP, GROUP_HEAD, GROUP_GAP, VANTAGE_GAP, TOP = 18, 10, 8, 6, 20, 14, 16, 44
X_HOST = WIDTH - MARGIN - RIGHT_W
CHAR_W = 6.1  # average advance of the 11px label font, to cut labels that would reach the curve


@dataclass
class Path:
    """One vantage -> host path and the checks on it."""

    vantage: str
    host: str
    checks: list[tuple[Row, Cell | None]] = field(default_factory=list)  # None: no evidence from that vantage

    @property
    def worst(self) -> str:
        """The outcome that colours the path (not run, not from this vantage and no evidence count as skipped)."""
        statuses = [cell.status if cell is not None and cell.status in VERDICT else "skipped" for _, cell in self.checks]
        return min(statuses, key=PRECEDENCE.index)

    @property
    def verdict(self) -> str:
        return VERDICT[self.worst]

    @property
    def closed_only(self) -> bool:
        return all(row.expect == "forbidden" for row, _ in self.checks)

    def label(self) -> list[tuple[str, str]]:
        """``443 80 8443 · closed 5432``, each port with its own verdict: ports that must answer, then those that must not."""
        def ports(forbidden: bool) -> list[tuple[str, str]]:
            worst: dict[str, str] = {}
            for row, cell in self.checks:
                if (row.expect == "forbidden") == forbidden:
                    status = cell.status if cell is not None and cell.status in VERDICT else "skipped"
                    worst[row.port] = min(worst.get(row.port, status), status, key=PRECEDENCE.index)
            return [(port, VERDICT[status]) for port, status in worst.items()]
        open_, shut = ports(False), ports(True)
        return [*open_, *([("·", "")] if open_ and shut else []), *([("closed", "")] if shut else []), *shut]

    def title(self, roles: str) -> str:
        lines = [f"{self.vantage} → {self.host}{f' ({roles})' if roles else ''}: {self.verdict}"]
        for row, cell in self.checks:
            seen = f"{cell.text}: {cell.detail}" if cell is not None else f"not checked: no evidence from {self.vantage}"
            lines.append(f"{row.port} {row.key[1]} ({row.required}, {row.protocol}): {seen}")
        return "\n".join(printable(line) for line in lines)


def paths(report: Report) -> list[Path]:
    """Every path the specs name, with each vantage's verdicts (several files of one role all count)."""
    found: dict[tuple[str, str], Path] = {}
    for row in report.rows:
        for role in row.sources:
            columns = [i for i, v in enumerate(report.vantages) if (v.role or "-") == role]
            path = found.setdefault((role, row.key[2]), Path(role, row.key[2]))
            path.checks += [(row, row.cells[i]) for i in columns] or [(row, None)]
    return list(found.values())


def _text(x: float, y: float, text: str, cls: str, anchor: str = "start") -> str:
    return f'<text x="{x:.0f}" y="{y:.0f}" class="{cls}" text-anchor="{anchor}">{escape(printable(text))}</text>'


def _cut(text: str, width: float) -> str:
    most = int(width / CHAR_W)
    return text if len(text) <= most else text[:most - 1] + "…"


def _label(x: float, y: float, words: list[tuple[str, str]], width: float) -> str:
    """The ports of a path, right-aligned before its arrowhead; a port that failed stands out in its verdict's colour."""
    room = int(width / CHAR_W)
    shown: list[tuple[str, str]] = []
    for text, verdict in words:
        if sum(len(t) + 1 for t, _ in shown) + len(text) > room:
            shown.append(("…", ""))
            break
        shown.append((text, verdict))
    spans = " ".join(f'<tspan fill="{LABEL_FILL[verdict]}" class="{verdict.replace(" ", "-")}">{escape(printable(text))}</tspan>'
                     if verdict else escape(text) for text, verdict in shown)
    return f'<text x="{x:.0f}" y="{y:.0f}" class="ports" text-anchor="end">{spans}</text>'


def _hosts(report: Report, drawn: list[Path], parts: list[str]) -> tuple[dict[int, float], float]:
    """The right column: host boxes grouped by role, a slot per incoming arrow; the slots' heights and the bottom."""
    roles = {row.key[2]: ", ".join(row.host_roles) for row in report.rows}
    addresses = {row.key[2]: row.address for row in report.rows}
    groups: dict[str, list[str]] = {}  # a group stands where its first host does in the spec's order
    for host in dict.fromkeys(path.host for path in drawn):
        groups.setdefault(roles[host], []).append(host)
    slots: dict[int, float] = {}
    y, x = float(TOP), X_HOST
    for group, members in groups.items():
        top = y
        y += GROUP_HEAD
        for host in members:
            incoming = [p for p in drawn if p.host == host]
            height = max(26, len(incoming) * SLOT_IN + HOST_PAD)
            where = printable(f"{host} ({group or 'no role'})")
            parts.append(f'<g class="host" data-host="{escape(host)}"><title>{escape(where)}</title>'
                         f'<rect x="{x}" y="{y:.0f}" width="{RIGHT_W - 12}" height="{height}" rx="4"/>'
                         + _text(x + 10, y + 17, _cut(host, 100), "host-name")
                         + _text(x + RIGHT_W - 20, y + 17, _cut(addresses.get(host, ""), 80), "address", "end") + "</g>")
            for index, path in enumerate(incoming):
                slots[id(path)] = y + HOST_PAD / 2 + SLOT_IN * index + SLOT_IN / 2
            y += height + HOST_GAP
        parts.insert(0, f'<rect class="group" x="{x - 6}" y="{top:.0f}" width="{RIGHT_W}" height="{y - top:.0f}" rx="6"/>'
                     + _text(x, top + 14, _cut(group or "no role", RIGHT_W - 12), "group-name"))
        y += GROUP_GAP
    return slots, y


def _vantages(drawn: list[Path], slots: dict[int, float], bottom: float, parts: list[str]) -> tuple[dict[int, float], float]:
    """The left column, vertically centred: vantages ordered by the mean height of their arrows' ends (the
    barycentre), each fanning its arrows out in the order they land; the arrows' starts and the bottom."""
    outgoing: dict[str, list[Path]] = {}
    for path in sorted(drawn, key=lambda p: slots[id(p)]):
        outgoing.setdefault(path.vantage, []).append(path)
    vantages = sorted(outgoing, key=lambda v: sum(slots[id(p)] for p in outgoing[v]) / len(outgoing[v]))
    heights = [max(34, len(outgoing[v]) * SLOT_OUT + 14) for v in vantages]
    y = max(float(TOP), TOP + (bottom - TOP - sum(heights) - VANTAGE_GAP * (len(heights) - 1)) / 2)
    starts: dict[int, float] = {}
    for vantage, height in zip(vantages, heights):
        title = printable(f"vantage {vantage}: {len(outgoing[vantage])} paths")
        parts.append(f'<g class="vantage" data-vantage="{escape(vantage)}"><title>{escape(title)}</title>'
                     f'<rect x="{MARGIN}" y="{y:.0f}" width="{LEFT_W - MARGIN}" height="{height}" rx="6"/>'
                     + _text(MARGIN + 10, y + height / 2 + 4, _cut(vantage, LEFT_W - 30), "vantage-name") + "</g>")
        for index, path in enumerate(outgoing[vantage]):
            starts[id(path)] = y + 7 + SLOT_OUT * index + SLOT_OUT / 2
        y += height + VANTAGE_GAP
    return starts, y


def _arrow(path: Path, y0: float, y1: float, roles: str) -> str:
    """A curve from the vantage to the bend, then straight into the host's slot, under the ports it carries."""
    bend = X_HOST - LABEL_W
    mid = (LEFT_W + bend) / 2
    dash = ' stroke-dasharray="5 3"' if path.closed_only else ""
    return (f'<g class="path" data-from="{escape(path.vantage)}" data-to="{escape(path.host)}" data-verdict="{path.verdict}">'
            f"<title>{escape(path.title(roles))}</title>"
            f'<path d="M{LEFT_W},{y0:.1f} C{mid:.0f},{y0:.1f} {mid:.0f},{y1:.1f} {bend},{y1:.1f} H{X_HOST - 2}" '
            f'stroke="{COLOUR[path.verdict]}"{dash} marker-end="url(#arrow-{path.verdict.replace(" ", "-")})"/>'
            + _label(X_HOST - 10, y1 - 3, path.label(), LABEL_W - 14) + "</g>")


def _legend() -> str:
    keys = [(name, colour, "") for name, colour in COLOUR.items()]
    keys.append(("every port must be closed (else: must answer)", "#57606a", ' stroke-dasharray="5 3"'))
    return "".join(f'<g transform="translate({MARGIN + 118 * i},8)"><line x1="0" y1="8" x2="28" y2="8" stroke="{colour}"{dash}/>'
                   + _text(34, 12, name, "legend") + "</g>" for i, (name, colour, dash) in enumerate(keys))


def render(report: Report) -> str:
    """The picture as an ``<svg>`` element (no script, no external reference); empty when nothing was planned."""
    drawn = paths(report)
    if not drawn:
        return ""
    parts: list[str] = []
    slots, right = _hosts(report, drawn, parts)
    starts, left = _vantages(drawn, slots, right, parts)
    roles = {row.key[2]: ", ".join(row.host_roles) for row in report.rows}
    for path in sorted(drawn, key=lambda p: PRECEDENCE.index(p.worst), reverse=True):  # failures drawn last, on top
        parts.append(_arrow(path, starts[id(path)], slots[id(path)], roles[path.host]))
    markers = "".join(f'<marker id="arrow-{name.replace(" ", "-")}" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" '
                      f'markerHeight="7" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="{colour}"/></marker>'
                      for name, colour in COLOUR.items())
    total = max(left, right) + MARGIN
    return (f'<svg class="picture" viewBox="0 0 {WIDTH} {total:.0f}" '
            f'width="{WIDTH}" height="{total:.0f}" role="img" aria-label="checked paths: vantages to hosts">'
            f'<defs>{markers}</defs><g class="legend">{_legend()}</g>{"".join(parts)}</svg>')
