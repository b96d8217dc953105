"""``activate-ports report``: merge evidence files from several vantages into one report.

    activate-ports report internet.json cluster.json -o report.html
    activate-ports report internet.json cluster.json --format md >> "$GITHUB_STEP_SUMMARY"
    activate-ports report today/*.json --baseline last-week.json -o report.html

Exit status: 0 when the report was written, 1 with ``--fail-on-failures`` when
any vantage saw a failed check or any evidence is incomplete (an interrupted run
proves nothing about the checks it never ran; ``--allow-incomplete`` says the
user knows), 2 on unusable input.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path
from typing import Sequence

from . import htmlpage, markdown
from .diff import compare
from .merge import merge
from .read import EvidenceError, Vantage, load
from .writer import write_atomic


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="activate-ports report",
        description="Merge --activate-evidence files from several vantages into one HTML or Markdown report.")
    parser.add_argument("evidence", nargs="+", type=Path, help="evidence JSON files, one per vantage")
    parser.add_argument("-o", "--output", type=Path, help="file to write (default: standard output)")
    parser.add_argument("--format", choices=("html", "md"),
                        help="report format (default: from the output suffix, .md means md; otherwise html)")
    parser.add_argument("--baseline", type=Path, metavar="OLD.json", action="append",
                        help="earlier evidence (repeatable, one file per vantage): the report opens with what changed "
                             "since, regressions first")
    parser.add_argument("--fail-on-failures", action="store_true",
                        help="exit 1 if any vantage saw a failed check, or any evidence file is incomplete")
    parser.add_argument("--allow-incomplete", action="store_true",
                        help="with --fail-on-failures: do not fail on incomplete evidence (checks that never ran)")
    return parser


def main(argv: Sequence[str]) -> int:
    """Entry point of the ``report`` subcommand."""
    args = _parser().parse_args(list(argv))
    fmt = args.format or ("md" if args.output is not None and args.output.suffix.lower() in (".md", ".markdown") else "html")
    try:
        vantages, notes = load(args.evidence)
        report = merge(vantages, notes)
        if args.baseline is not None:
            report = dataclasses.replace(report, changes=compare(load(args.baseline)[0], vantages))
    except EvidenceError as exc:
        print(f"activate-ports report: {exc}", file=sys.stderr)
        return 2
    text = htmlpage.render(report) if fmt == "html" else markdown.render(report)
    if args.output is None:
        sys.stdout.write(text)
    else:
        write_atomic(args.output, text)
        print(f"activate-ports report: wrote {args.output} ({len(report.rows)} checks, {len(report.failures)} failed, "
              f"{len(report.vantages)} vantages)", file=sys.stderr)
    for warning in report.warnings:
        print(f"activate-ports report: warning: {warning}", file=sys.stderr)
    if not args.fail_on_failures:
        return 0
    incomplete = [] if args.allow_incomplete else incomplete_runs(vantages)
    for why in incomplete:
        print(f"activate-ports report: failing: {why}; rerun it (or pass --allow-incomplete)", file=sys.stderr)
    return 1 if report.failures or incomplete else 0


def incomplete_runs(vantages: Sequence[Vantage]) -> list[str]:
    """One line per evidence file whose run did not finish every selected check."""
    files = {id(v.evidence): v.evidence for v in vantages}.values()
    return [f"{evidence.source} is incomplete (exit status {evidence.document['exit_status']}, "
            f"{len(evidence.document['not_run'])} selected checks never ran): not a pass"
            for evidence in files if not evidence.document["complete"]]
