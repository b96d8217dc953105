"""Medians, ratios, the issue's goals, and the files they are kept in.

A ratio is only computed from series whose every run had the right verdicts;
otherwise it is ``None`` and the table says WRONG, so a broken run can never
look like a win.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

from measure import Sample

PLUGIN, NMAP, FLOOR = "plugin", "nmap", "asyncio floor (512 in flight)"
TRIVIAL, TRIVIAL_JUNIT = "trivial pytest", "trivial pytest + junitxml"


@dataclass
class Series:
    """Every run of one tool on one workload."""

    name: str
    samples: list[Sample] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.samples) and all(s.verdict.ok for s in self.samples)

    @property
    def wall(self) -> float:
        return statistics.median(s.wall for s in self.samples)

    @property
    def rss_mb(self) -> float:
        return statistics.median(s.rss_kb for s in self.samples) / 1024

    @property
    def tree_rss_mb(self) -> float:
        """Peak RSS summed over the whole process tree (pytest and its prober process)."""
        return statistics.median(s.tree_rss_kb for s in self.samples) / 1024


@dataclass
class Suite:
    """One workload (a size, or the range comparison) and everything measured on it."""

    label: str
    checks: int
    series: dict[str, Series] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    slug: str = ""  # a side workload's file name part: <date>-<slug>.json

    def add(self, name: str, sample: Sample) -> None:
        self.series.setdefault(name, Series(name)).samples.append(sample)

    def wall(self, name: str) -> float | None:
        series = self.series.get(name)
        return series.wall if series is not None and series.ok else None

    def rss(self, name: str) -> float | None:
        series = self.series.get(name)
        return series.rss_mb if series is not None and series.ok else None


def _div(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def ratios(suite: Suite) -> dict[str, float | None]:
    """The issue's ratios for one workload (None where a series is missing or wrong)."""
    baseline = [w for w in (suite.wall(TRIVIAL_JUNIT), suite.wall(FLOOR)) if w is not None]
    out = {
        "plugin/nmap": _div(suite.wall(PLUGIN), suite.wall(NMAP)),
        "plugin/max(trivial+junitxml, floor)": _div(suite.wall(PLUGIN), max(baseline)) if len(baseline) == 2 else None,
        "plugin RSS/trivial+junitxml RSS": _div(suite.rss(PLUGIN), suite.rss(TRIVIAL_JUNIT)),
        "plugin RSS/trivial RSS": _div(suite.rss(PLUGIN), suite.rss(TRIVIAL)),
        "junitxml cost (trivial+junitxml/trivial)": _div(suite.wall(TRIVIAL_JUNIT), suite.wall(TRIVIAL)),
    }
    for name in suite.series:
        if name.startswith(PLUGIN + " ") and name != PLUGIN:
            out[f"{name}/plugin"] = _div(suite.wall(name), suite.wall(PLUGIN))
    return out


def scaling(small: Suite, large: Suite) -> dict[str, float | None]:
    """Wall-time growth from the small to the large workload, per tool (checks grew ``large/small`` x)."""
    return {name: _div(large.wall(name), small.wall(name)) for name in large.series if name in small.series}


def goals(suites: dict[int, Suite], ulimit: int | None) -> list[tuple[str, bool | None, str]]:
    """Each goal of the prober-core issue (14) as (goal, met, evidence); met is None when it could not be measured."""
    out: list[tuple[str, bool | None, str]] = []
    bounds = {1000: 1.15, 10000: 1.1}  # plugin wall / max(trivial pytest + junitxml, asyncio floor)
    for checks, suite in sorted(suites.items()):
        r = ratios(suite)
        if checks in bounds:
            overlap = r["plugin/max(trivial+junitxml, floor)"]
            out.append((f"{checks:,}: plugin wall <= {bounds[checks]}x max(trivial+junitxml, floor)",
                        _le(overlap, bounds[checks]), _fmt(overlap)))
        if checks == 1000:
            out.append((f"{checks:,}: plugin wall <= 0.5x nmap", _le(r["plugin/nmap"], 0.5), _fmt(r["plugin/nmap"])))
        if checks == 10000:
            out.append((f"{checks:,}: peak RSS <= 1.3x trivial pytest + junitxml",
                        _le(r["plugin RSS/trivial+junitxml RSS"], 1.3), _fmt(r["plugin RSS/trivial+junitxml RSS"])))
        if checks == 20:
            small = _div(suite.wall(PLUGIN), suite.wall(TRIVIAL_JUNIT))
            out.append(("20: plugin wall <= 1.2x a 20-item trivial pytest (+junitxml)", _le(small, 1.2), _fmt(small)))
        if ulimit is not None:
            series = suite.series.get(f"{PLUGIN} (ulimit -n {ulimit})")
            out.append((f"{checks:,}: ulimit -n {ulimit} finishes with the right verdicts",
                        series.ok if series else None, series.samples[-1].verdict.summary if series else "not run"))
    if 1000 in suites and 10000 in suites:
        growth = scaling(suites[1000], suites[10000]).get(PLUGIN)
        out.append(("time grows with checks, not checks x timeout (10x checks -> <= 10x wall)", _le(growth, 10.0),
                    f"{_fmt(growth)} for 10x checks"))
    return out


def sweep_goals(extra: list[Suite]) -> list[tuple[str, bool | None, str]]:
    """Each goal of the sweep issue (16) that the side workloads measure."""
    out: list[tuple[str, bool | None, str]] = []
    for suite in extra:
        ratio = _div(suite.wall(PLUGIN), suite.wall(NMAP))
        out.append((f"{suite.label}: plugin <= 1.5x nmap", _le(ratio, 1.5), _fmt(ratio)))
        if suite.slug == "sweep":
            series = suite.series.get(PLUGIN)
            peak = series.tree_rss_mb if series is not None and series.ok else None
            out.append((f"{suite.label}: peak RSS of all processes <= 150 MB", _le(peak, 150.0),
                        "n/a" if peak is None else f"{peak:.0f} MB"))
    return out


