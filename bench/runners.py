"""The tools being compared, as :class:`measure.Job` s: their exact command lines and how each is checked.

Every job's verifier compares what the tool reported with what the lab
guarantees (from :mod:`specs`), so a fast but wrong run is marked wrong and
never counts as a win.
"""

from __future__ import annotations

import json
import re
import sys
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

from measure import Job, Raw, Verdict
from specs import RANGE_ADDRESS, RANGE_FIRST, RANGE_LAST, ROLE, Size, Sweep, range_open_ports, sweep_ports

FLOOR = Path(__file__).with_name("floor.py")
PYTEST = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider"]
PLUGIN = ("-p", "pytest_activate_ports.plugin")  # plugin autoloading is off in the bench (see measure.bench_env)
XDIST = ("-p", "xdist.plugin", "-n", "2", "--dist", "loadgroup")  # loadgroup: the plugin keeps a host on one worker
# A fixed, honest 1 s per-probe timeout for nmap: min = max = initial RTT timeout pins nmap's adaptive
# timeout to exactly 1 s, and --max-retries 0 stops it from re-probing silent ports (the plugin does not retry).
NMAP = ["nmap", "-sT", "-Pn", "-n", "--max-retries", "0",
        "--min-rtt-timeout", "1s", "--max-rtt-timeout", "1s", "--initial-rtt-timeout", "1s"]


def _xml(path: Path, what: str) -> ET.Element | Verdict:
    """The parsed report of a run, or the failed verdict that it is missing or broken."""
    try:
        return ET.parse(path).getroot()
    except (OSError, ET.ParseError) as exc:
        return Verdict(False, f"no readable {what}: {exc}")


def junit_verdict(path: Path, expected_passed: int) -> Verdict:
    """All items passed, counted from the JUnit XML itself (not from the exit code)."""
    root = _xml(path, "JUnit XML")
    if isinstance(root, Verdict):
        return root
    counts: Counter[str] = Counter()
    for case in root.iter("testcase"):
        bad = [child.tag for child in case if child.tag in ("failure", "error", "skipped")]
        counts[bad[0] if bad else "passed"] += 1
    summary = ", ".join(f"{n} {k}" for k, n in sorted(counts.items()))
    return Verdict(counts == Counter(passed=expected_passed), summary or "no test cases")


def summary_verdict(stdout: Path, expected_passed: int) -> Verdict:
    """All items passed, from pytest's closing line (used when there is no JUnit XML)."""
    lines = [line for line in stdout.read_text(errors="replace").splitlines() if line.strip()]
    last = lines[-1] if lines else ""
    counts = {word: int(n) for n, word in re.findall(r"(\d+) (passed|failed|errors?|skipped|xfailed|xpassed)", last)}
    return Verdict(counts == {"passed": expected_passed}, last.strip("= ") or "no pytest summary")


def nmap_verdict(path: Path, expected: dict[str, int]) -> Verdict:
    """nmap's own port states (including the collapsed ``extraports``) against the lab's."""
    root = _xml(path, "nmap XML")
    if isinstance(root, Verdict):
        return root
    counts: Counter[str] = Counter()
    for ports in root.iter("ports"):
        for extra in ports.iter("extraports"):
            counts[extra.get("state", "?")] += int(extra.get("count", "0"))
        for port in ports.iter("port"):
            state = port.find("state")
            counts[state.get("state", "?") if state is not None else "?"] += 1
    seen = {k: v for k, v in counts.items() if v}
    want = {k: v for k, v in expected.items() if v}
    return Verdict(seen == want, ", ".join(f"{n} {k}" for k, n in sorted(seen.items())))


def plugin(spec: Path, expected_passed: int, *, evidence: bool, name: str = "plugin", extra: tuple[str, ...] = (),
           nofile: int | None = None, expected_accepts: int | None = None) -> Job:
    """The plugin exactly as a user runs it in CI: JUnit XML and (when supported) the evidence file."""
    def command(out: Path) -> list[str]:
        argv = [*PYTEST, *PLUGIN, "--activate-spec", str(spec), "--activate-role", ROLE, "--activate-timeout", "1",
                f"--junitxml={out / 'junit.xml'}", *extra]
        return argv + ([f"--activate-evidence={out / 'evidence.json'}"] if evidence else [])

    def verify(out: Path, raw: Raw) -> Verdict:
        verdict = junit_verdict(out / "junit.xml", expected_passed)
        if evidence and not (out / "evidence.json").is_file():
            return Verdict(False, f"{verdict.summary}; no evidence file written")
        return verdict
    return Job(name, command, verify, nofile, expected_accepts)


def trivial(tests: Path, count: int, *, junit: bool, extra: tuple[str, ...] = (), suffix: str = "") -> Job:
    """``count`` ``assert True`` items: pytest's own cost per item, with or without the JUnit writer."""
    def command(out: Path) -> list[str]:
        return [*PYTEST, str(tests), *extra] + ([f"--junitxml={out / 'junit.xml'}"] if junit else [])

    def verify(out: Path, raw: Raw) -> Verdict:
        return junit_verdict(out / "junit.xml", count) if junit else summary_verdict(raw.stdout, count)
    name = "trivial pytest" + (" + junitxml" if junit else "") + suffix
    return Job(name, command, verify)


def nmap_ports(size: Size) -> Job:
    """nmap over the same hosts and ports as the spec, same fixed timeout."""
    addresses = size.addresses()
    first, last = addresses[0], addresses[-1].rsplit(".", 1)[1]
    ports = size.port_numbers()
    expected = {"open": size.count("open"), "closed": size.count("refused"), "filtered": size.count("dropped")}
    return Job("nmap", lambda out: [*NMAP, "-p", f"{ports[0]}-{ports[-1]}", "-oX", str(out / "nmap.xml"), f"{first}-{last}"],
               lambda out, raw: nmap_verdict(out / "nmap.xml", expected), expected_accepts=size.count("open"))


