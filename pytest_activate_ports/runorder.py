"""pytest's run loop, with port checks run in the order their results arrive.

pytest runs items in collection order, so one dropped port near the front
holds the loop for a whole timeout while hundreds of items behind it, whose
results are long in, wait. Here a run of consecutive port-check items of one
spec file keeps collection order while results keep up (``PATIENCE``), then is
played in the order the engine finishes them (collection order among those
already finished); any other test keeps its place, so user tests and their
fixtures see pytest's usual order. Reports, JUnit and evidence still name
every item; the evidence file and the terminal matrix stay in spec order.

The loop is pytest's own (``_pytest.main.pytest_runtestloop``) otherwise:
collection errors stop it, ``--collect-only`` runs nothing, ``-x`` and
``--maxfail`` stop it after the item that hit them.
"""

from __future__ import annotations

import heapq
import time
from typing import Callable, Iterator, Sequence

import pytest

from .distribute import is_worker
from .items import PortCheckItem
from .outcomes import Outcomes
from .run import RUN

PATIENCE = 0.2  # seconds of keeping collection order while the next result is not in (less for short timeouts)
READY = -2  # the key of a port check that waits for no job (not applicable): it may run at any time
KeyOf = Callable[[pytest.Item], "int | None"]  # the job key an item waits for (or READY); None: not a port check


def run(session: pytest.Session, outcomes: Outcomes, key_of: KeyOf, patience: float) -> bool:
    """Run ``session.items`` as pytest's default run loop does, port checks by arrival after ``patience`` seconds."""
    if session.testsfailed and not session.config.option.continue_on_collection_errors:
        raise session.Interrupted(
            f"{session.testsfailed} error{'s' if session.testsfailed != 1 else ''} during collection")
    if session.config.option.collectonly:
        return True
    patient_until = time.monotonic() + patience
    blocks = _blocks(session.items, key_of)
    for index, block in enumerate(blocks):
        following = blocks[index + 1][0] if index + 1 < len(blocks) else None
        arrivals = Arrivals(block, outcomes, key_of, patient_until) if key_of(block[0]) is not None else None
        for item in arrivals or block:
            # pytest tears down by the next item's chain; any item left in this block shares this
            # item's parent, so the next one need not be chosen (and waited for) before this one runs.
            nextitem = (arrivals.any_left() if arrivals else None) or following
            item.config.hook.pytest_runtest_protocol(item=item, nextitem=nextitem)
            if session.shouldfail:
                raise session.Failed(session.shouldfail)
            if session.shouldstop:
                raise session.Interrupted(session.shouldstop)
    return True


def _blocks(items: Sequence[pytest.Item], key_of: KeyOf) -> list[list[pytest.Item]]:
    """Runs of consecutive port checks of one spec file; every other test a block of its own."""
    blocks: list[list[pytest.Item]] = []
    for item in items:
        port_check = key_of(item) is not None
        if blocks and port_check and key_of(blocks[-1][0]) is not None and blocks[-1][0].parent is item.parent:
            blocks[-1].append(item)
        else:
            blocks.append([item])
    return blocks


class Arrivals:
    """A block's port checks in collection order while their results keep up, then as their results arrive.

    Until ``patient_until`` the next item in collection order is waited for, so a run whose results
    all come quickly keeps pytest's order; after it, whichever item's result is in runs, the first in
    collection order among those.
    """

    def __init__(self, items: Sequence[pytest.Item], outcomes: Outcomes, key_of: KeyOf, patient_until: float) -> None:
        self._items = items
        self._outcomes = outcomes
        self._patient_until = patient_until
        self._keys = [key for key in map(key_of, items) if key is not None]
        assert len(self._keys) == len(items), "a block holds port checks only"
        self._waiting: dict[int, list[int]] = {}  # job key -> positions of the items waiting for it
        self._ready: list[int] = []  # a heap of positions whose results are in (appended in order: a heap already)
        for position, key in enumerate(self._keys):
            if key == READY or outcomes.done(key):
                self._ready.append(position)
            else:
                self._waiting.setdefault(key, []).append(position)
        self._head = 0  # the first position still waiting for its result (found lazily)

    def __iter__(self) -> Iterator[pytest.Item]:
        while self._ready or self._waiting:
            self._take(self._outcomes.drain(block=False))
            while self._head < len(self._items) and self._keys[self._head] not in self._waiting:
                self._head += 1
            head_first = self._head < len(self._items) and (not self._ready or self._ready[0] > self._head)
            if head_first and time.monotonic() < self._patient_until:
                if self._outcomes.settle(self._keys[self._head], self._patient_until):
                    continue
            while not self._ready:  # what arrives may belong to later blocks: wait for one of ours
                fresh = self._outcomes.drain()
                self._take(fresh or list(self._waiting))  # nothing: probing stopped, the rest reports that
            yield self._items[heapq.heappop(self._ready)]

    def any_left(self) -> pytest.Item | None:
        """An item of this block not run yet (they all share one parent), without waiting for any."""
        if self._ready:
            return self._items[self._ready[0]]
        return next((self._items[positions[0]] for positions in self._waiting.values()), None)

    def _take(self, fresh: list[int]) -> None:
        for key in fresh:
            for position in self._waiting.pop(key, ()):
                heapq.heappush(self._ready, position)


@pytest.hookimpl(tryfirst=True)
def pytest_runtestloop(session: pytest.Session) -> bool | None:
    """Take over pytest's loop while this process probes (pytest-xdist workers keep their own)."""
    probing = session.config.stash[RUN].probing
    if probing is None or is_worker(session.config):
        return None

    def key_of(item: pytest.Item) -> int | None:
        if not isinstance(item, PortCheckItem):
            return None
        return probing.key(item.check) if probing.probed(item.check) else READY

    return run(session, probing.outcomes, key_of, min(probing.timeout / 2, PATIENCE))
