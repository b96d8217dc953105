"""Where the plugin's time goes on the 10k workload: cProfile (main thread) and py-spy (all threads).

cProfile only sees the thread that started it, i.e. pytest's main thread:
collection, item creation, the per-item protocol, reporting, JUnit and the
time items spend *waiting* for the probe thread. py-spy samples every thread,
so it also shows the engine's own event loop. Both views are written to one
text file; the module is named ``profiling`` because ``profile`` would shadow
the standard module that cProfile imports.
"""

from __future__ import annotations

import io
import pstats
import re
import shutil
import sys
from collections import Counter
from pathlib import Path

from lab import Lab
from measure import Job, run_in

PACKAGE = "pytest_activate_ports"
_SNAPSHOT = re.compile(r"/\S*/(?=pytest_activate_ports/)")  # the bench's temp copy: show package-relative paths
_FRAME = re.compile(r"^(?P<func>.*) \((?P<file>[^()]*?)(?::\d+)?\)$")


def cprofile_report(prof: Path, top: int = 30) -> str:
    """Top ``top`` by cumulative time overall, then the plugin's own functions, then by own time."""
    sections = []
    for title, sort, restrict in (("cumulative, all functions", "cumulative", ()),
                                  (f"cumulative, {PACKAGE} only", "cumulative", (PACKAGE,)),
                                  ("own time (tottime), all functions", "tottime", ())):
        buffer = io.StringIO()
        stats = pstats.Stats(str(prof), stream=buffer)
        if not restrict:  # the package filter matches on the path, which strip_dirs would remove
            stats.strip_dirs()
        stats.sort_stats(sort).print_stats(*restrict, top)
        sections.append(f"=== cProfile: top {top} {title} ===\n{_trim(buffer.getvalue())}")
    return _SNAPSHOT.sub("", "\n\n".join(sections))


def _trim(text: str) -> str:
    """Drop pstats' banner lines (file name, blank lines) but keep the totals line and the table."""
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines) if "function calls" in line), 0)
    return "\n".join(line for line in lines[start:] if line.strip())


def pyspy_report(raw: Path, top: int = 30) -> str:
    """Inclusive share of samples per function across all threads, from py-spy's collapsed stacks."""
    inclusive: Counter[str] = Counter()
    total = 0
    for line in raw.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        seen = set()
        for frame in stack.split(";"):
            match = _FRAME.match(frame)
            if match:
                seen.add(f"{match['func']} ({Path(match['file']).name})" if PACKAGE not in match["file"]
                         else f"{match['func']} ({match['file'][match['file'].index(PACKAGE):]})")
        for name in seen:
            inclusive[name] += count
    if not total:
        return "=== py-spy: no samples ==="
    rows = [f"{100 * n / total:6.1f}%  {name}" for name, n in inclusive.most_common(top)]
    plugin = [f"{100 * n / total:6.1f}%  {name}" for name, n in inclusive.most_common() if PACKAGE in name][:top]
    return "\n".join([f"=== py-spy: top {top} functions by inclusive share of {total} non-idle samples, all threads ===",
                      *rows, "", f"=== py-spy: {PACKAGE} only ===", *plugin])


def run_profiles(lab: Lab, job: Job, outdir: Path, cwd: Path, timeout: float) -> str:
    """Run ``job`` (the plugin) once under cProfile and, if available, once under py-spy."""
    argv = job.command(outdir / "cprofile")
    prof = outdir / "cprofile" / "plugin.prof"
    assert argv[:2] == [sys.executable, "-m"], "the plugin job must start with 'python -m pytest'"
    raw = run_in(lab, [sys.executable, "-m", "cProfile", "-o", str(prof), *argv[1:]], outdir / "cprofile", cwd, timeout, None)
    verdict = job.verify(outdir / "cprofile", raw)
    parts = [f"cProfile run: {raw.wall:.2f} s wall (profiler overhead included), verdicts: {verdict.summary}",
             cprofile_report(prof) if prof.is_file() else "cProfile wrote no profile"]
    pyspy = shutil.which("py-spy")
    if pyspy is None:
        parts.append("py-spy not installed (pip install py-spy): no all-threads view")
        return "\n\n".join(parts)
    stacks = outdir / "pyspy" / "stacks.txt"
    argv = job.command(outdir / "pyspy")
    raw = run_in(lab, [pyspy, "record", "--rate", "250", "--format", "raw", "--output", str(stacks), "--", *argv],
                 outdir / "pyspy", cwd, timeout, None)
    verdict = job.verify(outdir / "pyspy", raw)
    parts.append(f"py-spy run: {raw.wall:.2f} s wall, verdicts: {verdict.summary}")
    parts.append(pyspy_report(stacks) if stacks.is_file() else f"py-spy wrote nothing: {raw.stderr.read_text()[-500:]}")
    return "\n\n".join(parts)
