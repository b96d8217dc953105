"""Benchmark the plugin against nmap, plain pytest and a bare asyncio loop in a namespace lab.

Usage (as root; see bench/README.md)::

    python bench/run.py --sizes 1000,10000 --repeat 3 --ulimit 256 --profile

Builds the lab, runs every tool ``--repeat`` times per workload (interleaved,
so drift hits all tools alike), checks every run's verdicts, prints the table
and ratios and writes ``bench/results/``. Whatever it created (namespaces,
processes, the temp folder) is removed at the end, on errors and on
Ctrl-C/SIGTERM too.
"""

from __future__ import annotations

import argparse
import datetime
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import FrameType

import report
import runners
import specs
from lab import Lab, remove_stale
from measure import Job, bench_env, measure
from profiling import run_profiles
from report import PLUGIN, Suite

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results"
TOOLS = {"ip": "iproute2", "nft": "nftables", "nmap": "nmap", "/usr/bin/time": "time"}
XDIST_FROM = 10000  # xdist only on the large workload: on small ones worker start-up dominates


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="20,1000,10000", help="workloads, from: " + ", ".join(map(str, specs.SIZES)))
    parser.add_argument("--repeat", type=int, default=3, help="runs per tool and workload; medians are reported")
    parser.add_argument("--ulimit", type=int, metavar="N", help="also run the plugin under `ulimit -n N` (e.g. 256)")
    parser.add_argument("--profile", action="store_true", help="profile the plugin on the largest workload")
    parser.add_argument("--no-range", action="store_true", help="skip the 1024-65535 `sample: all` comparison")
    parser.add_argument("--sweep-hosts", type=int, default=20, metavar="N",
                        help="the sweep workload: N hosts x 1024-65535 `sample: all` against nmap (0: skip)")
    parser.add_argument("--sweep-timeout", type=float, default=0.25, metavar="S",
                        help="the sweep's fixed per-connect timeout, for both tools (a third of its ports are dropped)")
    parser.add_argument("--sweep-in-flight", type=int, default=2048, metavar="N",
                        help="connects in flight in the sweep: the plugin's concurrency (and per host), nmap's --min-parallelism")
    parser.add_argument("--no-xdist", action="store_true", help="skip the pytest-xdist -n 2 runs")
    parser.add_argument("--timeout", type=float, default=300.0, help="kill any single measured command after this")
    parser.add_argument("--no-install", action="store_true", help="only tell what is missing, never apt/pip install")
    parser.add_argument("--keep", action="store_true", help="keep the temp folder (specs, outputs) for inspection")
    parser.add_argument("--clean", action="store_true", help="remove labs left by a killed run, then exit")
    args = parser.parse_args(argv)
    try:
        args.sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    except ValueError:
        parser.error(f"--sizes takes comma-separated numbers, not {args.sizes!r}")
    if unknown := [s for s in args.sizes if s not in specs.SIZES]:
        parser.error(f"unknown size(s) {unknown}; choose from {sorted(specs.SIZES)}")
    if not 0 <= args.sweep_hosts <= 254:
        parser.error("--sweep-hosts takes 0 to 254 hosts")
    return args


def ensure_tools(install: bool) -> None:
    """The bench installs its Debian tools itself, or says exactly what to install."""
    missing = sorted({pkg for tool, pkg in TOOLS.items() if shutil.which(tool) is None})
    if missing and install:
        print(f"installing {' '.join(missing)} with apt-get", flush=True)
        for step in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "-o", "DPkg::Lock::Timeout=300", *missing]):
            subprocess.run(step, check=False, timeout=900, stdout=subprocess.DEVNULL)
        missing = sorted({pkg for tool, pkg in TOOLS.items() if shutil.which(tool) is None})
    if missing:
        sys.exit(f"missing tools; install them with: apt-get install -y {' '.join(missing)}")


def optional(check: list[str], package: str, install: bool) -> bool:
    """A bench-only Python dependency (pytest-xdist, py-spy): present, pip-installed now, or skipped with a note."""
    def present() -> bool:
        try:
            return subprocess.run(check, capture_output=True, timeout=60).returncode == 0
        except OSError:
            return False
    if not present() and install:
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", package], capture_output=True, timeout=600)
    return present()


def evidence_problem(spec: Path, cwd: Path) -> str | None:
    """Whether --activate-evidence is accepted yet (collect-only: no traffic); the usage error if not."""
    done = subprocess.run([*runners.PYTEST, *runners.PLUGIN, "--activate-spec", str(spec), "--activate-role", specs.ROLE, "--collect-only", "-q",
                           f"--activate-evidence={cwd / 'probe-evidence.json'}"], cwd=cwd, capture_output=True, text=True, timeout=120,
                          env=bench_env())
    if done.returncode == 4:  # pytest's ExitCode.USAGE_ERROR
        return (done.stderr.strip().splitlines() or ["usage error"])[-1]
    return None


