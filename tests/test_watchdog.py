"""The deadline watchdog: callbacks at their deadline, never after cancel, no thread when idle."""

from __future__ import annotations

import os
import threading
import time

import pytest

from llmclient.watchdog import Watchdog


def test_callbacks_run_at_their_deadline_in_order_and_cancelled_ones_never() -> None:
    dog = Watchdog()
    fired: list[str] = []
    done = threading.Event()
    now = time.monotonic()
    dog.schedule(now + 0.2, lambda: (fired.append("late"), done.set()))
    cancelled = dog.schedule(now + 0.05, lambda: fired.append("cancelled"))
    dog.schedule(now + 0.1, lambda: fired.append("early"))  # earlier than the heap's top: wakes the thread
    cancelled.cancel()
    assert done.wait(10)
    assert fired == ["early", "late"]
    assert time.monotonic() >= now + 0.2
    dog.settle()


def test_a_raising_callback_does_not_stop_the_watchdog() -> None:
    dog = Watchdog()
    done = threading.Event()
    now = time.monotonic()

    def boom() -> None:
        raise RuntimeError("boom")

    dog.schedule(now, boom)
    dog.schedule(now + 0.01, done.set)
    assert done.wait(10)
    dog.settle()


def test_the_thread_leaves_when_nothing_is_left_to_watch() -> None:
    dog = Watchdog()
    far = dog.schedule(time.monotonic() + 600, lambda: None)
    assert dog._thread is not None and dog._thread.is_alive()
    far.cancel()
    thread = dog._thread
    dog.settle()
    assert not thread.is_alive() and dog._thread is None
    done = threading.Event()
    dog.schedule(time.monotonic(), done.set)  # and comes back when needed
    assert done.wait(10)
    dog.settle()
    assert dog._thread is None


def test_the_thread_stays_between_calls_instead_of_starting_one_per_call() -> None:
    dog = Watchdog()
    for _ in range(200):  # exchanges that end at once, one after the other
        dog.schedule(time.monotonic() + 10, lambda: None).cancel()
    first = dog._thread
    for _ in range(200):
        dog.schedule(time.monotonic() + 10, lambda: None).cancel()
    assert first is not None and dog._thread is first and first.is_alive()
    dog.settle()
    assert not first.is_alive()


def test_settle_does_not_wait_while_a_deadline_is_live() -> None:
    dog = Watchdog()
    live = dog.schedule(time.monotonic() + 600, lambda: None)
    started = time.monotonic()
    dog.settle(timeout=5)
    assert time.monotonic() - started < 1.0
    live.cancel()
    dog.settle()


def test_cancelled_entries_do_not_pile_up() -> None:
    dog = Watchdog()
    keep = dog.schedule(time.monotonic() + 600, lambda: None)
    for _ in range(50_000):  # 600 s deadlines of calls that ended at once
        dog.schedule(time.monotonic() + 600, lambda: None).cancel()
    assert dog.pending() < 3000
    keep.cancel()
    dog.settle()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_gets_a_working_watchdog() -> None:
    from llmclient.watchdog import WATCHDOG

    parents = WATCHDOG.schedule(time.monotonic() + 600, lambda: None)  # the parent's thread is running
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        done = threading.Event()
        WATCHDOG.schedule(time.monotonic(), done.set)
        os._exit(0 if done.wait(10) else 1)
    _, status = os.waitpid(pid, 0)
    parents.cancel()
    WATCHDOG.settle()
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
