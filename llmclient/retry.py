"""RetryPolicy (when to try a failed attempt again) and RetryState (how many tries a call made).

``RetryPolicy`` is a frozen value object built from a config's ``retry_policies`` entry.
``RetryState`` is where one call stands against it, the one place attempts are counted:
the leaf loop, the fallback chain and round-robin each hold one, and
:meth:`RetryState.increment` returns the next state (with its delay) or None to give up,
as urllib3's ``Retry.increment`` does. Neither sleeps (the client loop sleeps, through
the runtime's injectable ``sleep``).

What is retried by default is what can succeed on a second try: transport errors,
timeouts, 408, 409, 429, 5xx and provider throttling; never a bad request, bad
credentials, an exhausted quota or a refused finish reason. The server's own word wins:
``x-should-retry`` first, then a ``retry-after`` delay (when within
``max_retry_after_ms``) over backoff. The headers carrying that word are read here too.
A 401 whose credentials were refreshed is tried again without using up a retry, once
per call.
"""

from __future__ import annotations

import random as _random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from .errors import AuthError, CancelledError, ConfigError, LLMError

__all__ = ["RetryPolicy", "RetryState", "NO_RETRY", "retry_after_from_headers", "should_retry_header"]

_JITTERS = ("none", "full", "equal")


@dataclass(frozen=True)
class RetryPolicy:
    """How a client retries.

    Attributes:
        max_retries: Extra attempts after the first (total attempts = max_retries + 1).
        strategy: ``constant_delay`` or ``exponential_backoff``.
        delay_ms: The first retry's wait (and every retry's, for constant delay).
        multiplier: Growth per retry for exponential backoff: the k-th retry waits
            ``min(max_delay_ms, delay_ms * multiplier ** (k - 1))``.
        max_delay_ms: Cap on the backoff wait.
        jitter: ``none`` (exact waits, the default), ``full`` (uniform in [0, wait]:
            spreads a herd of clients the most) or ``equal`` (wait/2 + uniform in
            [0, wait/2]: keeps at least half the wait).
        retry_on: When set, exactly these are retried: HTTP statuses as strings
            (``"429"``) and error class names (``"TransportError"``), matching subclasses.
        max_retry_after_ms: A server asking to wait longer than this fails the call
            at once with its error instead of sleeping.
        name: The policy's name in the config, for messages.
    """

    max_retries: int = 0
    strategy: str = "constant_delay"
    delay_ms: float = 200.0
    multiplier: float = 1.5
    max_delay_ms: float = 10000.0
    jitter: str = "none"
    retry_on: frozenset[str] | None = None
    max_retry_after_ms: float = 60000.0
    name: str | None = None

    def __post_init__(self) -> None:
        if self.strategy not in ("constant_delay", "exponential_backoff"):
            raise ConfigError(f"retry policy {self.name or ''!r}: unknown strategy type {self.strategy!r}")
        if self.jitter not in _JITTERS:
            raise ConfigError(f"retry policy {self.name or ''!r}: jitter must be one of {', '.join(_JITTERS)}")
        if self.max_retries < 0:
            raise ConfigError(f"retry policy {self.name or ''!r}: max_retries must be >= 0")

    @classmethod
    def from_config(cls, config: Mapping[str, Any], *, name: str | None = None) -> RetryPolicy:
        """Build from a canonical config entry (``max_retries``, ``strategy {...}``...)."""
        strategy = dict(config.get("strategy") or {})
        kind = strategy.get("type", "constant_delay")
        retry_on = config.get("retry_on")
        return cls(
            max_retries=int(config.get("max_retries", 0)),
            strategy=kind,
            delay_ms=_number(strategy.get("delay_ms", strategy.get("initial_delay")), 200.0),
            multiplier=float(strategy.get("multiplier", 1.5)),
            max_delay_ms=_number(strategy.get("max_delay_ms", strategy.get("max_delay")), 10000.0),
            jitter=strategy.get("jitter", "none"),
            retry_on=None if retry_on is None else frozenset(str(x) for x in retry_on),
            max_retry_after_ms=float(config.get("max_retry_after_ms", 60000)),
            name=name,
        )

    def backoff_s(self, retry_number: int) -> float:
        """The wait before retry ``retry_number`` (1-based), before jitter, in seconds."""
        if self.strategy == "constant_delay":
            return self.delay_ms / 1000.0
        return min(self.max_delay_ms, self.delay_ms * self.multiplier ** (retry_number - 1)) / 1000.0

    def should_retry(self, error: LLMError) -> bool:
        """Whether ``error`` is worth another attempt (ignoring how many were made)."""
        if isinstance(error, CancelledError):
            return False
        if error.should_retry is not None:
            return error.should_retry
        if self.retry_on is not None:
            names = {cls.__name__ for cls in type(error).__mro__}
            return bool(self.retry_on & names) or str(error.status_code) in self.retry_on
        return error.retryable

    def next_delay(self, retry_number: int, error: LLMError, random: Callable[[], float]) -> float | None:
        """Seconds to wait before retry ``retry_number`` (1-based), or None to give up.

        The server's delay (``error.retry_after``) wins over backoff, unless it is
        longer than ``max_retry_after_ms``: then the call fails fast with ``error``.
        The same answer as :meth:`RetryState.increment` from ``retry_number - 1`` retries.
        """
        state = RetryState(self, random=random, attempt=retry_number, retries=retry_number - 1)
        following = state.increment(error)
        return None if following is None else following.delay_s

    def _delay(self, retry_number: int, error: LLMError, random: Callable[[], float]) -> float | None:
        """The wait before retry ``retry_number`` after ``error``; None when the server asks too much."""
        if error.retry_after is not None:
            if error.retry_after * 1000.0 > self.max_retry_after_ms:
                return None
            return max(error.retry_after, 0.0)
        wait = self.backoff_s(retry_number)
        if self.jitter == "full":
            return wait * random()
        if self.jitter == "equal":
            return wait / 2 + (wait / 2) * random()
        return wait