def _le(value: float | None, bound: float) -> bool | None:
    return None if value is None else value <= bound


def _fmt(value: float | None) -> str:
    return "n/a (missing or wrong run)" if value is None else f"{value:.2f}x"


def machine(package: Path) -> dict[str, object]:
    """What the numbers were measured on and with, including the revision of the measured ``package``."""
    def first_line(*argv: str) -> str:
        try:
            done = subprocess.run(argv, capture_output=True, text=True, timeout=30)
            return (done.stdout or done.stderr).strip().splitlines()[0]
        except (OSError, IndexError, subprocess.TimeoutExpired):
            return "unavailable"

    repo = Path(__file__).resolve().parent.parent
    meminfo = Path("/proc/meminfo").read_text().split("\n", 1)[0]
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.machine())
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    dirty = first_line("git", "-C", str(repo), "status", "--porcelain", "--", "pytest_activate_ports")
    return {
        "nproc": os.cpu_count(), "cpu": cpu, "memory": meminfo.split(":", 1)[1].strip(),
        "kernel": platform.release(), "python": platform.python_version(),
        "pytest": first_line(sys.executable, "-m", "pytest", "--version"),
        "pytest-xdist": first_line(sys.executable, "-c", "import xdist; print(xdist.__version__)"),
        "nmap": first_line("nmap", "--version"), "ulimit -n": f"{soft} (hard {hard})",
        "engine commit": first_line("git", "-C", str(repo), "rev-parse", "--short", "HEAD"),
        "engine uncommitted changes": dirty not in ("", "unavailable"),
        "measured sources sha256": package_fingerprint(package),
    }


def package_fingerprint(package: Path) -> str:
    """A hash of the measured plugin sources, to tell apart runs of the same commit with different edits."""
    digest = hashlib.sha256()
    for path in sorted(package.rglob("*.py")):
        digest.update(str(path.relative_to(package)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:12]


def table(suites: list[Suite]) -> str:
    """One markdown table per workload: median wall (min-max), median peak RSS, verdicts, connections."""
    parts = []
    for suite in suites:
        rows = [f"### {suite.label} ({suite.checks:,} checks)", "",
                "| tool | wall median (min-max) | peak RSS median | peak RSS, all processes | verdicts | connections to open ports |",
                "|---|---|---|---|---|---|"]
        for series in suite.series.values():
            walls = [s.wall for s in series.samples]
            state = "ok" if series.ok else "WRONG"
            last = series.samples[-1]
            accepts = "-" if last.expected_accepts is None else f"{last.accepts} for {last.expected_accepts}"
            rows.append(f"| {series.name} | {series.wall:.2f} s ({min(walls):.2f}-{max(walls):.2f}) | "
                        f"{series.rss_mb:.0f} MB | {series.tree_rss_mb:.0f} MB | {state}: {last.verdict.summary} | {accepts} |")
        rows += ["", *(f"- note: {n}" for n in suite.notes)]
        parts.append("\n".join(rows))
    return "\n\n".join(parts)


def markdown(suites: dict[int, Suite], extra: list[Suite], info: dict[str, object], ulimit: int | None, command: str) -> str:
    """The whole of ``latest.md``: machine, tables, ratios, scaling, goals."""
    lines = [f"# Benchmark results ({info['date']})", "", f"Command: `{command}`", "",
             "| machine | |", "|---|---|", *(f"| {k} | {v} |" for k, v in info.items()), "",
             table([*(s for _, s in sorted(suites.items())), *extra]), "", "## Ratios (medians, same run)", ""]
    for checks, suite in sorted(suites.items()):
        lines += [f"- {checks:,}: " + "; ".join(f"{k} = {_fmt(v)}" for k, v in ratios(suite).items())]
    for suite in extra:  # only what applies to a side workload (e.g. the range has no trivial baseline)
        lines += [f"- {suite.label}: " + "; ".join(f"{k} = {_fmt(v)}" for k, v in ratios(suite).items() if v is not None)]
    if 1000 in suites and 10000 in suites:
        growth = scaling(suites[1000], suites[10000])
        lines += ["", "## Scaling 1,000 -> 10,000 checks (10x)", "", *(f"- {k}: {_fmt(v)}" for k, v in growth.items())]
    lines += ["", "## Goals of the prober-core issue", "", "| goal | met | measured |", "|---|---|---|"]
    lines += [f"| {g} | {'n/a' if met is None else ('yes' if met else 'NO')} | {ev} |" for g, met, ev in goals(suites, ulimit)]
    if extra:
        lines += ["", "## Goals of the sweep issue", "", "| goal | met | measured |", "|---|---|---|"]
        lines += [f"| {g} | {'n/a' if met is None else ('yes' if met else 'NO')} | {ev} |" for g, met, ev in sweep_goals(extra)]
    return "\n".join(lines) + "\n"


def write_json(path: Path, suite: Suite, info: dict[str, object], extra: dict[str, object]) -> None:
    """``<date>-<size>.json``: every sample, the medians and the ratios of one workload."""
    document = {
        "machine": info, "label": suite.label, "checks": suite.checks, "notes": suite.notes,
        "series": {name: {"ok": s.ok, "median_wall_s": s.wall, "median_peak_rss_mb": s.rss_mb,
                          "samples": [asdict(x) for x in s.samples]} for name, s in suite.series.items()},
        "ratios": ratios(suite), **extra,
    }
    path.write_text(json.dumps(document, indent=1, default=str) + "\n")
