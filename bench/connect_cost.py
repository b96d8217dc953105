"""What one connection attempt costs the prober: a 1024-65535 sweep of 127.0.0.1 through the engine alone.

Loopback answers a closed port with a RST at once, so the network costs
nothing and what is left is the prober's own work per attempt: Python time
(``--profile``: cProfile's top functions) and system calls (run it under
``strace -c -f``). No pytest, no channel: the engine in this process, as the
prober process runs it.

    python bench/connect_cost.py [--repeat 3] [--profile]
    strace -c -f -o syscalls.txt python bench/connect_cost.py --repeat 1
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pytest_activate_ports.prober.engine import Engine, default_concurrency  # type: ignore[import-not-found]  # noqa: E402
from pytest_activate_ports.prober.probes.registry import build  # type: ignore[import-not-found]  # noqa: E402
from pytest_activate_ports.results import Job, PortSet, PortState, ProbeResult, RangeSummary, TlsConfig  # type: ignore[import-not-found]  # noqa: E402

PORTS = PortSet.parse("1024-65535")
OFFENDS = frozenset({PortState.FILTERED, PortState.UNREACHABLE, PortState.UNRESOLVABLE, PortState.ERROR})


class Done:
    """The engine's observer: waits for the one job."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self.results: tuple[ProbeResult, ...] = ()

    def finished(self, job: Job, results: tuple[ProbeResult, ...], alive: bool | None) -> None:
        self.results = results
        self.event.set()

    def stopped(self, reason: str) -> None:
        self.event.set()


def sweep(timeout: float, concurrency: int) -> tuple[float, float, RangeSummary]:
    """One sweep of 127.0.0.1:1024-65535 (a required range: every port must answer): wall and CPU seconds, the summary."""
    done = Done()
    job = Job(0, "lo", "127.0.0.1", PORTS, {}, build("tcp", {}, TlsConfig()), OFFENDS)
    engine = Engine([job], timeout, concurrency, concurrency, done)
    started, cpu = time.perf_counter(), time.process_time()
    engine.start()
    done.event.wait()
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    engine.close()
    assert isinstance(done.results, RangeSummary), done.results
    return wall, cpu, done.results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=1.0)
    parser.add_argument("--concurrency", type=int, default=default_concurrency())
    parser.add_argument("--profile", action="store_true", help="print cProfile's top 25 functions (engine thread)")
    args = parser.parse_args(argv)
    walls, cpus = [], []
    for _ in range(args.repeat):
        if args.profile:
            threading.setprofile(None)
            profile = cProfile.Profile()
            threading.setprofile(lambda *_: profile.enable())  # the engine's thread is where attempts are made
            wall, cpu, summary = sweep(args.timeout, args.concurrency)
            threading.setprofile(None)
            profile.disable()
            out = io.StringIO()
            pstats.Stats(profile, stream=out).sort_stats("tottime").print_stats(25)
            print(out.getvalue())
        else:
            wall, cpu, summary = sweep(args.timeout, args.concurrency)
        walls.append(wall)
        cpus.append(cpu)
        counts = ", ".join(f"{state.value} {n}" for state, n in summary.counts.items())
        print(f"{summary.attempts} attempts in {wall:.2f} s wall, {cpu:.2f} s CPU: {cpu / summary.attempts * 1e6:.1f} us CPU "
              f"each ({counts})")
    wall, cpu = sorted(walls)[len(walls) // 2], sorted(cpus)[len(cpus) // 2]
    print(f"median {wall:.2f} s wall, {cpu:.2f} s CPU: {cpu / len(PORTS) * 1e6:.1f} us CPU per attempt")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
