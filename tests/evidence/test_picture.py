"""The picture at the top of the HTML report: one arrow per checked path, coloured by its worst verdict."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ElementTree
from pathlib import Path
from typing import Any

import pytest

from pytest_activate_ports.evidence import picture
from pytest_activate_ports.evidence.merge import merge
from pytest_activate_ports.evidence.read import load
from pytest_activate_ports.evidence.report import main

from .test_report_inputs import HOSTILE, rewrite

PROFILE = Path(__file__).parents[2] / "docs" / "samples" / "profile"


def svg(*paths: Path) -> ElementTree.Element:
    """The picture of the report on ``paths``, parsed as XML (it must be well-formed on its own)."""
    return ElementTree.fromstring(picture.render(merge(*load(list(paths)))))


def arrows(root: ElementTree.Element) -> dict[tuple[str, str], ElementTree.Element]:
    return {(g.get("data-from", ""), g.get("data-to", "")): g for g in root.iter("g") if g.get("class") == "path"}


def label(arrow: ElementTree.Element) -> str:
    text = next(t for t in arrow.iter("text") if t.get("class") == "ports")
    return " ".join("".join(text.itertext()).split())


def test_picture_draws_each_checked_path_in_the_colour_of_its_worst_verdict(two_vantages: tuple[Path, Path]) -> None:
    drawn = arrows(svg(*two_vantages))
    verdicts = {path: g.get("data-verdict") for path, g in drawn.items()}
    # internet -> lb: ui-https pass, http-redirect FAIL, cac-mtls not applicable; internet -> db: 5432 refused (pass),
    # 27017 open (FAIL); control-plane -> lb: 443 pass; control-plane -> db: postgres FAIL, mongodb pass.
    assert verdicts == {("internet", "lb"): "fail", ("internet", "db"): "fail", ("control-plane", "lb"): "pass",
                        ("control-plane", "db"): "fail"}
    for path, g in drawn.items():
        line = g.find("path")
        assert line is not None and line.get("stroke") == picture.COLOUR[verdicts[path] or ""]
        assert line.get("marker-end") == f"url(#arrow-{verdicts[path]})"
    assert label(drawn[("internet", "lb")]) == "443 80 8443"
    assert label(drawn[("internet", "db")]) == "closed 5432 27017"
    assert label(drawn[("control-plane", "db")]) == "5432 27017"
    failed = [t.text for t in drawn[("internet", "db")].iter("tspan") if t.get("fill") == picture.COLOUR["fail"]]
    assert failed == ["27017"]  # the port that failed stands out in the label
    dashed = {path for path, g in drawn.items() if g.find("path").get("stroke-dasharray")}  # type: ignore[union-attr]
    assert dashed == {("internet", "db")}  # every port on it must be closed


def test_picture_titles_carry_the_observed_state_of_every_check(two_vantages: tuple[Path, Path]) -> None:
    title = arrows(svg(*two_vantages))[("internet", "db")].findtext("title") or ""
    lines = title.splitlines()
    assert lines[0] == "internet → db (database): fail"
    assert lines[1].startswith("5432 postgres-internal (No (must be closed), tcp): pass: ")
    assert re.match(r"27017 mongodb-internal \(No \(must be closed\), tcp\): FAIL: db:27017 via \d+ must be closed", lines[2])


def test_picture_shows_paths_without_evidence_as_not_checked(two_vantages: tuple[Path, Path]) -> None:
    drawn = arrows(svg(two_vantages[0]))
    assert drawn[("control-plane", "lb")].get("data-verdict") == "not checked"
    assert "not checked: no evidence from control-plane" in (drawn[("control-plane", "lb")].findtext("title") or "")
    assert drawn[("internet", "lb")].get("data-verdict") == "fail"


@pytest.mark.parametrize(("outcomes", "verdict"), [
    (("passed", "error"), "error"), (("failed", "error"), "fail"), (("passed", "skipped"), "pass"),
    (("skipped", "skipped"), "not checked"),
])
def test_picture_precedence_is_fail_error_pass_not_checked(two_vantages: tuple[Path, Path], outcomes: tuple[str, str],
                                                           verdict: str) -> None:
    def set_outcomes(document: dict[str, Any]) -> None:
        on_db = [r for r in document["records"] if r["host"] == "db"]
        for record, outcome in zip(on_db, outcomes):
            record["outcome"] = outcome

    assert arrows(svg(rewrite(two_vantages[0], set_outcomes)))[("internet", "db")].get("data-verdict") == verdict


def test_picture_stays_well_formed_and_inert_with_hostile_text(two_vantages: tuple[Path, Path]) -> None:
    def poison(document: dict[str, Any]) -> None:
        document["role"] = f"internet{HOSTILE}"
        document["specs"][0]["hosts"]["db"]["roles"] = [HOSTILE]
        for record in document["records"]:
            record["message"] = HOSTILE

    page = picture.render(merge(*load([rewrite(two_vantages[0], poison)])))
    root = ElementTree.fromstring(page)  # control characters would make it ill-formed
    assert "<script" not in page and "<img" not in page and "\x1b" not in page
    assert len(arrows(root)) == 4


@pytest.mark.skipif(not PROFILE.is_dir(), reason="docs/samples/profile not generated (python -m tests.evidence.samples)")
def test_picture_of_the_full_profile_keeps_every_label_apart() -> None:
    files = sorted(PROFILE.glob("*.json"))
    root = svg(*files)
    drawn = arrows(root)
    assert {v for v, _ in drawn} == {json.loads(p.read_text())["role"] for p in files} and len(files) == 6
    ends: dict[str, list[float]] = {}
    for g in drawn.values():
        text = next(t for t in g.iter("text") if t.get("class") == "ports")
        ends.setdefault(text.get("x", ""), []).append(float(text.get("y", "0")))
        assert len(label(g)) * picture.CHAR_W <= picture.LABEL_W
    [heights] = ends.values()  # every label ends at the same x, just before the hosts
    heights.sort()
    assert all(b - a >= picture.SLOT_IN for a, b in zip(heights, heights[1:]))
    boxes = sorted(float(r.get("y", "0")) for g in root.iter("g") if g.get("class") == "vantage" for r in g.iter("rect"))
    assert len(boxes) == 6 and len(set(boxes)) == 6
    failing = {path for path, g in drawn.items() if g.get("data-verdict") == "fail"}
    assert failing == {("internet", "lb"), ("control-plane-internal", "slurm-controller"), ("workspace", "slurm-controller")}


def test_report_page_opens_with_the_picture(two_vantages: tuple[Path, Path], tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*map(str, two_vantages), "-o", str(tmp_path / "r.html")]) == 0
    page = (tmp_path / "r.html").read_text()
    assert page.index('<section id="picture">') < page.index('<section id="vantages">')
    assert page.count('<g class="path"') == 4