def snapshot_package(work: Path) -> Path:
    """Measure a frozen copy of the plugin, put first on PYTHONPATH for every run.

    Other engineers edit the shared tree while the bench runs; without the copy
    one bench run could measure several versions of the engine.
    """
    target = work / "snapshot"
    package = shutil.copytree(REPO / "pytest_activate_ports", target / "pytest_activate_ports",
                              ignore=shutil.ignore_patterns("__pycache__"))
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(target), os.environ.get("PYTHONPATH")) if p)
    found = subprocess.run([sys.executable, "-c", "import pytest_activate_ports as p; print(p.__file__)"],
                           env=bench_env(), cwd=work, capture_output=True, text=True, timeout=60).stdout.strip()
    if not found.startswith(str(target)):
        raise RuntimeError(f"the plugin snapshot is not the one imported ({found or 'import failed'})")
    return Path(package)


def interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)  # unwinds into main's finally: the lab is removed


def size_jobs(size: specs.Size, work: Path, evidence: bool, ulimit: int | None, xdist: bool) -> list[Job]:
    """Every tool on one workload; names are the report's row names."""
    folder = work / str(size.checks)
    spec = specs.write_port_spec(size, folder / "spec.yaml")
    tests = specs.write_trivial_tests(size.checks, folder / "trivial")
    opened = size.count("open")
    jobs = [runners.plugin(spec, size.checks, evidence=evidence, expected_accepts=opened), runners.nmap_ports(size),
            runners.trivial(tests, size.checks, junit=False), runners.trivial(tests, size.checks, junit=True),
            runners.floor(specs.write_floor_targets(size, folder / "targets.json"), size)]
    # The same run with probing in a prober process (an execnet channel) instead of a thread of pytest's.
    jobs.append(runners.plugin(spec, size.checks, evidence=evidence, name=f"{PLUGIN} (prober process)",
                               extra=("--activate-prober", "process"), expected_accepts=opened))
    if evidence:  # what the evidence file costs, so its share is visible next to the full run
        jobs.append(runners.plugin(spec, size.checks, evidence=False, name=f"{PLUGIN} (junitxml, no evidence)",
                                   expected_accepts=opened))
    if ulimit is not None:
        jobs.append(runners.plugin(spec, size.checks, evidence=evidence, name=f"{PLUGIN} (ulimit -n {ulimit})",
                                   nofile=ulimit, expected_accepts=opened))
    if xdist and size.checks >= XDIST_FROM:
        jobs.append(runners.plugin(spec, size.checks, evidence=evidence, name=f"{PLUGIN} -n 2", extra=runners.XDIST,
                                   expected_accepts=opened))
        jobs.append(runners.trivial(tests, size.checks, junit=True, extra=runners.XDIST, suffix=" -n 2"))
    return jobs


def run_suite(lab: Lab, suite: Suite, jobs: list[Job], work: Path, repeat: int, timeout: float) -> None:
    """Round-robin over the tools ``repeat`` times; every sample is printed as it lands."""
    for attempt in range(repeat):
        for index, job in enumerate(jobs):
            sample = measure(lab, job, work / "out" / suite.label / f"{index}-{attempt}", work, timeout)
            suite.add(job.name, sample)
            mark = "ok" if sample.verdict.ok else "WRONG"
            print(f"  [{suite.label} #{attempt + 1}] {job.name:<34} {sample.wall:7.2f} s {sample.rss_kb / 1024:6.0f} MB  "
                  f"{mark}: {sample.verdict.summary}", flush=True)


