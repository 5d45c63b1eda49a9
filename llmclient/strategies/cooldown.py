"""Cooldown: the circuit breaker that fallback and round-robin clients share for their members.

A member that failed ``failures`` calls in a row is skipped for ``cooldown_s`` seconds, so
that a provider having a bad minute does not cost every call a timeout. After a cooldown
the member is tried again; one more failure cools it again, a success clears its record. When every member
is cooling, the one whose cooldown ends first is tried anyway (a composite never refuses a
call by itself). Time comes from the runtime's injectable clock, so tests need not wait.
"""

from __future__ import annotations

import logging
import threading
from typing import Callable, Sequence

from ..errors import CancelledError, FinishReasonError, InvalidRequestError, LLMError, LLMTimeoutError

__all__ = ["Cooldown", "counts_against_member"]

log = logging.getLogger(__name__)


def counts_against_member(error: LLMError) -> bool:
    """Whether ``error`` says something about the member's health (and so counts toward a cooldown).

    A bad request, a refused finish reason, the caller's cancellation and the call's own
    total deadline are about the request, not the member, and do not count.
    """
    if isinstance(error, (InvalidRequestError, FinishReasonError, CancelledError)):
        return False
    return not (isinstance(error, LLMTimeoutError) and error.kind == "total")


class Cooldown:
    """Consecutive-failure counts and cooldown ends of a composite's members (thread-safe).

    Args:
        names: The members' names, for log messages; members are referred to by index.
        failures: Failures in a row that start a cooldown (``cooldown_failures``).
        cooldown_s: How long a cooling member is skipped (``cooldown_ms`` / 1000).
        clock: A monotonic clock in seconds (the runtime's).
        owner: The composite's name, for log messages.
    """

    def __init__(self, names: Sequence[str], *, failures: int = 3, cooldown_s: float = 5.0,
                 clock: Callable[[], float], owner: str = "") -> None:
        if failures < 1:
            raise ValueError("cooldown failures must be >= 1")
        self.names = list(names)
        self.failures = failures
        self.cooldown_s = cooldown_s
        self.clock = clock
        self.owner = owner
        self._lock = threading.Lock()
        self._streak = [0] * len(self.names)
        self._until = [0.0] * len(self.names)

    def cooling(self, index: int) -> bool:
        """Whether member ``index`` is cooling now."""
        with self._lock:
            return self._until[index] > self.clock()

    def available(self, indexes: Sequence[int]) -> list[int]:
        """``indexes`` without the cooling members, in the same order.

        When every one of them is cooling, returns the single member whose cooldown ends
        first (the earliest in ``indexes`` on a tie), so that a call is still tried.
        """
        if not indexes:
            return []
        with self._lock:
            now = self.clock()
            ready = [i for i in indexes if self._until[i] <= now]
            if ready:
                return ready
            soonest = min(indexes, key=lambda i: self._until[i])
        log.debug("%s: every member is cooling; trying %s, whose cooldown ends first", self.owner,
                  self.names[soonest])
        return [soonest]

    def succeeded(self, index: int) -> None:
        """Member ``index`` answered: its failure streak and any cooldown end."""
        with self._lock:
            self._streak[index] = 0
            self._until[index] = 0.0

    def failed(self, index: int, error: LLMError) -> bool:
        """Count a failure of member ``index``; returns True when it starts a cooldown."""
        if not counts_against_member(error):
            return False
        with self._lock:
            self._streak[index] += 1
            if self._streak[index] < self.failures:
                return False
            # Half-open after the cooldown: one more failure starts the next cooldown.
            self._streak[index] = self.failures - 1
            self._until[index] = self.clock() + self.cooldown_s
        log.warning("%s: member %s failed %d times in a row (last: %s); skipping it for %.1f s", self.owner,
                    self.names[index], self.failures, type(error).__name__, self.cooldown_s)
        return True
