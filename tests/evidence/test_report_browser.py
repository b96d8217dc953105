"""The merged HTML report in a real browser: Debian's headless Chromium lays it out and draws it."""

from __future__ import annotations

import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import pytest

from pytest_activate_ports.evidence.report import main

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed (.ci/packages-evidence.txt)")

# Test-only: the report itself has no script. This one reports what the browser actually laid out.
VISIBILITY_PROBE = """<script>
const table = document.getElementById("port-summary");
const style = getComputedStyle(table);
const box = table.getBoundingClientRect();
const shown = (el) => el.getBoundingClientRect().height > 0 && getComputedStyle(el).visibility === "visible";
document.body.dataset.tableVisible = String(box.width > 0 && box.height > 0 && style.display !== "none" && style.visibility === "visible");
document.body.dataset.visibleRows = String([...table.tBodies[0].rows].filter(shown).length);
document.body.dataset.failureCells = String(table.querySelectorAll("td.cell.failed").length);
document.body.dataset.failedColour = getComputedStyle(table.querySelector("td.cell.failed")).color;
</script>"""


def chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}",
               *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=True)


def png_pixels(path: Path) -> tuple[int, int, bytes]:
    """Width, height and raw (filtered) scanlines of a PNG: enough to tell a drawn page from a blank one."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    chunks, offset = [], 8
    while offset < len(data):
        length, kind = struct.unpack(">I4s", data[offset:offset + 8])
        if kind == b"IDAT":
            chunks.append(data[offset + 8:offset + 8 + length])
        offset += 12 + length
    return width, height, zlib.decompress(b"".join(chunks))


@pytest.fixture
def report_html(two_vantages: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    path = tmp_path / "report.html"
    assert main([*map(str, two_vantages), "-o", str(path)]) == 0
    capsys.readouterr()
    return path


def test_report_table_is_visible_in_headless_chromium(report_html: Path, tmp_path: Path) -> None:
    probed = tmp_path / "probed.html"
    probed.write_text(report_html.read_text().replace("</body>", VISIBILITY_PROBE + "</body>"))
    dom = chromium(tmp_path, "--dump-dom", probed.as_uri()).stdout
    assert 'data-table-visible="true"' in dom
    assert 'data-visible-rows="7"' in dom
    assert 'data-failure-cells="3"' in dom
    assert 'data-failed-colour="rgb(180, 35, 24)"' in dom  # the stylesheet applied: failures are red
    assert dom.count("<tr data-rule=") + dom.count('<tr class="row-failed" data-rule=') == 7


def test_report_screenshot_shows_a_drawn_page(report_html: Path, tmp_path: Path) -> None:
    shot = tmp_path / "report.png"
    chromium(tmp_path, "--window-size=1280,900", "--hide-scrollbars", f"--screenshot={shot}", report_html.as_uri())
    width, height, pixels = png_pixels(shot)
    assert (width, height) == (1280, 900)
    assert len(set(pixels)) > 50  # text, table lines and coloured cells, not one flat colour


PICTURE_PROBE = """<script>
const svg = document.querySelector("svg.picture");
const drawn = [...svg.querySelectorAll("g.path path")].filter((p) => p.getTotalLength() > 100 && p.getBBox().width > 100);
document.body.dataset.arrows = String(drawn.length);
document.body.dataset.failedStroke = getComputedStyle(svg.querySelector('g.path[data-verdict="fail"] path')).stroke;
document.body.dataset.pictureWidth = String(Math.round(svg.getBoundingClientRect().width));
</script>"""


def test_report_picture_is_drawn_in_headless_chromium(report_html: Path, tmp_path: Path) -> None:
    probed = tmp_path / "probed.html"
    probed.write_text(report_html.read_text().replace("</body>", PICTURE_PROBE + "</body>"))
    dom = chromium(tmp_path, "--window-size=1280,900", "--dump-dom", probed.as_uri()).stdout
    assert 'data-arrows="4"' in dom
    assert 'data-failed-stroke="rgb(180, 35, 24)"' in dom
    assert 'data-picture-width="1000"' in dom
