"""pytest-xdist: which worker runs which checks, and how the controller tells our items apart.

A host's checks must stay on one worker: liveness is judged per host, and a
port dialled by two workers is dialled twice. pytest-xdist's ``loadgroup``
keys on an ``@group`` suffix in node ids, which would make ids, JUnit names
and ``--lf`` entries differ between runs with and without ``-n``; instead the
controller gets a scheduler that asks :class:`NodeIndex` for a check's group,
so node ids stay ``spec.yaml::<rule-id>[<host>:<port>]`` everywhere.
"""

from __future__ import annotations

import zlib
from pathlib import Path
from typing import Any

import pytest

from .checks import Check
from .run import RUN, ActivateRun


def xdist_workers(config: pytest.Config) -> int | None:
    """The number of pytest-xdist workers when this process is one of them, else None."""
    workerinput = getattr(config, "workerinput", None)
    return int(workerinput["workercount"]) if workerinput else None


def xdist_group(check: Check, workers: int) -> str:
    """The pytest-xdist group of a check: its host's, folded into one group per worker.

    A host never spans two workers (liveness is judged per host), and with one
    group per worker a worker that learns its first item can probe all of its
    hosts at once instead of one group after another.
    """
    return f"activate-{zlib.crc32(f'{check.host.name}@{check.host.address}'.encode()) % workers}"


class NodeIndex:
    """Node id -> check, for a process that did not collect the items (the xdist controller).

    The controller loaded and planned the same specs as its workers; a node id
    names its spec file relative to the root directory and the check by name.
    """

    def __init__(self, run: ActivateRun, rootpath: Path) -> None:
        self._rootpath = rootpath
        self._checks = {(path.resolve(), check.name): check for path, plan in run.plans.items() for check in plan.checks}
        self._files: dict[str, Path] = {}

    def check(self, nodeid: str) -> Check | None:
        """The check a port-check item's node id stands for, None for any other test."""
        file, sep, name = nodeid.partition("::")
        if not sep:
            return None
        if file not in self._files:
            self._files[file] = (self._rootpath / file).resolve()
        return self._checks.get((self._files[file], name))


def scheduler(config: pytest.Config, log: Any) -> Any:
    """pytest-xdist's scheduler for this run: under ``--dist loadgroup``, one that keeps each host's checks on one worker."""
    run = config.stash[RUN]
    if config.getvalue("dist") != "loadgroup" or not run.plans:
        return None
    from xdist.scheduler import LoadGroupScheduling  # type: ignore[import-untyped]  # only an xdist controller gets here

    class HostGroupScheduling(LoadGroupScheduling):  # type: ignore[misc]  # pytest-xdist ships no type hints
        """``--dist loadgroup`` with port checks grouped by host, other tests as pytest-xdist groups them."""

        index = NodeIndex(run, config.rootpath)

        def _split_scope(self, nodeid: str) -> str:
            check = self.index.check(nodeid)
            scope: str = xdist_group(check, self.numnodes) if check is not None else super()._split_scope(nodeid)
            return scope

    return HostGroupScheduling(config, log)


def is_worker(config: pytest.Config) -> bool:
    """True in a pytest-xdist worker: it reports to a controller and writes no files of its own."""
    return xdist_workers(config) is not None