@dataclass(frozen=True)
class RetryState:
    """Where one call stands against its retry policy; every change makes a new state.

    Start one per call with ``RetryState(policy, random=runtime.random)``; after each
    failure ask :meth:`increment` for the next. A fallback chain's state counts rounds
    of the chain, a round-robin's the members tried after the first, a leaf's the
    HTTP attempts.

    Attributes:
        policy: The policy the state counts against.
        random: Draws jitter (uniform in [0, 1)); injected so that tests are exact.
        attempt: The number of the attempt this state is for (1-based), refreshes included.
        retries: Retries used so far (``policy.max_retries`` at most).
        refreshed: Whether credentials were refreshed after a 401 in this call.
        delay_s: The wait before :attr:`attempt` (0 for the first, and after a refresh).
        error: The failure that led to this state (None for the first attempt).
    """

    policy: RetryPolicy
    random: Callable[[], float] = field(default=_random.random, repr=False, compare=False)
    attempt: int = 1
    retries: int = 0
    refreshed: bool = False
    delay_s: float = 0.0
    error: LLMError | None = field(default=None, repr=False, compare=False)

    @property
    def retries_left(self) -> int:
        """How many more retries the policy allows."""
        return max(self.policy.max_retries - self.retries, 0)

    def increment(self, error: LLMError) -> RetryState | None:
        """The state for the next attempt after ``error``, or None to give up (raise ``error``).

        Gives up when the retries are used up, when the policy (or the server's
        ``x-should-retry``) says ``error`` is not worth another try, or when the server
        asks to wait longer than ``max_retry_after_ms``. The next state's ``delay_s`` is
        the server's ``retry_after``, else the policy's backoff with its jitter.
        """
        retry_number = self.retries + 1
        if retry_number > self.policy.max_retries or not self.policy.should_retry(error):
            return None
        delay = self.policy._delay(retry_number, error, self.random)
        if delay is None:
            return None
        return replace(self, attempt=self.attempt + 1, retries=retry_number, delay_s=delay, error=error)

    def may_refresh(self, error: LLMError) -> bool:
        """Whether ``error`` is a 401 that a credential refresh may cure (once per call)."""
        return isinstance(error, AuthError) and error.status_code == 401 and not self.refreshed

    def after_refresh(self, error: LLMError) -> RetryState:
        """The state for the attempt after a 401 whose credentials were refreshed.

        It uses up no retry and waits for nothing: the first attempt failed for a reason
        the call has since fixed, so the policy's retries are all still there.
        """
        return replace(self, attempt=self.attempt + 1, refreshed=True, delay_s=0.0, error=error)


def retry_after_from_headers(headers: Mapping[str, str], *, now: float | None = None) -> float | None:
    """Seconds the server asked us to wait: ``retry-after-ms``, else ``retry-after``.

    ``retry-after`` may be seconds (integer or float) or an HTTP date (``now`` is the
    current ``time.time()``, injectable for tests). Unparseable or negative values are
    ignored. Header names are expected in lower case.
    """
    ms = headers.get("retry-after-ms")
    if ms is not None:
        try:
            value = float(ms) / 1000.0
            if value >= 0:
                return value
        except ValueError:
            pass
    raw = headers.get("retry-after")
    if raw is None:
        return None
    try:
        value = float(raw)
        return value if value >= 0 else None
    except ValueError:
        pass
    try:
        import email.utils  # only for an HTTP-date Retry-After (7 ms to import, so not with llmclient)

        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    return max(when.timestamp() - (time.time() if now is None else now), 0.0)


def should_retry_header(headers: Mapping[str, str]) -> bool | None:
    """The ``x-should-retry: true|false`` verdict, when the server gave one."""
    value = headers.get("x-should-retry")
    if value == "true":
        return True
    if value == "false":
        return False
    return None


def _number(value: Any, default: float) -> float:
    """``value`` as a float, or ``default`` when it is absent (0 stays 0)."""
    return default if value is None else float(value)


#: The policy of a client configured without one: a single attempt.
NO_RETRY = RetryPolicy(max_retries=0, name="none")
