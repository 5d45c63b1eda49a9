"""RateLimiter: token buckets for requests and tokens per minute, driven by an injected clock."""

from __future__ import annotations

import threading

import pytest

from llmclient.ratelimit import RateLimiter


class FakeTime:
    """A clock that only moves when ``wait`` is called; records every wait."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.waits: list[float] = []
        self.lock = threading.Lock()

    def clock(self) -> float:
        with self.lock:
            return self.now

    def wait(self, seconds: float) -> None:
        assert seconds > 0
        with self.lock:
            self.waits.append(seconds)
            self.now += seconds


def test_requests_per_minute_allows_a_burst_then_spaces_requests() -> None:
    t = FakeTime()
    limiter = RateLimiter(requests_per_minute=60, clock=t.clock)
    for _ in range(60):
        limiter.acquire(wait=t.wait)
    assert t.waits == []  # a full minute's burst
    limiter.acquire(wait=t.wait)
    assert t.waits == [pytest.approx(1.0)]  # then one per second
    limiter.acquire(wait=t.wait)
    assert sum(t.waits) == pytest.approx(2.0)


def test_refill_is_continuous_and_capped_at_one_minute() -> None:
    t = FakeTime()
    limiter = RateLimiter(requests_per_minute=120, clock=t.clock)
    for _ in range(120):
        limiter.acquire(wait=t.wait)
    t.now += 3600  # an idle hour does not bank more than a minute
    for _ in range(120):
        limiter.acquire(wait=t.wait)
    assert t.waits == []
    limiter.acquire(wait=t.wait)
    assert sum(t.waits) == pytest.approx(0.5)


def test_tokens_per_minute_waits_for_the_estimate() -> None:
    t = FakeTime()
    limiter = RateLimiter(tokens_per_minute=600, clock=t.clock)  # 10 tokens/s
    limiter.acquire(500, wait=t.wait)
    limiter.acquire(100, wait=t.wait)
    assert t.waits == []
    limiter.acquire(50, wait=t.wait)
    assert sum(t.waits) == pytest.approx(5.0)


def test_record_settles_the_estimate_both_ways() -> None:
    t = FakeTime()
    limiter = RateLimiter(tokens_per_minute=600, clock=t.clock)
    limiter.acquire(600, wait=t.wait)
    limiter.record(100, estimate=600)  # used far less: 500 come back
    limiter.acquire(500, wait=t.wait)
    assert t.waits == []
    limiter.record(800, estimate=500)  # used more: the budget goes 300 below zero
    limiter.acquire(10, wait=t.wait)
    assert sum(t.waits) == pytest.approx(31.0)  # (300 + 10) / 10 per second


def test_record_without_an_estimate_charges_actual_usage() -> None:
    t = FakeTime()
    limiter = RateLimiter(tokens_per_minute=60, clock=t.clock)  # 1 token/s
    limiter.acquire(wait=t.wait)
    limiter.record(90)  # 60 - 90 = -30
    limiter.acquire(1, wait=t.wait)
    assert sum(t.waits) == pytest.approx(31.0)


def test_a_request_larger_than_the_budget_waits_for_a_full_bucket_then_goes() -> None:
    t = FakeTime()
    limiter = RateLimiter(tokens_per_minute=60, clock=t.clock)
    limiter.acquire(30, wait=t.wait)
    limiter.acquire(10_000, wait=t.wait)
    assert sum(t.waits) == pytest.approx(30.0)


def test_both_limits_wait_for_the_tighter() -> None:
    t = FakeTime()
    limiter = RateLimiter(requests_per_minute=6000, tokens_per_minute=60, clock=t.clock)
    limiter.acquire(60, wait=t.wait)
    limiter.acquire(6, wait=t.wait)
    assert sum(t.waits) == pytest.approx(6.0)


def test_penalize_pauses_every_acquire_until_the_hint_passes() -> None:
    t = FakeTime()
    limiter = RateLimiter(requests_per_minute=600, clock=t.clock)
    limiter.penalize(7.5)
    limiter.penalize(2.0)  # a shorter pause does not shorten the longer one
    limiter.penalize(0)
    limiter.acquire(wait=t.wait)
    assert sum(t.waits) == pytest.approx(7.5)
    limiter.acquire(wait=t.wait)
    assert sum(t.waits) == pytest.approx(7.5)


def test_no_limits_never_waits_but_honours_penalize() -> None:
    t = FakeTime()
    limiter = RateLimiter(clock=t.clock)
    for _ in range(1000):
        limiter.acquire(10**6, wait=t.wait)
    assert t.waits == []
    limiter.penalize(3)
    limiter.acquire(wait=t.wait)
    assert t.waits == [pytest.approx(3.0)]


def test_a_wait_that_raises_abandons_the_acquisition_and_takes_nothing() -> None:
    t = FakeTime()
    limiter = RateLimiter(requests_per_minute=1, clock=t.clock)
    limiter.acquire(wait=t.wait)

    class Stop(Exception):
        pass

    def give_up(seconds: float) -> None:
        raise Stop

    with pytest.raises(Stop):
        limiter.acquire(wait=give_up)
    t.now += 60
    limiter.acquire(wait=t.wait)
    assert t.waits == []


def test_a_wait_that_returns_early_is_checked_again() -> None:
    t = FakeTime()
    limiter = RateLimiter(requests_per_minute=60, clock=t.clock)
    for _ in range(60):
        limiter.acquire(wait=t.wait)
    calls: list[float] = []

    def spurious_then_full(seconds: float) -> None:
        calls.append(seconds)
        if len(calls) > 1:
            t.now += seconds

    limiter.acquire(wait=spurious_then_full)
    assert calls == [pytest.approx(1.0), pytest.approx(1.0)]
    assert t.now - 1000.0 == pytest.approx(1.0)


def test_thread_safe_no_more_grants_than_the_budget() -> None:
    t = FakeTime()
    limiter = RateLimiter(requests_per_minute=100, tokens_per_minute=10**9, clock=t.clock)
    granted: list[int] = []
    lock = threading.Lock()

    def refuse(seconds: float) -> None:
        raise TimeoutError

    def worker() -> None:
        for _ in range(50):
            try:
                limiter.acquire(1, wait=refuse)
            except TimeoutError:
                continue
            with lock:
                granted.append(1)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(granted) == 100  # the clock never moved: exactly the burst, shared by all threads


@pytest.mark.parametrize("bad", [0, -5])
def test_limits_must_be_positive(bad: int) -> None:
    with pytest.raises(ValueError):
        RateLimiter(requests_per_minute=bad)
    with pytest.raises(ValueError):
        RateLimiter(tokens_per_minute=bad)


def test_repr_names_the_limits() -> None:
    assert "requests_per_minute=5" in repr(RateLimiter(requests_per_minute=5))
