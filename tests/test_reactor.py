"""The engine's reactor: timers in order, cancelled timers forgotten at once, wake-ups from other threads."""

from __future__ import annotations

import gc
import threading
import time
import tracemalloc
import weakref

from pytest_activate_ports.prober.reactor import Reactor


def test_reactor_runs_timers_in_deadline_order() -> None:
    reactor = Reactor()
    fired: list[str] = []
    try:
        reactor.call_later(0.03, reactor.stop)
        for name, delay in [("late", 0.02), ("soon", 0.0), ("middle", 0.01), ("soon-too", 0.0)]:
            reactor.call_later(delay, lambda name=name: fired.append(name))  # type: ignore[misc]
        reactor.run()
    finally:
        reactor.close()
    assert fired == ["soon", "soon-too", "middle", "late"]


def test_reactor_cancelled_timer_never_fires_and_lets_go_of_its_callback() -> None:
    """An attempt that finished early must not be kept alive by its deadline until the deadline passes."""
    class Attempt:
        fired = False

        def expire(self) -> None:
            self.fired = True

    reactor = Reactor()
    attempt = Attempt()
    alive = weakref.ref(attempt)
    try:
        reactor.cancel(reactor.call_later(0.0, attempt.expire))
        del attempt
        gc.collect()
        assert alive() is None
        reactor.call_later(0.01, reactor.stop)
        reactor.run()
    finally:
        reactor.close()


def test_reactor_memory_stays_flat_over_many_cancelled_timers() -> None:
    """A range scan cancels a deadline per port: 200,000 of them must not pile up in the timer heap."""
    reactor = Reactor()
    tracemalloc.start()
    try:
        for _ in range(2_000):
            reactor.cancel(reactor.call_later(60, reactor.stop))
        before, _ = tracemalloc.get_traced_memory()
        for _ in range(200_000):
            reactor.cancel(reactor.call_later(60, reactor.stop))
        after, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        reactor.close()
    assert after - before < 200_000  # bytes: what 200,000 kept timers would cost a hundred times over


def test_reactor_wakes_from_another_thread_while_it_waits_without_a_timer() -> None:
    reactor = Reactor()
    thread = threading.Thread(target=reactor.run, daemon=True)
    thread.start()
    time.sleep(0.1)  # let it block in select() with nothing to wait for
    reactor.call_soon_threadsafe(reactor.stop)
    thread.join(timeout=10)
    assert not thread.is_alive(), "the reactor slept through a call from another thread"
    reactor.close()