def bench(args: argparse.Namespace, lab: Lab, work: Path) -> int:
    """Measure every workload and write the results; 0 only if every run had the right verdicts."""
    (work / "pytest.ini").write_text("[pytest]\n")  # pin rootdir/ini: no project config leaks into any run
    sizes = [specs.SIZES[s] for s in args.sizes]
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())  # other work on the machine shows up as noise
    info: dict[str, object] = {"date": datetime.datetime.now().isoformat(timespec="seconds"),
                               **report.machine(snapshot_package(work)), "load average at start": load,
                               "lab": "1 client ns, 1 switch ns (bridge), 1 target ns with all host addresses"
                                       + (", 1 sweep target ns" if args.sweep_hosts else "") + ", 198.18.0.0/15"}
    if os.getloadavg()[0] > (os.cpu_count() or 1) / 2:
        print(f"warning: load average {load} on {os.cpu_count()} CPUs: other work will add noise to the timings", flush=True)
    problem = evidence_problem(specs.write_port_spec(sizes[0], work / "probe" / "spec.yaml"), work)
    xdist = not args.no_xdist and optional([sys.executable, "-c", "import xdist"], "pytest-xdist", not args.no_install)
    suites: dict[int, Suite] = {}
    all_jobs = {size.checks: size_jobs(size, work, problem is None, args.ulimit, xdist) for size in sizes}
    warm = all_jobs[sizes[0].checks]
    for job in (warm[0], warm[2]):  # byte-compile and warm the page cache once, unrecorded
        measure(lab, job, work / "out" / "warmup" / job.name.replace(" ", "_"), work, args.timeout)
    for size in sizes:
        suite = suites[size.checks] = Suite(f"{size.hosts} hosts x {size.ports} ports", size.checks)
        if problem:
            suite.notes.append(f"--activate-evidence dropped from the plugin runs: {problem}")
        if not xdist and size.checks >= XDIST_FROM and not args.no_xdist:
            suite.notes.append("pytest-xdist not installable here: -n 2 not measured")
        run_suite(lab, suite, all_jobs[size.checks], work, args.repeat, args.timeout)
    extra: list[Suite] = []
    if not args.no_range:
        ranged = Suite(f"range {specs.RANGE_FIRST}-{specs.RANGE_LAST} sample: all, 1 host", specs.RANGE_LAST - specs.RANGE_FIRST + 1,
                       slug="range")
        spec = specs.write_range_spec(work / "range" / "spec.yaml")
        jobs = [runners.plugin(spec, 1, evidence=problem is None, expected_accepts=len(specs.range_open_ports())), runners.nmap_range()]
        run_suite(lab, ranged, jobs, work, args.repeat, args.timeout)
        extra.append(ranged)
    if lab.sweep is not None and lab.sweep.hosts:
        sweep = lab.sweep
        swept = Suite(f"sweep {sweep.hosts} hosts x {specs.RANGE_FIRST}-{specs.RANGE_LAST} sample: all", sweep.attempts,
                      slug="sweep")
        spec = specs.write_sweep_spec(sweep, work / "sweep" / "spec.yaml")
        jobs = [runners.plugin_sweep(spec, sweep, args.sweep_timeout, args.sweep_in_flight),
                runners.plugin_sweep(spec, sweep, args.sweep_timeout, args.sweep_in_flight, probers=1),
                runners.nmap_sweep(sweep, args.sweep_timeout, args.sweep_in_flight)]
        swept.notes.append(f"both tools: fixed {args.sweep_timeout:g} s timeout per connect, {args.sweep_in_flight} connects "
                           "in flight (plugin --activate-concurrency and --activate-host-concurrency, nmap --min-parallelism)")
        run_suite(lab, swept, jobs, work, args.repeat, args.timeout)
        extra.append(swept)
    RESULTS.mkdir(exist_ok=True)
    if args.profile:
        largest = max(sizes, key=lambda s: s.checks)
        optional(["py-spy", "--version"], "py-spy", not args.no_install)
        text = run_profiles(lab, all_jobs[largest.checks][0], work / "out" / "profile", work, args.timeout)
        (RESULTS / f"profile-{largest.checks // 1000}k.txt").write_text(text + "\n")
    info["finished"] = datetime.datetime.now().isoformat(timespec="seconds")
    info["load average at end"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    write_results(suites, extra, info, args.ulimit)
    return 0 if all(s.ok for suite in [*suites.values(), *extra] for s in suite.series.values()) else 1


def write_results(suites: dict[int, Suite], extra: list[Suite], info: dict[str, object], ulimit: int | None) -> None:
    """``<date>-<size>.json`` per workload, ``<date>-range.json``, ``latest.md``; the markdown is printed too."""
    command = "python bench/run.py " + " ".join(sys.argv[1:])
    day = datetime.date.today().isoformat()
    for checks, suite in suites.items():
        small = suites.get(min(suites))
        growth = report.scaling(small, suite) if small is not None and small is not suite else {}
        report.write_json(RESULTS / f"{day}-{checks}.json", suite, info, {"command": command, f"scaling_from_{min(suites)}": growth})
    for suite in extra:
        report.write_json(RESULTS / f"{day}-{suite.slug}.json", suite, info, {"command": command})
    text = report.markdown(suites, extra, info, ulimit, command)
    (RESULTS / "latest.md").write_text(text)
    print("\n" + text)


def main(argv: list[str]) -> int:
    args = parse(argv)
    if os.geteuid() != 0:
        sys.exit("bench/run.py must run as root: it creates network namespaces, veth links, a bridge and nftables "
                 "rules (try: sudo python bench/run.py ...)")
    if args.clean:
        print("removed:", " ".join(remove_stale()) or "nothing")
        return 0
    ensure_tools(not args.no_install)
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, interrupt)  # SIGINT too: a shell's `cmd &` starts us with SIGINT ignored
    work = Path(tempfile.mkdtemp(prefix="activate-bench-"))
    lab = Lab(max((specs.SIZES[s] for s in args.sizes), key=lambda s: s.checks), work, sweep=specs.Sweep(args.sweep_hosts))
    started = time.monotonic()
    try:
        lab.open()
        print(f"lab up: client {lab.client}, targets {lab.target}; work folder {work}", flush=True)
        return bench(args, lab, work)
    except KeyboardInterrupt as exc:
        print(f"\ninterrupted ({exc or 'SIGINT'}): removing the lab", file=sys.stderr)
        return 130
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, signal.SIG_IGN)  # a second Ctrl-C must not abort the cleanup
        lab.close()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        print(f"lab removed; {time.monotonic() - started:.0f} s in total", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
