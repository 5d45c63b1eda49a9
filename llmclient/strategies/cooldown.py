"""Cooldown: the circuit breaker that fallback and round-robin clients share for their members.

A member that failed ``failures`` calls in a row is skipped for ``cooldown_s`` seconds, so
that a provider having a bad minute does not cost every call a timeout. After a cooldown
the member is tried again; one more failure cools it again, a success clears its record. When every member
is cooling, the one whose cooldown ends first is tried anyway (a composite never refuses a
call by itself). Time comes from the runtime's injectable clock, so tests need not wait.

A member whose latest answer said, in its rate-limit headers, that no requests or tokens
are left (``Attempt.rate_limit``, see :mod:`llmclient.rate_limit_headers`) is skipped in the
same way until that budget resets, whether the answer succeeded or was a 429.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence

from ..errors import CancelledError, FinishReasonError, InvalidRequestError, LLMError, LLMTimeoutError
from ..models import Attempt

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
        self._limited = [0.0] * len(self.names)

    def _end(self, index: int) -> float:
        return max(self._until[index], self._limited[index])

    def cooling(self, index: int) -> bool:
        """Whether member ``index`` is cooling now (after failures, or out of rate limit)."""
        with self._lock:
            return self._end(index) > self.clock()

    def limited_until(self, index: int) -> float:
        """The clock time until which member ``index`` reported no rate limit left (0: none)."""
        with self._lock:
            return self._limited[index]

    def available(self, indexes: Sequence[int]) -> list[int]:
        """``indexes`` without the cooling members, in the same order.

        When every one of them is cooling, returns the single member whose cooldown ends
        first (the earliest in ``indexes`` on a tie), so that a call is still tried.
        """
        if not indexes:
            return []
        with self._lock:
            now = self.clock()
            ready = [i for i in indexes if self._end(i) <= now]
            if ready:
                return ready
            soonest = min(indexes, key=self._end)
        log.debug("%s: every member is cooling; trying %s, whose cooldown ends first", self.owner,
                  self.names[soonest])
        return [soonest]

    def succeeded(self, index: int, attempts: Sequence[Attempt] = ()) -> None:
        """Member ``index`` answered: its failure streak and any cooldown end.

        ``attempts``: the call's attempts so far; the member's latest rate-limit report
        among them may start a skip until its reset (see :meth:`observe`).
        """
        with self._lock:
            self._streak[index] = 0
            self._until[index] = 0.0
        self.observe(index, attempts)

    def observe(self, index: int, attempts: Sequence[Attempt]) -> bool:
        """Read member ``index``'s latest rate-limit report in ``attempts``; True when it starts a skip.

        The member's attempts are those named after it (a provider member's own). A report
        with a budget at zero skips the member until that budget's reset; a newer report
        with budget left ends the skip.
        """
        name = self.names[index]
        report = next((a.rate_limit for a in reversed(attempts) if a.client_name == name
                       and a.rate_limit is not None), None)
        if report is None:
            return False
        wait = report.blocked_for_s
        with self._lock:
            if wait is None or wait <= 0:
                self._limited[index] = 0.0
                return False
            self._limited[index] = self.clock() + wait
        log.warning("%s: member %s reported no rate limit left; skipping it for %.1f s, until its reset",
                    self.owner, name, wait)
        return True

    def failed(self, index: int, error: LLMError, attempts: Sequence[Attempt] = ()) -> bool:
        """Count a failure of member ``index``; returns True when it starts a cooldown.

        ``attempts``: as for :meth:`succeeded` (a 429 saying no requests are left until
        its reset skips the member until then, whatever the failure count).
        """
        limited = self.observe(index, attempts)
        if not counts_against_member(error):
            return limited
        with self._lock:
            self._streak[index] += 1
            if self._streak[index] < self.failures:
                return limited
            # Half-open after the cooldown: one more failure starts the next cooldown.
            self._streak[index] = self.failures - 1
            self._until[index] = self.clock() + self.cooldown_s
        log.warning("%s: member %s failed %d times in a row (last: %s); skipping it for %.1f s", self.owner,
                    self.names[index], self.failures, type(error).__name__, self.cooldown_s)
        return True
