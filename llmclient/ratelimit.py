"""RateLimiter: client-side requests-per-minute and tokens-per-minute limits, as token buckets.

A provider enforces its own limits and answers 429 when they are passed; a client that
keeps under them wastes no calls on refusals. One :class:`RateLimiter` holds two buckets
(requests and tokens), each refilled continuously at its per-minute rate and holding at most
one minute's worth (it starts full). Callers :meth:`~RateLimiter.acquire` before sending,
:meth:`~RateLimiter.record` the tokens actually used once the answer is back, and
:meth:`~RateLimiter.penalize` when the provider said "retry after N seconds".

The limiter never sleeps by itself: ``acquire`` waits through the function it is given,
so that a caller can cut the wait short (by raising from it) and tests can use a fake clock.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

__all__ = ["RateLimiter"]


class _Bucket:
    """One token bucket: ``capacity`` tokens, refilled at ``capacity`` per minute."""

    __slots__ = ("capacity", "rate", "level", "stamp")

    def __init__(self, per_minute: float, now: float) -> None:
        self.capacity = float(per_minute)
        self.rate = self.capacity / 60.0
        self.level = self.capacity
        self.stamp = now

    def refill(self, now: float) -> None:
        if now > self.stamp:
            self.level = min(self.capacity, self.level + (now - self.stamp) * self.rate)
        self.stamp = now

    def delay_for(self, amount: float) -> float:
        """Seconds until ``amount`` fits (a request larger than the bucket waits for a full bucket)."""
        need = min(amount, self.capacity)
        return 0.0 if self.level >= need else (need - self.level) / self.rate


class RateLimiter:
    """Thread-safe request and token budgets per minute, shared by every thread that sends.

    Use one limiter per provider account (or per client) and share it between threads.
    A limit left at None is not enforced; a limiter with neither limit never waits (but
    still honours :meth:`penalize`).

    Args:
        requests_per_minute: At most this many requests per rolling minute (bursts up to it).
        tokens_per_minute: At most this many tokens (prompt + completion) per rolling minute.
        clock: A monotonic clock in seconds (inject a fake one in tests).

    Raises:
        ValueError: A limit that is not positive.

    Example::

        limiter = RateLimiter(requests_per_minute=500, tokens_per_minute=90_000)
        limiter.acquire(estimate, wait=runtime.sleep)    # before sending
        ...
        limiter.record(usage.total_tokens, estimate=estimate)  # once the answer is back
    """

    def __init__(self, requests_per_minute: float | None = None, tokens_per_minute: float | None = None, *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        for label, value in (("requests_per_minute", requests_per_minute), ("tokens_per_minute", tokens_per_minute)):
            if value is not None and not value > 0:
                raise ValueError(f"{label} must be positive, not {value!r}")
        self.requests_per_minute = requests_per_minute
        self.tokens_per_minute = tokens_per_minute
        self._clock = clock
        self._lock = threading.Lock()
        now = clock()
        self._requests = _Bucket(requests_per_minute, now) if requests_per_minute else None
        self._tokens = _Bucket(tokens_per_minute, now) if tokens_per_minute else None
        self._paused_until = now

    def acquire(self, tokens: int = 0, *, wait: Callable[[float], None]) -> None:
        """Block until one request and ``tokens`` (an estimate) fit in the budgets, then take them.

        Call it just before sending. The wait happens outside the lock, through ``wait``;
        the budgets are checked again after each wait, so a :meth:`penalize` made meanwhile
        is honoured. A request estimated above the whole token budget waits for a full
        bucket and then goes (it could never fit otherwise).

        Args:
            tokens: Estimated tokens of the request and its answer (0 when unknown; then
                :meth:`record` charges the actual usage afterwards).
            wait: Called as ``wait(seconds)`` to wait; it may return early (the limiter
                checks again) or raise to abandon the acquisition (nothing is taken).
        """
        while True:
            with self._lock:
                now = self._clock()
                delay = self._paused_until - now
                if delay <= 0:
                    delay = 0.0
                    for bucket, amount in ((self._requests, 1.0), (self._tokens, float(tokens))):
                        if bucket is not None:
                            bucket.refill(now)
                            delay = max(delay, bucket.delay_for(amount))
                    if delay <= 0:
                        if self._requests is not None:
                            self._requests.level -= 1.0
                        if self._tokens is not None:
                            self._tokens.level -= min(float(tokens), self._tokens.capacity)
                        return
            wait(delay)

    def record(self, tokens_used: int, *, estimate: int = 0) -> None:
        """Settle a request's token estimate with what the provider reported it used.

        Charges ``tokens_used - estimate`` to the token budget: an answer longer than its
        estimate takes more (the budget may go below zero, delaying later requests), a
        shorter one gives the difference back. Without a token limit this does nothing.

        Args:
            tokens_used: Total tokens the call used (prompt + completion).
            estimate: What was passed to :meth:`acquire` for this request.
        """
        if self._tokens is None:
            return
        with self._lock:
            self._tokens.refill(self._clock())
            self._tokens.level = min(self._tokens.capacity, self._tokens.level - (tokens_used - estimate))

    def penalize(self, retry_after_seconds: float) -> None:
        """Send nothing for ``retry_after_seconds``: the provider answered 429 with that hint.

        Pauses both buckets (every :meth:`acquire` waits until the pause ends); a pause
        already longer is kept. Non-positive values are ignored.
        """
        if not retry_after_seconds > 0:
            return
        with self._lock:
            self._paused_until = max(self._paused_until, self._clock() + retry_after_seconds)

    def __repr__(self) -> str:
        return (f"<RateLimiter requests_per_minute={self.requests_per_minute!r} "
                f"tokens_per_minute={self.tokens_per_minute!r}>")
