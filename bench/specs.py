"""The benchmark's workload: which hosts and ports exist, what state each port is in, and the files that ask for them.

One module owns the port layout so the lab (which makes ports open, refused
or dropped) and the specs (which expect them so) can never disagree: a fast
run against a lab that does not match its spec would be a meaningless number.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

State = Literal["open", "refused", "dropped"]

BASE_PORT = 20000
CLIENT_ADDRESS = "198.18.0.1"
RANGE_ADDRESS = "198.18.2.1"
RANGE_FIRST, RANGE_LAST = 1024, 65535
SWEEP_NET = "198.18.3"  # the sweep's hosts: addresses of a target namespace of their own (see lab.Lab)
PREFIX_LEN = 15  # 198.18.0.0/15 (RFC 2544 benchmarking block): the lab never uses another address
ROLE = "internet"


@dataclass(frozen=True)
class Size:
    """A workload: ``hosts`` x ``ports`` checks, ports split evenly over the three states."""

    hosts: int
    ports: int

    @property
    def checks(self) -> int:
        return self.hosts * self.ports

    def addresses(self) -> list[str]:
        return [target_address(i) for i in range(self.hosts)]

    def port_numbers(self) -> list[int]:
        return list(range(BASE_PORT, BASE_PORT + self.ports))

    def count(self, state: State) -> int:
        """How many of this workload's checks hit a port in ``state``."""
        return self.hosts * sum(1 for p in self.port_numbers() if state_of(p) == state)


SIZES = {20: Size(2, 10), 1000: Size(10, 100), 10000: Size(50, 200)}


def target_address(index: int) -> str:
    """Host ``index`` (0-based) of the lab: 198.18.1.1, 198.18.1.2, ..."""
    if not 0 <= index < 254:
        raise ValueError("the lab has at most 254 target hosts")
    return f"198.18.1.{index + 1}"


def state_of(port: int) -> State:
    """Interleaved thirds, so every host and every slice of the port list mixes all three states."""
    return ("open", "refused", "dropped")[(port - BASE_PORT) % 3]


def sweep_address(index: int) -> str:
    """Sweep host ``index`` (0-based): 198.18.3.1, 198.18.3.2, ..."""
    if not 0 <= index < 254:
        raise ValueError("the lab has at most 254 sweep hosts")
    return f"{SWEEP_NET}.{index + 1}"


def sweep_ports(state: State) -> list[int]:
    """The ports of 1024-65535 in ``state`` on every sweep host (the same interleaved thirds as the port workloads)."""
    return [port for port in range(RANGE_FIRST, RANGE_LAST + 1) if state_of(port) == state]


@dataclass(frozen=True)
class Sweep:
    """``hosts`` x 1024-65535 ``sample: all``: the first half must show nothing open, the second half must answer.

    Neither holds in the lab, on purpose: a forbidden sweep's verdict must name
    every open port (a third of the range), a required sweep's every dropped one.
    """

    hosts: int

    def addresses(self) -> list[str]:
        return [sweep_address(i) for i in range(self.hosts)]

    def names(self) -> list[str]:
        return [f"s{i + 1:03d}" for i in range(self.hosts)]

    def expectation(self, index: int) -> str:
        return "forbidden" if index < (self.hosts + 1) // 2 else "required"

    def offending(self, index: int) -> tuple[str, list[int]]:
        """The state the verdict of host ``index`` must report and every port it must name."""
        return ("open", sweep_ports("open")) if self.expectation(index) == "forbidden" else ("filtered", sweep_ports("dropped"))

    @property
    def attempts(self) -> int:
        return self.hosts * (RANGE_LAST - RANGE_FIRST + 1)


def write_sweep_spec(sweep: Sweep, path: Path) -> Path:
    """Two ``sample: all`` range rules over the sweep hosts, one forbidden (default deny), one required (srun)."""
    hosts = {name: {"address": address, "roles": [sweep.expectation(i)]}
             for i, (name, address) in enumerate(zip(sweep.names(), sweep.addresses()))}
    rules = [{"id": f"sweep-{expect}", "from": ROLE, "to": expect, "range": f"{RANGE_FIRST}-{RANGE_LAST}", "sample": "all",
              "expect": expect, "probe": "tcp"} for expect in ("forbidden", "required")
             if any(sweep.expectation(i) == expect for i in range(sweep.hosts))]
    return _write(path, {"version": 1, "name": f"bench-sweep-{sweep.hosts}", "hosts": hosts, "rules": rules})


def range_open_ports() -> list[int]:
    """Listeners on the range host: both boundaries and every 1000th port; the rest answer RST."""
    return sorted({RANGE_FIRST, RANGE_LAST, *range(2000, RANGE_LAST, 1000)})


def write_port_spec(size: Size, path: Path) -> Path:
    """A spec with one ``ports:`` rule per state; forbidden rules demand the exact closed state.

    ``state: refused`` / ``state: filtered`` make the plugin prove *how* each
    port is closed, so a run that mislabels states fails instead of passing.
    The file is JSON, which is YAML, so no YAML writer is needed.
    """
    by_state: dict[State, list[int]] = {"open": [], "refused": [], "dropped": []}
    for port in size.port_numbers():
        by_state[state_of(port)].append(port)
    hosts = {f"h{i + 1:03d}": {"address": address, "roles": ["target"]} for i, address in enumerate(size.addresses())}
    rules = [
        {"id": "open", "from": ROLE, "to": "target", "ports": by_state["open"], "expect": "required", "probe": "tcp"},
        {"id": "refused", "from": ROLE, "to": "target", "ports": by_state["refused"], "expect": "forbidden", "state": "refused"},
        {"id": "dropped", "from": ROLE, "to": "target", "ports": by_state["dropped"], "expect": "forbidden", "state": "filtered"},
    ]
    return _write(path, {"version": 1, "name": f"bench-{size.checks}", "hosts": hosts, "rules": rules})


def write_range_spec(path: Path) -> Path:
    """One ``sample: all`` range rule on one host: every port of 1024-65535 must answer (accept or RST)."""
    rule = {"id": "range", "from": ROLE, "to": "r", "range": f"{RANGE_FIRST}-{RANGE_LAST}", "sample": "all",
            "expect": "required", "probe": "tcp"}
    return _write(path, {"version": 1, "name": "bench-range", "hosts": {"r": {"address": RANGE_ADDRESS}}, "rules": [rule]})


def write_trivial_tests(count: int, folder: Path) -> Path:
    """``count`` parametrized ``assert True`` items: pytest's own per-item cost, nothing else."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "test_trivial.py"
    path.write_text(
        "import pytest\n\n\n"
        f"@pytest.mark.parametrize('i', range({count}))\n"
        "def test_item(i):\n"
        "    assert True\n"
    )
    return path


def write_floor_targets(size: Size, path: Path) -> Path:
    """The (address, port) list the asyncio floor connects to, host by host."""
    targets = [[address, port] for address in size.addresses() for port in size.port_numbers()]
    return _write(path, {"targets": targets})


def _write(path: Path, document: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=1))
    return path