def nmap_range() -> Job:
    """nmap over the range rule's ports on the range host."""
    opened = len(range_open_ports())
    expected = {"open": opened, "closed": RANGE_LAST - RANGE_FIRST + 1 - opened}
    return Job("nmap", lambda out: [*NMAP, "-p", f"{RANGE_FIRST}-{RANGE_LAST}", "-oX", str(out / "nmap.xml"), RANGE_ADDRESS],
               lambda out, raw: nmap_verdict(out / "nmap.xml", expected), expected_accepts=opened)


def named_ports(message: str, state: str) -> set[int]:
    """The ports a range verdict names for ``state``: the runs after ``state: `` or ``accepted (``, up to the next ; or )."""
    return {port for runs in re.findall(rf"(?:{state}: |accepted \()([\d,-]+)", message) for port in _ports(runs)}


def sweep_verdict(out: Path, sweep: Sweep) -> Verdict:
    """Every sweep item failed, and its verdict and evidence name exactly the ports the lab breaks the rule on."""
    try:
        records = {r["host"]: r for r in json.loads((out / "evidence.json").read_text())["records"]}
    except (OSError, ValueError, KeyError) as exc:
        return Verdict(False, f"no readable evidence: {exc}")
    wrong = []
    for index, name in enumerate(sweep.names()):
        state, expected = sweep.offending(index)
        record = records.get(name)
        if record is None or record["outcome"] != "failed":
            wrong.append(f"{name}: {record['outcome'] if record else 'missing'}")
            continue
        named = named_ports(record["message"], state)
        kept = {port for offence in record["range"]["offending"] if offence["state"] == state
                for port in _ports(offence["ports"])}
        if named != set(expected) or kept != set(expected):
            wrong.append(f"{name}: {len(named)} {state} ports named, {len(kept)} kept, {len(expected)} expected")
    summary = f"{sweep.hosts} failed as they must, every offending port named" if not wrong else "; ".join(wrong[:3])
    return Verdict(not wrong, summary)


def _ports(runs: str) -> list[int]:
    """``1024,1027-1030`` as ports (the runs evidence and verdicts write)."""
    ports: list[int] = []
    for run in runs.split(","):
        first, _, last = run.partition("-")
        ports += range(int(first), int(last or first) + 1)
    return ports


def plugin_sweep(spec: Path, sweep: Sweep, timeout: float, in_flight: int, probers: int | None = None) -> Job:
    """The plugin on the sweep: JUnit and evidence, judged by the ports each failure names.

    ``in_flight`` connects at once in all, and as many on one host (nmap has no per-host limit either);
    ``probers`` pins ``--activate-probers`` (default: auto, one prober process per core for a sweep).
    """
    def command(out: Path) -> list[str]:
        return [*PYTEST, *PLUGIN, "--activate-spec", str(spec), "--activate-role", ROLE, "--activate-timeout", f"{timeout:g}",
                "--activate-concurrency", str(in_flight), "--activate-host-concurrency", str(in_flight),
                *(("--activate-probers", str(probers)) if probers else ()),
                f"--junitxml={out / 'junit.xml'}", f"--activate-evidence={out / 'evidence.json'}", "-q"]

    def verify(out: Path, raw: Raw) -> Verdict:
        junit = junit_verdict(out / "junit.xml", 0)
        if junit.summary != f"{sweep.hosts} failure":
            return Verdict(False, f"JUnit: {junit.summary}")
        return sweep_verdict(out, sweep)
    name = "plugin" if probers is None else f"plugin, {probers} prober process{'es' if probers > 1 else ''}"
    return Job(name, command, verify, expected_accepts=sweep.hosts * len(sweep_ports("open")))


def nmap_sweep(sweep: Sweep, timeout: float, in_flight: int) -> Job:
    """nmap over the same hosts and ports, the same fixed timeout and at least the same connects in flight."""
    count = {state: sweep.hosts * len(sweep_ports(state)) for state in ("open", "refused", "dropped")}
    expected = {"open": count["open"], "closed": count["refused"], "filtered": count["dropped"]}
    last = sweep.addresses()[-1].rsplit(".", 1)[1]
    fixed = [f"{int(timeout * 1000)}ms" if arg == "1s" else arg for arg in NMAP]
    return Job("nmap", lambda out: [*fixed, "--min-parallelism", str(in_flight), "-p", f"{RANGE_FIRST}-{RANGE_LAST}",
                                    "-oX", str(out / "nmap.xml"), f"{sweep.addresses()[0]}-{last}"],
               lambda out, raw: nmap_verdict(out / "nmap.xml", expected), expected_accepts=count["open"])


def floor(targets: Path, size: Size) -> Job:
    """The bare asyncio connect loop (512 in flight)."""
    expected = {"open": size.count("open"), "refused": size.count("refused"), "dropped": size.count("dropped")}

    def verify(out: Path, raw: Raw) -> Verdict:
        try:
            seen = json.loads((out / "floor.json").read_text())
        except (OSError, ValueError) as exc:
            return Verdict(False, f"no floor result: {exc}")
        return Verdict(seen == expected, ", ".join(f"{n} {k}" for k, n in sorted(seen.items())))
    return Job("asyncio floor (512 in flight)", lambda out: [sys.executable, str(FLOOR), str(targets), str(out / "floor.json")],
               verify, expected_accepts=size.count("open"))
